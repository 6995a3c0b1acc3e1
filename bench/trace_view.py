"""The trace view on a 10,000-record trace: under 2 s to render in the browser (issue 14), and usable.

The trace is a real run's, not made up: one module on a PTY (RunningModule with a trace) opens
TLS sockets 1-6 in turn against local servers, each time either failing (expired, wrong host, alert
49 from the lab) or sending and receiving a few KiB through an echo server, until the trace holds
10,000 records; the file is then cut at exactly 10,000. ``nl668-emu trace-view`` renders it, and
Debian's headless chromium (tests/traceview/browser.py) loads the page from disk.

Figures: the Python side (trace -> HTML), the browser's render time (navigation start to the end
of the page's first layout, ``data-render-ms``; median of 5 loads, each in a new tab), the time
to apply the socket filter and to scroll to the last row. Verdict: render median / 2000 ms.
Run: ``.venv/bin/python bench/trace_view.py``. Prints figures; asserts nothing but the page's
own health (no console errors, every row there).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import common  # noqa: I001  (puts the repository on sys.path)
from common import median, record, report

from emulator.lab.server import Lab
from emulator.servers.tls_servers import TlsServer
from emulator.traceview.render import render_trace
from tests.lab_session import verifying_module
from tests.traceview.browser import chromium

RECORDS = 10_000
BUDGET_MS = 2000.0
LOADS = 5
HOST = "www.example.test"
FAILING = ["expired", "wrong-host", "alert-49"]


def make_trace(path: Path) -> int:
    """Run the session until the trace holds RECORDS records; cut it there. Returns how many the run wrote."""
    payload = bytes(range(256)) * 8  # 2 KiB; starts with byte 0 (see tests/traceview/sessions.py)
    with Lab(FAILING) as lab, TlsServer() as echo:
        rules = [f"{HOST}:{lab.endpoint(n).port}=127.0.0.1:{lab.endpoint(n).port}" for n in FAILING]
        rules.append(f"{HOST}:443=127.0.0.1:{echo.port}")
        with verifying_module("NL668_AM_00", rules, path) as (_running, at):
            cycle = 0
            while sum(1 for _ in path.open()) < RECORDS:
                link = cycle % 6 + 1
                if cycle % 4 == 3:  # one failing handshake in four
                    name = FAILING[cycle // 4 % len(FAILING)]
                    at.command(f'AT+MIPOPEN={link},,"{HOST}",{lab.endpoint(name).port},2')
                    at.wait_urc(f"+MIPOPEN: {link},", timeout=20)
                    at.command("AT+GTSSLERR?")
                else:
                    at.command(f'AT+MIPOPEN={link},,"{HOST}",443,2')
                    at.wait_urc(f"+MIPOPEN: {link},", timeout=20)
                    for _ in range(3):
                        at.command_with_data(f"AT+MIPSEND={link},{len(payload)}", payload)
                    got = 0
                    while got < 3 * len(payload):
                        got += len(at.wait_urc(f"+MIPRTCP: {link},", timeout=20).split(",", 2)[2]) // 2
                    at.command(f"AT+MIPCLOSE={link}")
                    at.wait_urc(f"+MIPCLOSE: {link},")
                cycle += 1
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:RECORDS]))
    return len(lines)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-trace-view-") as tmp:
        trace = Path(tmp) / "10k.jsonl"
        t0 = time.perf_counter()
        written = make_trace(trace)
        run_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        page_html = render_trace(trace)
        python_ms = (time.perf_counter() - t0) * 1e3
        html = trace.with_suffix(".html")
        html.write_text(page_html, encoding="utf-8")
        loads, filter_ms, scroll_ms, phases = [], [], [], []
        with chromium() as browser:
            for _ in range(LOADS):
                opened = browser.open(html)
                page = opened.page
                assert opened.errors == [], opened.errors
                rows = int(page.get_attribute("body", "data-rows"))
                loads.append(opened.render_ms)
                # the page's own marks (template.html): script start, JSON parsed, rows built, laid out
                phases.append(page.evaluate(
                    "() => Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))"))
                filter_ms.append(page.evaluate(
                    "() => { const s = document.getElementById('sock'); const t = performance.now();"
                    " s.value = '3'; s.dispatchEvent(new Event('input')); void document.body.offsetHeight;"
                    " const d = performance.now() - t; s.value = ''; s.dispatchEvent(new Event('input')); return d; }"))
                scroll_ms.append(page.evaluate(
                    "() => new Promise(done => { const t = performance.now();"
                    " document.querySelector('.row:last-child').scrollIntoView();"
                    " requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t))); })"))
                page.close()
    phase = {name: median([p[name] for p in phases]) for name in ("tv-start", "tv-parsed", "tv-built", "tv-laid-out")}
    figures = {
        "records": RECORDS, "rows": rows, "html_bytes": len(page_html.encode()), "session_s": run_s,
        "records_written": written, "python_render_ms": python_ms,
        "browser_render_median_ms": median(loads), "browser_render_max_ms": max(loads),
        "socket_filter_median_ms": median(filter_ms), "scroll_to_end_median_ms": median(scroll_ms),
        "budget_ratio": median(loads) / BUDGET_MS,
        "html_parsed_ms": phase["tv-start"], "json_parse_ms": phase["tv-parsed"] - phase["tv-start"],
        "rows_built_ms": phase["tv-built"] - phase["tv-parsed"], "layout_ms": phase["tv-laid-out"] - phase["tv-built"],
    }
    report("trace view, 10,000 records", [
        ("browser render (navigation start -> laid out), median of 5", f"{median(loads):.0f} ms",
         f"budget {BUDGET_MS:.0f} ms", f"{figures['budget_ratio']:.2f}x of the budget (target < 1)"),
        ("worst load", f"{max(loads):.0f} ms", f"{rows} rows, {figures['html_bytes'] / 1e6:.1f} MB page", ""),
        ("  of which: page up to the script / JSON.parse / rows built / layout",
         f"{figures['html_parsed_ms']:.0f} / {figures['json_parse_ms']:.0f} / {figures['rows_built_ms']:.0f}"
         f" / {figures['layout_ms']:.0f} ms", "", "medians"),
        ("trace -> HTML (Python)", f"{python_ms:.0f} ms", "", ""),
        ("socket filter applied", f"{median(filter_ms):.0f} ms", "", "median"),
        ("scroll to the last row, two frames", f"{median(scroll_ms):.0f} ms", "", "median"),
        ("the real session that wrote the trace", f"{run_s:.1f} s", f"{written} records, cut at {RECORDS}", ""),
    ])
    record("trace_view", figures)


if __name__ == "__main__":
    main()

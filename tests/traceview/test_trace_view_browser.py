"""The trace view in a real headless browser (Debian's chromium, driven by playwright).

Every page is rendered from the trace of a real run (tests/traceview/sessions.py) by the
``nl668-emu trace-view`` command line, then loaded from disk: no console errors, no request
but the file itself, the lifelines and one row per record (the module's echo of a command
line excepted) in the DOM, failures marked with their code, and the filters at work. Each
test leaves a screenshot in its tmp dir; with ``TRACE_PICTURE=path`` the §2.6 example 3 one is
also copied there (``make trace-picture`` makes docs/trace-view.png so).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.cli import main as emu_main
from emulator.trace import read_trace
from tests.traceview.browser import Browser, Opened, chromium
from tests.traceview.sessions import lab_failures, long_session, manual_example

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def view(trace: Path, browser: Browser) -> Opened:
    """Render ``trace`` with the CLI, as a user would, and open the page."""
    html = trace.with_suffix(".html")
    assert emu_main(["trace-view", str(trace), "-o", str(html)]) == 0
    opened = browser.open(html)
    assert opened.errors == []
    assert opened.requests == [html.resolve().as_uri()]  # nothing fetched but the page itself
    return opened


def expected_rows(records: list[dict[str, Any]]) -> int:
    """One row per record, except the module's echo of the command line just sent."""
    echoes, last_host = 0, None
    for record in records:
        if record["dir"] == "host":
            last_host = record["data"]
        elif record["dir"] == "module" and record["data"] == last_host:
            echoes += 1
    return len(records) - echoes


def shown(opened: Opened, selector: str = ".row") -> list[dict[str, Any]]:
    """The rows (or elements) not hidden by a filter: their record number, socket and classes."""
    return list(opened.page.eval_on_selector_all(
        selector, "els => els.filter(e => !e.closest('.row').classList.contains('hidden')).map(e => "
        "({n: +e.closest('.row').dataset.n, sock: e.closest('.row').dataset.sock, cls: e.closest('.row').className}))"))


def check_diagram(opened: Opened, records: list[dict[str, Any]], lifelines: list[str]) -> None:
    page = opened.page
    assert page.eval_on_selector_all(".lifeline-head", "els => els.map(e => e.dataset.line)") == lifelines
    assert page.locator(".lifeline").count() == len(lifelines)
    whys = sum(1 for r in records if r["dir"] == "why")
    assert page.locator(".row").count() == expected_rows(records)
    assert page.locator(".row .ar").count() == expected_rows(records) - whys  # arrows
    assert page.locator(".row .note").count() == whys  # the "why" notes on the sockets' lifelines


@pytest.mark.parametrize("example", [1, 2, 3, 4, 5])
def test_manual_examples(example: int, browser: Browser, tmp_path: Path) -> None:
    trace = manual_example(f"manual_2_6_example_{example}", tmp_path)
    records = read_trace(trace)
    opened = view(trace, browser)
    sockets = sorted({r["sock"] for r in records if r["dir"] == "net"})
    check_diagram(opened, records, ["host", "module", *[f"net:{s}" for s in sockets]])
    fails = opened.page.locator(".k-fail .note")
    # example 2: no trust file -> 42; example 3: expired by the module's clock -> 45, then open after AT+CCLK
    assert fails.evaluate_all("els => els.map(e => e.dataset.code)") == {2: ["42"], 3: ["45"]}.get(example, [])
    if example == 3:
        text = fails.first.inner_text()
        assert "+GTSSLERR 45 certificate_expired" in text and "certificate has expired" in text
        assert opened.page.locator(".k-tls .ar", has_text="handshake done").count() == 1
    opened.page.screenshot(path=str(tmp_path / "view.png"))
    assert (tmp_path / "view.png").stat().st_size > 10_000
    if example == 3 and (picture := os.environ.get("TRACE_PICTURE")):
        opened.page.screenshot(path=picture, full_page=True)  # the README's picture: the whole session


def test_lab_failures_filters_and_details(browser: Browser, tmp_path: Path) -> None:
    trace = lab_failures(tmp_path)
    records = read_trace(trace)
    opened = view(trace, browser)
    page = opened.page
    check_diagram(opened, records, ["host", "module", "net:1", "net:2", "net:3", "net:4"])
    marks = {m["sock"]: m for m in page.eval_on_selector_all(
        ".k-fail .note", "els => els.map(e => ({sock: e.closest('.row').dataset.sock, code: e.dataset.code, "
        "text: e.textContent}))")}
    assert {s: m["code"] for s, m in marks.items()} == {"1": "45", "2": "153", "3": "49"}
    assert "host_mismatch" in marks["2"]["text"] and "hostname mismatch" in marks["2"]["text"]
    assert "the server sent alert 49 access_denied" in marks["3"]["text"]
    # the summary links each failure to its record
    assert page.locator("#failures a").count() == 3

    every = shown(opened)
    page.select_option("#sock", "2")
    after = shown(opened)
    assert {r["sock"] for r in after} == {"", "2"}  # session-level rows stay, other sockets' go
    assert len(after) == sum(1 for r in every if r["sock"] in ("", "2"))
    assert [r["sock"] for r in shown(opened, ".row .ar")].count("2") == sum(
        1 for r in records if (r.get("sock") == 2 and r["dir"] == "net")) + 3  # +MIPOPEN command, OK, URC
    page.screenshot(path=str(tmp_path / "socket-2.png"))

    page.select_option("#sock", "")
    page.check("#errors")
    errors = shown(opened)
    assert errors and all(" err" in r["cls"] for r in errors)
    assert {r["n"] for r in errors} >= {int(n) for n in page.eval_on_selector_all(
        ".k-fail", "els => els.map(e => e.dataset.n)")}
    page.uncheck("#errors")

    page.fill("#search", "gtsslerr?")
    assert [r["cls"] for r in shown(opened)] == ["row k-cmd"] * 4
    page.fill("#search", "")
    page.fill("#from", "999999")
    assert shown(opened) == []
    page.fill("#from", "")
    assert len(shown(opened)) == len(every)

    # details on demand, and the record number anchors
    page.locator(".row.k-fail .note").first.click()
    assert "+GTSSLERR 45" in page.inner_text("#panel")
    page.screenshot(path=str(tmp_path / "details.png"))

    # a quoted record number opens the page at that row
    target = marks["3"]
    n = page.eval_on_selector_all(".k-fail", "els => els.map(e => e.dataset.n)")[2]
    page.goto(trace.with_suffix(".html").resolve().as_uri() + f"#r{n}")
    page.wait_for_selector("body[data-render-ms]", state="attached")
    assert page.evaluate("document.querySelector(':target').id") == f"r{n}"
    assert target["code"] == "49" and page.locator(f"#r{n}").is_visible()


def test_long_session_one_megabyte_each_way(browser: Browser, tmp_path: Path) -> None:
    trace = long_session(tmp_path)
    records = read_trace(trace)
    opened = view(trace, browser)
    page = opened.page
    check_diagram(opened, records, ["host", "module", "net:1"])
    sizes = {"send": 0, "recv": 0}
    for r in records:
        if r["dir"] == "net" and r["ev"] in sizes:
            sizes[r["ev"]] += r["bytes"]
    assert sizes == {"send": 1 << 20, "recv": 1 << 20}
    # scrollable to the end: the last record's row comes into view
    last = page.locator(".row").last
    last.scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 10_000
    assert last.is_visible()
    # a data row's payload on demand, in hex and text
    page.locator(".row.k-data .ar", has_text="data: 2048 bytes").nth(5).click()
    panel = page.inner_text("#panel")
    assert "payload: 2048 bytes" in panel and "00 01 02 03" in panel
    # the echo came back as +MIPRTCP URCs, each labelled with its size: 1 MB in all
    echoes = page.eval_on_selector_all(".row.k-data .ar", "els => els.map(e => e.textContent)")
    sizes_back = [int(t.split("(")[1].split(" ")[0]) for t in echoes if t.startswith("+MIPRTCP: 1 (")]
    assert sum(sizes_back) == 1 << 20
    page.screenshot(path=str(tmp_path / "end.png"))
    print(f"long session: {len(records)} records rendered in {opened.render_ms:.0f} ms")



def test_an_old_trace_renders(browser: Browser, tmp_path: Path) -> None:
    """A trace as the emulator wrote it before the net records (same run, new fields dropped) still renders."""
    records = read_trace(lab_failures(tmp_path))
    old = [{k: r[k] for k in ("t", "dir", "data")} for r in records if r["dir"] in ("host", "module", "why")]
    trace = tmp_path / "old.jsonl"
    trace.write_text("".join(json.dumps(r) + "\n" for r in old))
    opened = view(trace, browser)
    check_diagram(opened, old, ["host", "module", "net:1", "net:2", "net:3", "net:4"])
    codes = opened.page.eval_on_selector_all(".k-fail .note", "els => els.map(e => e.dataset.code)")
    assert codes == ["45", "153", "49"]

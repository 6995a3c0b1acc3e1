"""``--trace`` of ``nl668-lab check`` and of the lab's matrix run, drawn by the trace view (issue 14).

Every trace here comes from a real run: ``nl668-lab check --trace`` (the real engines against
the lab's endpoints on 127.0.0.1) and a RunningModule with ``trace_path`` going through lab
cells over a PTY. The extracted model is checked (one network lifeline per handshake, each
named by its cell; the failing ones carry their +GTSSLERR code), then the page is rendered;
one test opens the check's page in headless Chromium.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.cli import main as emu_main
from emulator.lab.cli import main as lab_main
from emulator.lab.scenarios import HOST
from emulator.lab.server import Lab
from emulator.servers.pki import cert_bytes, pki_path
from emulator.trace import read_trace
from emulator.traceview.model import build_model, model_from_file
from emulator.traceview.render import render_model, render_trace
from tests.traceview.sessions import lab_failures

pytestmark = pytest.mark.integration

NAMES = ("valid", "expired", "alert-49")
#: two variants whose ClientHellos differ (OpenSSL and tlslite-ng engines), both modes: 4 handshakes per check
MATRIX = ["--profile", "NL668_AM_00", "--profile", "M910", "--ver", "4", "--cipher", "default",
          "--mode", "0", "--mode", "1"]
CELLS = [("NL668_AM_00", 0), ("NL668_AM_00", 1), ("M910", 0), ("M910", 1)]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(NAMES) as running:
        yield running


def check_trace(lab: Lab, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """``nl668-lab check --trace`` against the lab's ``name`` endpoint; the trace file."""
    trace = tmp_path / f"check-{name}.jsonl"
    status = lab_main(["check", f"127.0.0.1:{lab.endpoint(name).port}", "--servername", HOST,
                       "--trust", str(pki_path("root-ca.pem")), "--timeout", "5", *MATRIX, "--trace", str(trace)])
    capsys.readouterr()  # the table: tests/lab/test_check.py's business
    assert status in (0, 1)
    return trace


def failures(model: dict[str, Any]) -> dict[int, int | None]:
    return {r["sock"]: r.get("code") for r in model["rows"] if r["kind"] == "fail"}


def test_check_trace_one_lifeline_per_handshake_named_by_its_cell(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expired = model_from_file(check_trace(lab, "expired", tmp_path, capsys))
    assert expired["lifelines"] == ["host", "module", "net:1", "net:2", "net:3", "net:4"]
    assert expired["labels"] == {
        f"net:{n}": f"{variant} +GTSSLVER=4 +GTSSLCIPHER=default +GTSSLMODE={mode}"
        for n, (variant, mode) in enumerate(CELLS, start=1)
    }
    # the module's clock is now: expired is refused in mode 1 only (45), by both engines
    assert failures(expired) == {2: 45, 4: 45}
    for sock in (1, 2, 3, 4):
        steps = [r for r in expired["rows"] if r["sock"] == sock]
        kinds = [(r["kind"], r["label"].split(" ")[0]) for r in steps]
        # the cell's note first, then the TCP connect and the TLS steps towards the outcome
        assert kinds[:4] == [("note", "socket"), ("sock", "open"), ("sock", "TCP"), ("tls", "ClientHello")]
        labels = " | ".join(r["label"] for r in steps)
        assert "ServerHello TLSv1.2" in labels and "Certificate CN=www.example.test" in labels
        if sock in (2, 4):
            assert "alert 45 certificate_expired" in labels
            fail = next(r for r in steps if r["kind"] == "fail")
            assert fail["label"] == "+GTSSLERR 45 certificate_expired"
            assert "certificate has expired" in fail["words"]
        else:
            assert "handshake done" in labels and not any(r["err"] for r in steps)

    alert = model_from_file(check_trace(lab, "alert-49", tmp_path, capsys))
    assert failures(alert) == {1: 49, 2: 49, 3: 49, 4: 49}
    assert all("the server sent alert 49 access_denied" in r["words"] for r in alert["rows"] if r["kind"] == "fail")

    page = render_model(expired)
    assert page.count('"kind":"fail"') == 2 and "+GTSSLMODE=1" in page


def test_check_trace_codes_are_what_the_variant_reports(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An L610 reports an expired certificate as -11 (its [gtsslerr] table): so does the trace, as a module's does."""
    trace = tmp_path / "l610.jsonl"
    lab_main(["check", f"127.0.0.1:{lab.endpoint('expired').port}", "--servername", HOST, "--trust",
              str(pki_path("root-ca.pem")), "--timeout", "5", "--profile", "L610", "--ver", "4",
              "--cipher", "default", "--mode", "1", "--trace", str(trace)])
    capsys.readouterr()
    why = [r for r in read_trace(trace) if r["dir"] == "why"]
    assert [(r["ev"], r["gtsslerr"]) for r in why] == [("open_failed", -11)]
    assert failures(model_from_file(trace)) == {1: -11}


def test_check_trace_holds_no_keys_or_certificate_bodies(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "client.key"
    key.write_bytes(cert_bytes("client.key"))
    trace = tmp_path / "with-key.jsonl"
    lab_main(["check", f"127.0.0.1:{lab.endpoint('valid').port}", "--servername", HOST, "--trust",
              str(pki_path("root-ca.pem")), "--cert", str(pki_path("client.pem")), "--key", str(key),
              "--timeout", "5", *MATRIX, "--trace", str(trace)])
    capsys.readouterr()
    text = trace.read_text()
    assert "BEGIN" not in text and "PRIVATE" not in text
    server = "".join(pki_path("server.pem").read_text().splitlines()[1:-1])[:40]
    assert server not in text.replace("\\n", "")
    assert all(set(r) <= {"t", "dir", "data", "sock", "ev", "gtsslerr", "label", "cells", "host", "port", "proto",
                          "peer", "version", "suites", "sni", "suite", "certs", "from", "level", "alert", "name",
                          "negotiated"} for r in read_trace(trace))


def test_label_records_name_the_lifeline_and_old_traces_have_no_labels() -> None:
    base = {"t": "2026-01-01T00:00:00.000000+00:00"}
    records = [
        {**base, "dir": "net", "sock": 1, "ev": "label", "data": "socket 1: A +GTSSLVER=4; B +GTSSLVER=4",
         "label": "A +GTSSLVER=4 (+1 more)"},
        {**base, "dir": "net", "sock": 1, "ev": "open", "data": "open SSL h:443"},
        {**base, "dir": "why", "sock": 1, "ev": "open_failed", "gtsslerr": 45, "data": "socket 1 open failed"},
        {**base, "dir": "net", "sock": 2, "ev": "label", "data": "socket 2: C"},  # no short label: the text
    ]
    model = build_model(records)
    assert model["labels"] == {"net:1": "A +GTSSLVER=4 (+1 more)", "net:2": "socket 2: C"}
    assert [r["kind"] for r in model["rows"]] == ["note", "sock", "fail", "note"]
    assert build_model([{**base, "dir": "why", "data": "socket 1 open failed (GTSSLERR 45): x"}])["labels"] == {}
    # the label is data, escaped like every text of the trace
    page = render_model(build_model([{**records[0], "label": "</script><b>x"}]))
    assert "</script><b>" not in page and '"labels":{"net:1":"\\u003c/script>\\u003cb>x"}' in page


def test_lab_matrix_cells_on_one_running_module_render(tmp_path: Path) -> None:
    """valid, expired, alert-49 through AT on one RunningModule with a trace: three sockets, two marked."""
    trace = lab_failures(tmp_path, names=NAMES)
    model = model_from_file(trace)
    assert model["lifelines"] == ["host", "module", "net:1", "net:2", "net:3"]
    assert failures(model) == {2: 45, 3: 49}
    assert model["labels"] == {}  # a module's trace names sockets by their +MIPOPEN lines, not labels
    page = render_trace(trace)
    assert page.count('"kind":"fail"') == 2
    html = tmp_path / "lab.html"
    assert emu_main(["trace-view", str(trace), "-o", str(html)]) == 0
    assert html.read_text(encoding="utf-8") == page


def test_check_trace_in_a_browser(lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    browser_mod = pytest.importorskip("tests.traceview.browser")
    trace = check_trace(lab, "expired", tmp_path, capsys)
    html = trace.with_suffix(".html")
    assert emu_main(["trace-view", str(trace), "-o", str(html)]) == 0
    with browser_mod.chromium() as browser:
        opened = browser.open(html)
        page = opened.page
        assert opened.errors == []
        assert page.eval_on_selector_all(".lifeline-head", "els => els.map(e => e.dataset.line)") == [
            "host", "module", "net:1", "net:2", "net:3", "net:4"]
        subs = page.eval_on_selector_all(".lifeline-head small", "els => els.map(e => e.textContent)")
        assert subs == [f"{v} +GTSSLVER=4 +GTSSLCIPHER=default +GTSSLMODE={m}" for v, m in CELLS]
        marks = page.eval_on_selector_all(
            ".k-fail .note", "els => els.map(e => [e.closest('.row').dataset.sock, e.dataset.code])")
        assert sorted(marks) == [["2", "45"], ["4", "45"]]  # the handshakes run concurrently: any order
        assert page.locator("#failures a").count() == 2
        page.screenshot(path=str(tmp_path / "check.png"))
    records = read_trace(trace)
    assert json.dumps(records).count('"ev": "label"') == 4

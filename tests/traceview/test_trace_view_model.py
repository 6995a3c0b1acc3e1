"""The trace view's data extraction and page, without a browser, on traces of real runs.

The traces come from :mod:`tests.traceview.sessions` (PTY, real TLS, local servers); old-format
traces are made from them by dropping what issue 14 added, as an older emulator wrote them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.cli import main as emu_main
from emulator.trace import read_trace
from emulator.traceview.model import build_model, model_from_file, reason_in_words
from emulator.traceview.render import render_model
from tests.traceview.sessions import lab_failures, manual_example

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("traces")
    return {"example_3": manual_example("manual_2_6_example_3", tmp), "lab": lab_failures(tmp)}


def _old_format(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the same run's trace held before issue 14: no net records, why records without fields."""
    return [{k: r[k] for k in ("t", "dir", "data")} for r in records if r["dir"] in ("host", "module", "why")]


def test_the_trace_holds_the_tls_steps_and_keeps_its_fields(traces: dict[str, Path]) -> None:
    records = read_trace(traces["example_3"])
    assert all({"t", "dir", "data"} <= set(r) for r in records)  # the three fields every record had
    steps = [r["ev"] for r in records if r["dir"] == "net" and r["sock"] == 1]
    # the failing attempt, then the one after AT+CCLK
    first = steps[: steps.index("alert") + 1]
    assert first == ["open", "tcp_connected", "client_hello", "server_hello", "certificate", "alert"]
    assert "handshake_done" in steps and steps[-1] == "closed"
    hello = next(r for r in records if r.get("ev") == "client_hello")
    assert hello["version"] == "TLSv1" and hello["suites"] and hello["sni"] == "114.255.225.39"
    cert = next(r for r in records if r.get("ev") == "certificate")
    assert cert["certs"][0]["not_after"].startswith("2020-01-01")  # the expired leaf's validity
    failed = next(r for r in records if r["dir"] == "why" and r.get("ev") == "open_failed")
    assert failed["sock"] == 1 and failed["gtsslerr"] == 45
    text = traces["example_3"].read_text()
    assert "BEGIN" not in text and "PRIVATE" not in text  # names and dates, never bodies or keys
    assert "<redacted 1257 bytes>" in text  # the TRUSTFILE upload stays redacted


def test_rows_lifelines_and_the_failure_of_the_manual_example(traces: dict[str, Path]) -> None:
    model = model_from_file(traces["example_3"])
    assert model["lifelines"] == ["host", "module", "net:1"]
    records = read_trace(traces["example_3"])
    echoes = sum(1 for r in model["rows"] if "echo" in r)
    # every record is drawn once, except the echoes folded into their command's row
    assert len(model["rows"]) == len(records) - echoes and model["skipped"] == 0
    fails = [r for r in model["rows"] if r["kind"] == "fail"]
    assert len(fails) == 1
    fail = fails[0]
    assert fail["code"] == 45 and fail["alert"] == "certificate_expired" and fail["sock"] == 1
    assert "certificate has expired" in fail["words"]
    commands = [r["label"] for r in model["rows"] if r["kind"] == "cmd"]
    assert 'AT+CCLK="19/06/01,12:00:00+32"' in commands
    assert [r["n"] for r in model["rows"]] == sorted(r["n"] for r in model["rows"])  # record numbers, in order


def test_lab_failures_each_marked_with_code_alert_and_words(traces: dict[str, Path]) -> None:
    model = model_from_file(traces["lab"])
    assert model["lifelines"] == ["host", "module", "net:1", "net:2", "net:3", "net:4"]
    fails = {r["sock"]: r for r in model["rows"] if r["kind"] == "fail"}
    assert {s: (f["code"], f["alert"]) for s, f in fails.items()} == {
        1: (45, "certificate_expired"), 2: (153, "host_mismatch"), 3: (49, "access_denied")}
    assert "hostname mismatch" in fails[2]["words"] and "the module sent alert 42" in fails[2]["words"]
    assert "the server sent alert 49 access_denied" in fails[3]["words"]
    alert_rows = [r for r in model["rows"] if r["kind"] == "tls" and r["label"].startswith("alert 49")]
    assert alert_rows and alert_rows[0]["from"] == "net:3" and alert_rows[0]["to"] == "module"  # received
    assert all(r["sock"] in (None, 1, 2, 3, 4) for r in model["rows"])
    assert any(r["label"] == "+MIPOPEN: 3,0" and r["err"] and r["sock"] == 3 for r in model["rows"])


def test_the_legacy_engine_reports_the_same_steps(tmp_path: Path) -> None:
    """M910 offers 3DES, so its handshakes run on tlslite-ng (tls/legacy.py): the same steps, the same marks."""
    trace = lab_failures(tmp_path, ("expired", "3des-only"), profile="M910")
    records = read_trace(trace)
    steps = {s: [r["ev"] for r in records if r["dir"] == "net" and r["sock"] == s] for s in (1, 2)}
    assert steps[1][:6] == ["open", "tcp_connected", "client_hello", "server_hello", "certificate", "alert"]
    assert "handshake_done" in steps[2]
    done = next(r for r in records if r.get("ev") == "handshake_done")
    assert done["negotiated"].endswith("(tlslite-ng)") and "DES-CBC3-SHA" in done["negotiated"]
    hello = next(r for r in records if r.get("ev") == "client_hello")
    assert any("DES-CBC3" in suite for suite in hello["suites"])
    model = model_from_file(trace)
    assert [(r["sock"], r["code"]) for r in model["rows"] if r["kind"] == "fail"] == [(1, 45)]


def test_an_old_trace_still_renders_with_sockets_and_codes_read_from_the_texts(traces: dict[str, Path]) -> None:
    old = _old_format(read_trace(traces["lab"]))
    model = build_model(old)
    assert model["lifelines"] == ["host", "module", "net:1", "net:2", "net:3", "net:4"]
    fails = {r["sock"]: r["code"] for r in model["rows"] if r["kind"] == "fail"}
    assert fails == {1: 45, 2: 153, 3: 49}
    assert "<html" in render_model(model)


def test_bad_lines_and_unknown_records_are_counted_not_fatal(tmp_path: Path, traces: dict[str, Path]) -> None:
    lines = traces["lab"].read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], "{not json", '{"dir": "future", "data": "x"}', "[1, 2]", *lines[1:]]))
    model = model_from_file(broken)
    assert model["bad_lines"] == 2 and model["skipped"] == 1
    fails = [r for r in model["rows"] if r["kind"] == "fail"]
    assert len(fails) == 3
    # a row's number is its line in the file, bad lines counted, so a person can quote it
    file_lines = broken.read_text().splitlines()
    assert all(json.loads(file_lines[r["n"] - 1])["ev"] == "open_failed" for r in fails)


def test_hostile_text_cannot_break_out_of_the_page() -> None:
    records = [{"t": "2026-01-01T00:00:00+00:00", "dir": "host", "data": 'AT+X="</script><script>alert(1)</script>"\r'}]
    page = render_model(build_model(records, title="<b>t</b>"))
    assert "</script><script>alert(1)" not in page
    assert "&lt;b&gt;t&lt;/b&gt;" in page
    data = re.search(r'<script id="trace-data" type="application/json">(.*?)</script>', page, re.S)
    assert data is not None and json.loads(data.group(1))["rows"][0]["label"].startswith("AT+X=")


def test_the_page_fetches_nothing() -> None:
    page = render_model(build_model([]))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "default-src 'none'" in page


def test_a_gtsslerr_answer_is_marked_when_it_names_an_error_also_an_l610_s_negative_code() -> None:
    base = {"t": "2026-01-01T00:00:00.000000+00:00"}

    def marked(answer: str) -> bool:
        model = build_model([{**base, "dir": "host", "data": "AT+GTSSLERR?\r"},
                             {**base, "dir": "module", "data": f"\r\n{answer}\r\n\r\nOK\r\n"}])
        return any(r["err"] for r in model["rows"])

    assert marked("+GTSSLERR: 45") and marked("+GTSSLERR: -11")
    assert not marked("+GTSSLERR: 0")  # no error since power-on


def test_reason_in_words() -> None:
    text = ("socket 1 open failed (GTSSLERR 45): sent alert 45; X509 error 10 at depth 0; "
            "OpenSSL: certificate verify failed")
    assert reason_in_words(text, 45) == ("the module refused the server's certificate: certificate has expired; "
                                         "the module sent alert 45 certificate_expired")


def test_cli_writes_the_page_and_names_the_file_it_cannot_read_or_write(
    traces: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "view.html"
    assert emu_main(["trace-view", str(traces["lab"]), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    capsys.readouterr()
    missing = tmp_path / "nope.jsonl"
    assert emu_main(["trace-view", str(missing)]) == 2
    assert capsys.readouterr().err == f"nl668-emu trace-view: error: cannot read the trace {missing}: " \
        "No such file or directory\n"
    unwritable = tmp_path / "no-such-dir" / "view.html"
    assert emu_main(["trace-view", str(traces["lab"]), "-o", str(unwritable)]) == 2
    assert capsys.readouterr().err == f"nl668-emu trace-view: error: cannot write the page {unwritable}: " \
        "No such file or directory\n"


_values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 300), st.text(max_size=30),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
)
_events = st.sampled_from(["open", "alert", "certificate", "client_hello", "open_failed"])
_records = st.lists(st.fixed_dictionaries(
    {"dir": st.sampled_from(["host", "module", "why", "net", "other"]),
     "data": st.one_of(st.text(max_size=60), _values)},
    optional={"t": st.one_of(st.just("2026-01-01T00:00:00+00:00"), st.text(max_size=10)), "sock": _values,
              "ev": st.one_of(_events, _values),
              "gtsslerr": _values, "certs": _values, "suites": _values, "from": _values, "level": _values},
), max_size=25)


@given(_records)
@settings(max_examples=200, deadline=None)
def test_any_records_render_without_crashing(records: list[dict[str, Any]]) -> None:
    """Bad input never crashes: whatever a (damaged, future) trace holds, the page is made."""
    model = build_model(records)
    assert len(model["rows"]) + model["skipped"] <= len(records)
    assert render_model(model).startswith("<!DOCTYPE html>")

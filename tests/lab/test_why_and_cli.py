"""The "why" side channel (trace records, ModuleState.last_why) and the nl668-lab command line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.lab.cli import main
from emulator.lab.scenarios import HOST, SCENARIOS
from emulator.lab.server import Lab
from emulator.servers import pki
from emulator.trace import read_trace
from tests.lab_session import lab_rules, verifying_module

pytestmark = pytest.mark.integration


def test_the_reason_reaches_the_trace_and_the_module_state(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    with Lab(["expired", "valid"]) as lab:
        with verifying_module("NL668_AM_00", lab_rules(lab, ["expired", "valid"]), trace) as (running, at):
            at.command(f'AT+MIPOPEN=1,,"{HOST}",{lab.endpoint("expired").port},2')
            assert at.wait_urc("+MIPOPEN: 1,") == "+MIPOPEN: 1,0"
            failed = running.call(lambda: running.module.state.last_why)
            at.command(f'AT+MIPOPEN=1,,"{HOST}",{lab.endpoint("valid").port},2')
            assert at.wait_urc("+MIPOPEN: 1,") == "+MIPOPEN: 1,1"
            opened = running.call(lambda: running.module.state.last_why)
    assert "GTSSLERR 45" in failed and "sent alert 45" in failed and "X509 error 10" in failed
    assert opened.startswith("socket 1 opened: TLSv1 ")  # the negotiated version and suite
    whys = [r["data"] for r in read_trace(trace) if r["dir"] == "why"]
    assert whys[:2] == [failed, opened]
    assert not any("BEGIN" in w or "PRIVATE" in w for w in whys)
    # the host saw only what the module says: no reason on the wire
    assert not any("alert" in r["data"] for r in read_trace(trace) if r["dir"] == "module")


def test_list_prints_every_scenario_and_its_outcomes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for scenario in SCENARIOS:
        assert f"\n{scenario.name} " in "\n" + out
    assert "+GTSSLERR: 45" in out and "setup ERROR" in out
    # a scenario's setup is said once, after its description
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert lines["sslv3-only"].endswith("SSL 3.0 only (tlslite-ng server) after AT+GTSSLVER=1"), lines["sslv3-only"]
    assert lines["sslv3-only"].count("GTSSLVER=1") == 1
    assert lines["tls1.0-only"].endswith("; the module is set to TLS 1.2 after AT+GTSSLVER=4")


def test_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--scenario", "no-such"])
    assert info.value.code == 2
    assert "no scenario 'no-such'" in capsys.readouterr().err


def test_a_missing_pki_file_is_one_line_with_the_advice_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pki, "CERTS_DIR", tmp_path)  # an install whose certs are gone
    assert main(["--scenario", "valid"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert str(tmp_path) in line and line.count("reinstall nl668-emulator") == 1, line


def test_json_lists_the_running_endpoints_then_serves_until_sigint() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator.lab.cli", "--json", "--scenario", "valid", "--scenario", "alert-49"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        endpoints = json.loads(proc.stdout.readline())
        assert [e["scenario"] for e in endpoints] == ["valid", "alert-49"]
        assert all(e["host"] == "127.0.0.1" and e["port"] > 0 for e in endpoints)
        # the module side's TRUSTFILE, by the package's own path (tests/packaging checks it is the installed one)
        trust = Path(endpoints[0]["trust_file"])
        assert trust.name == "root-ca.pem" and trust.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

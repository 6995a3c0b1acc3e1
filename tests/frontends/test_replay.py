"""``nl668-emu replay``: a recorded session replays with no diff; an edited one shows the diff."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

import emulator  # noqa: F401 - registers nl668://
from emulator.replay import main, replay_file, replay_live
from emulator.at_client import AtClient
from emulator.lab.scenarios import HOST
from emulator.lab.server import Lab
from emulator.servers.pki import cert_bytes, pki_path
from emulator.trace import read_trace
from tests.lab_session import verifying_module


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """A real session through the in-process port, traced: an upload, a reset, a few commands."""
    path = tmp_path / "session.jsonl"
    with serial.serial_for_url(f"nl668://M910?trace={path}", timeout=5) as port:
        at = AtClient(port)
        data = cert_bytes("root-ca.pem")
        at.command_with_data(f'AT+GTSSLFILE="TRUSTFILE",{len(data)}', data)
        at.command("AT+GTSSLFILE?")
        port.write(b"AT+CFUN=1,1\r")
        at.wait_urc("+SIM READY")
        port.write(b"AT+CSQ;+GTSSLVER?\r")
        assert port.read_until(b"OK\r\n").endswith(b"OK\r\n")
        at.command("AT+GTSSLCIPHER=?")  # the variant's cipher ids
        port.write(b"AT+BOGUS\r")
        assert port.read_until(b"ERROR\r\n").endswith(b"ERROR\r\n")
    return path


def test_a_recorded_session_replays_with_no_diff(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "-----BEGIN" not in recorded.read_text()  # the upload is redacted in the trace
    assert main(["--profile", "M910", str(recorded)]) == 0
    assert "matches" in capsys.readouterr().out


def test_an_edited_session_shows_the_diff(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = read_trace(recorded)
    for record in records:
        if record["dir"] == "module" and "+CSQ: " in record["data"]:
            record["data"] = record["data"].replace("+CSQ: ", "+CSQ: 1")
            break
    else:
        pytest.fail("no +CSQ answer recorded")
    recorded.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["--profile", "M910", str(recorded)]) == 1
    out = capsys.readouterr().out
    assert "\n-+CSQ: 124,99\\r\\n\n++CSQ: 24,99\\r\\n\n" in out, out


def test_the_wrong_profile_shows_a_diff(recorded: Path) -> None:
    result = replay_file(recorded, "NL668_AM_00")  # another set of cipher ids
    assert not result.matches


MANUAL_STYLE = """\
AT+GTSSLMODE?
+GTSSLMODE: 0
OK
AT+GTSSLMODE=1
OK
AT+GTSSLMODE?
+GTSSLMODE: 1
OK
AT+GTSSLERR?
OK
"""


def test_a_plain_manual_style_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "field.log"
    log.write_text(MANUAL_STYLE)
    assert main([str(log)]) == 0
    log.write_text(MANUAL_STYLE.replace("+GTSSLMODE: 1", "+GTSSLMODE: 0"))
    assert main([str(log)]) == 1
    out = capsys.readouterr().out
    assert "-+GTSSLMODE: 0" in out and "++GTSSLMODE: 1" in out


def test_the_subcommand_and_its_exit_status(recorded: Path, tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-bb", "-m", "emulator", "replay", "--profile", "M910", str(recorded)],
        capture_output=True, text=True, timeout=30,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    missing = subprocess.run(
        [sys.executable, "-bb", "-m", "emulator", "replay", str(tmp_path / "nope.jsonl")],
        capture_output=True, text=True, timeout=30,
    )
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr


# --- --live: a module with its network on ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_lab() -> Iterator[Lab]:
    with Lab(["valid", "expired"]) as lab:
        yield lab


def record_tls_session(lab: Lab, path: Path) -> None:
    """A session that uploads the CA, verifies, opens a TLS socket to the lab's ``valid`` endpoint, sends and
    reads back (the echo), then closes: traced as a field module's would be."""
    port = lab.endpoint("valid").port
    with verifying_module("NL668_AM_00", [f"{HOST}=127.0.0.1:{port}"], path) as (_running, at):
        at.command(f'AT+MIPOPEN=1,,"{HOST}",443,2')
        assert at.wait_urc("+MIPOPEN: 1,", timeout=20) == "+MIPOPEN: 1,1"
        at.command("AT+GTSSLERR?")
        at.command_with_data("AT+MIPSEND=1,5", b"hello")
        at.command("AT+MIPPUSH=1")
        assert at.wait_urc("+MIPRTCP: 1,", timeout=10) == "+MIPRTCP: 1,0,68656C6C6F"
        at.command("AT+MIPCLOSE=1")
        at.wait_urc("+MIPCLOSE: 1,")


def test_live_replay_of_a_tls_session_against_the_lab_has_no_diff_and_another_scenario_names_gtsslerr(
    tls_lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "field.jsonl"
    record_tls_session(tls_lab, trace)
    root = str(pki_path("root-ca.pem"))
    valid, expired = tls_lab.endpoint("valid").port, tls_lab.endpoint("expired").port
    # the same server: no diff (the upload's redacted body comes from --upload)
    assert main(["--live", "--profile", "NL668_AM_00", "--upload", root, "--resolve", f"{HOST}=127.0.0.1:{valid}",
                 str(trace)]) == 0, capsys.readouterr().out
    assert "matches" in capsys.readouterr().out
    # the field log against another scenario: the diff names the +GTSSLERR line
    assert main(["--live", "--profile", "NL668_AM_00", "--upload", root, "--line-timeout", "1",
                 "--resolve", f"{HOST}=127.0.0.1:{expired}", str(trace)]) == 1
    out = capsys.readouterr().out
    assert "-+MIPOPEN: 1,1\\r\\n" in out and "++MIPOPEN: 1,0\\r\\n" in out
    assert "++GTSSLERR: 45\\r\\n" in out, out


def test_live_replay_of_a_plain_log_and_its_upload_errors(tls_lab: Lab, tmp_path: Path) -> None:
    log = tmp_path / "field.log"
    log.write_text(MANUAL_STYLE)
    assert replay_live(log, "NL668_AM_00", line_timeout=2).matches
    trace = tmp_path / "t.jsonl"
    record_tls_session(tls_lab, trace)
    with pytest.raises(ValueError, match="--upload of 3 bytes"):
        replay_live(trace, "NL668_AM_00", uploads=[b"abc"], line_timeout=1)


def test_live_comparison_forgives_only_a_line_overtaking_within_neighbouring_windows() -> None:
    from emulator.replay import _in_recorded_order

    recorded = ["\\r\\n", "OK\\r\\n", "\\r\\n", "+MIPPUSH: 1,2\\r\\n", "\\r\\n", "+MIPRTCP: 1,0,68\\r\\n", "OK\\r\\n"]
    # the URC came before the next command was even sent, its CR LF cut off from it
    raced = ["\\r\\n", "OK\\r\\n", "\\r\\n", "+MIPRTCP: 1,0,68\\r\\n", "\\r\\n", "+MIPPUSH: 1,2\\r\\n", "OK\\r\\n"]
    assert _in_recorded_order(recorded, raced, [(2, 3), (6, 6)])[1] == recorded
    wrong = [*raced[:3], "+MIPRTCP: 1,0,69\\r\\n", *raced[4:]]  # other data: still a difference
    assert _in_recorded_order(recorded, wrong, [(2, 3), (6, 6)])[1] != recorded

"""``nl668-emu replay``: a recorded session replays with no diff; an edited one shows the diff."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import serial

import emulator  # noqa: F401 - registers nl668://
from emulator.replay import main, replay_file
from emulator.at_client import AtClient
from emulator.servers.pki import cert_bytes
from emulator.trace import read_trace


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

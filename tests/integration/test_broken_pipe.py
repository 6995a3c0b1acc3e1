"""The command-line tools piped into a reader that has stopped reading (``nl668-lab --list | head -1``): a
listing ends quietly with status 1, a server whose banner nobody reads goes on serving. Real pipes whose read
end is closed before the tool writes, as ``head`` leaves them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from tests.frontends.helpers import at_ok

pytestmark = pytest.mark.integration


def closed_pipe() -> int:
    """The write end of a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


@pytest.mark.parametrize("argv", [
    ["-m", "emulator", "--list-profiles"],
    ["-m", "emulator", "--list-commands"],
    ["-m", "emulator.lab.cli", "--list"],
    ["-m", "emulator.fleet"],
])
def test_a_listing_into_a_closed_pipe_ends_quietly(argv: list[str]) -> None:
    out = closed_pipe()
    try:
        done = subprocess.run([sys.executable, *argv], stdout=out, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(out)
    assert done.stderr == ""  # no traceback, neither at the print nor at the interpreter's last flush
    assert done.returncode == 1


def test_a_replay_diff_into_a_closed_pipe_ends_quietly_with_its_own_status(tmp_path: Path) -> None:
    log = tmp_path / "field.log"
    log.write_text("AT+GTSSLMODE?\n+GTSSLMODE: 1\nOK\n")  # the module answers 0: a diff, status 1
    out = closed_pipe()
    try:
        done = subprocess.run([sys.executable, "-m", "emulator", "replay", str(log)], stdout=out,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(out)
    assert (done.returncode, done.stderr) == (1, "")


def test_the_same_listing_into_a_reader_is_whole_and_status_0() -> None:
    done = subprocess.run([sys.executable, "-m", "emulator.lab.cli", "--list"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "expired" in done.stdout


def test_an_emulator_whose_banner_nobody_reads_serves_on(tmp_path: Path) -> None:
    port_file = tmp_path / "ports"
    out = closed_pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "emulator", "--tcp", "127.0.0.1:0", "--port-file",
                                 str(port_file)], stdout=out, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(out)
    try:
        deadline = time.monotonic() + 30
        # The port file is written just before the banner; nothing else announces the listener here.
        while not port_file.exists() or not port_file.read_text().strip():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no port file"
            time.sleep(0.05)
        (port,) = map(int, port_file.read_text().split())
        with serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=10) as line:
            at_ok(line)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "Traceback" not in err, err

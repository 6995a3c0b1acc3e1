"""``python -m emulator`` as a user runs it: a subprocess, a PTY symlink, pyserial, signals."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial

from emulator.trace import read_trace

pytestmark = pytest.mark.integration

TIMEOUT = 10.0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-bb", "-m", "emulator", *args], capture_output=True, text=True, timeout=TIMEOUT
    )


@contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start the emulator and yield it with its first stdout line; kill it if the test leaves early."""
    with subprocess.Popen(
        [sys.executable, "-bb", "-m", "emulator", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        try:
            assert proc.stdout is not None
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                ready = sel.select(TIMEOUT)
            line = proc.stdout.readline().decode() if ready else ""
            if not line:
                proc.kill()
                _, err = proc.communicate(timeout=TIMEOUT)
                pytest.fail(f"no banner from the emulator; stderr:\n{err.decode()}")
            yield proc, line.rstrip("\n")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=TIMEOUT)


def stop(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, err.decode()


def at_ok(path: Path | str) -> None:
    with serial.Serial(str(path), 115200, timeout=2) as ser:
        ser.write(b"AT\r")
        reply = ser.read_until(b"OK\r\n")
    assert reply.endswith(b"AT\r\r\nOK\r\n"), reply


def test_serves_on_the_symlink_until_sigterm(tmp_path: Path) -> None:
    link = tmp_path / "ttyNL"
    with serving("--profile", "nl668_am_00", "--pty", str(link)) as (proc, banner):
        device = os.readlink(link)
        assert banner == f"NL668 emulator (NL668_AM_00) on {device} -> {link}"
        at_ok(link)
        code, err = stop(proc)
    assert code == 0, err
    assert not link.is_symlink()


def test_sigint_stops_it_too() -> None:
    with serving() as (proc, banner):
        assert banner.startswith("NL668 emulator (NL668_AM_00) on /dev/")
        at_ok(banner.rsplit(" on ", 1)[1])
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()


def test_list_profiles() -> None:
    result = run_cli("--list-profiles")
    assert result.returncode == 0, result.stderr
    names = result.stdout.splitlines()
    assert "NL668_AM_00" in names
    assert "M910" in names


def test_an_unknown_profile_exits_2_with_a_message() -> None:
    result = run_cli("--profile", "nope")
    assert result.returncode == 2
    assert "nope" in result.stderr
    assert result.stdout == ""


def test_a_bad_clock_is_a_usage_error() -> None:
    result = run_cli("--clock", "yesterday")
    assert result.returncode == 2
    assert "ISO-8601" in result.stderr


def test_trace_records_both_directions(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    link = tmp_path / "ttyNL"
    with serving("--pty", str(link), "--trace", str(trace), "--clock", "2026-03-01T12:00:00") as (proc, _):
        at_ok(link)
        code, err = stop(proc)
    assert code == 0, err
    records = read_trace(trace)
    assert {r["dir"] for r in records} == {"host", "module"}
    host = "".join(r["data"] for r in records if r["dir"] == "host")
    module = "".join(r["data"] for r in records if r["dir"] == "module")
    assert "AT\r" in host
    assert module.endswith("\r\nOK\r\n")
    assert all(r["t"].endswith("+00:00") and "." in r["t"] for r in records)


def test_paced_line_answers_intact(tmp_path: Path) -> None:
    """--baud/--latency/--rtt slow the line but change no byte of it (the rate itself: bench/pacing.py)."""
    link = tmp_path / "ttyNL"
    with serving("--pty", str(link), "--baud", "115200", "--latency", "0.01", "--rtt", "0.01") as (proc, _):
        with serial.Serial(str(link), 115200, timeout=5) as ser:
            ser.write(b"ATI\r")
            reply = ser.read_until(b"OK\r\n")
        code, err = stop(proc)
    assert code == 0, err
    # The boot URC may come late too (it is delayed by --latency past pyserial's flush on open).
    assert reply.removeprefix(b"\r\n+SIM READY\r\n").startswith(b"ATI\r\r\nManufacturer: Fibocom Wireless Inc.\r\n")
    assert reply.endswith(b"\r\nOK\r\n")

"""A module on a real PTY, driven by real pyserial: the host's view of the serial port."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
import serial

from emulator.profiles import load_profile
from emulator.runtime.running import RunningModule

pytestmark = pytest.mark.integration

PROFILE = "NL668_AM_00"


def test_at_gets_echo_and_ok() -> None:
    with RunningModule(PROFILE) as running, running.open_serial() as ser:
        ser.write(b"AT\r")
        reply = ser.read_until(b"OK\r\n")
        # Power-on URCs went out before the port was opened (pyserial flushes input on open).
        assert reply.endswith(b"AT\r\r\nOK\r\n"), reply


def sync(ser: serial.Serial) -> None:
    """One AT round trip, so nothing from power-on is left on the line.

    pyserial flushes input on open, but the kernel may still deliver a power-on
    URC written just before; everything up to the first ``OK`` is skipped.
    """
    ser.write(b"AT\r")
    assert ser.read_until(b"OK\r\n").endswith(b"\r\nOK\r\n")


def test_bytes_split_over_many_writes_are_reassembled() -> None:
    with RunningModule(PROFILE) as running, running.open_serial() as ser:
        sync(ser)
        for byte in b"AT":
            ser.write(bytes([byte]))
            # Waiting for the echo proves the module got this byte on its own.
            assert ser.read(1) == bytes([byte])
        ser.write(b"\r")
        assert ser.read_until(b"OK\r\n") == b"\r\r\nOK\r\n"


def test_a_burst_of_lines_in_one_write() -> None:
    with RunningModule(PROFILE) as running, running.open_serial() as ser:
        sync(ser)
        ser.write(b"AT\r" * 50)
        replies = b"".join(ser.read_until(b"OK\r\n") for _ in range(50))
        assert replies.count(b"\r\nOK\r\n") == 50
        assert replies.count(b"AT\r") == 50


def test_the_port_can_be_closed_and_reopened() -> None:
    """The emulator keeps the slave open, so a host close() does not break the master."""
    with RunningModule(PROFILE) as running:
        for _ in range(3):
            with running.open_serial() as ser:
                ser.write(b"AT\r")
                assert ser.read_until(b"OK\r\n").endswith(b"\r\nOK\r\n")


def test_the_symlink_is_created_and_removed(tmp_path: Path) -> None:
    link = tmp_path / "ttyNL"
    with RunningModule(PROFILE, link_path=link) as running:
        assert link.is_symlink()
        assert os.readlink(link) == running.device_path
        with running.open_serial(via_link=True) as ser:
            ser.write(b"AT\r")
            assert ser.read_until(b"OK\r\n").endswith(b"\r\nOK\r\n")
    assert not link.exists() and not link.is_symlink()


def test_a_stale_symlink_is_replaced(tmp_path: Path) -> None:
    link = tmp_path / "ttyNL"
    link.symlink_to("/dev/pts/does-not-exist")
    with RunningModule(PROFILE, link_path=link) as running:
        assert os.readlink(link) == running.device_path
    assert not link.is_symlink()


def test_a_regular_file_is_not_clobbered(tmp_path: Path) -> None:
    link = tmp_path / "ttyNL"
    link.write_text("precious")
    with pytest.raises(FileExistsError):
        RunningModule(PROFILE, link_path=link)
    assert link.read_text() == "precious"


def test_the_data_entry_timeout_runs_on_the_loop() -> None:
    """Timers go through the AsyncioScheduler: the ``>`` prompt gives up after the inactivity timeout."""
    base = load_profile(PROFILE)
    profile = replace(base, files=replace(base.files, data_timeout_s=0.3))
    with RunningModule(profile) as running, running.open_serial() as ser:
        sync(ser)
        ser.write(b'AT+GTSSLFILE="trustfile",100\r')
        assert ser.read_until(b"> ").endswith(b"\r\n> ")
        started = time.monotonic()
        ser.write(b"-----BEGIN")  # activity restarts the timer; the block stays incomplete
        reply = ser.read_until(b"ERROR\r\n")
        assert reply.endswith(b"ERROR\r\n"), reply
        assert time.monotonic() - started >= 0.3
        sync(ser)  # back in command mode


def test_a_reset_reboots_after_the_profile_delay() -> None:
    with RunningModule(PROFILE) as running, running.open_serial() as ser:
        sync(ser)
        ser.write(b"AT+CFUN=1,1\r")
        assert ser.read_until(b"OK\r\n").endswith(b"\r\nOK\r\n")
        assert ser.read_until(b"+SIM READY\r\n").endswith(b"\r\n+SIM READY\r\n")
        sync(ser)

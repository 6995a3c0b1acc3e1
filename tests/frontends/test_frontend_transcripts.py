"""The manual's chapter 2 transcripts through every front end: TCP, RFC 2217 and the in-process URL.

The PTY front end carries them in tests/transcripts; the same replay
(:func:`emulator.testing.transcripts.replay`) runs here with an ``exchange``
over pyserial's ``socket://``, ``rfc2217://`` and our ``nl668://``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
import serial

import emulator  # noqa: F401 - registers nl668://
from emulator.core.profile import Profile
from emulator.profiles import load_profile
from emulator.runtime.running import RunningModule
from emulator.testing.transcripts import Step, replay
from emulator.transports.memory import MemoryLine
from tests.transcripts.test_manual_transcripts import TRANSCRIPTS, load

PROFILE = "NL668_AM_00"
#: pyserial 3.5's rfc2217 client names and starts its reader thread with deprecated calls
PYSERIAL_RFC2217 = pytest.mark.filterwarnings(
    r"ignore:set(Daemon|Name)\(\) is deprecated:DeprecationWarning"
)


def exchange_over(port: serial.SerialBase) -> Callable[[Step], bytes]:
    def exchange(step: Step) -> bytes:
        assert not step.advance, "virtual time is for in-memory replays"
        port.write(step.send)
        return port.read(len(step.expect)) if step.expect else b""

    return exchange


def instant_reboot(profile_name: str) -> Profile:
    """The profile with a 0 s reboot, so one session can reset between transcripts at no cost."""
    profile = load_profile(profile_name)
    return dataclasses.replace(profile, boot=dataclasses.replace(profile.boot, reboot_s=0.0))


@pytest.mark.integration
@PYSERIAL_RFC2217
@pytest.mark.parametrize("front_end", ["tcp", "rfc2217"])
def test_over_a_socket(front_end: str) -> None:
    """Every transcript in one connection (pyserial's RFC 2217 client takes 0.3 s to open and to close)."""
    profile = instant_reboot(PROFILE)
    boot = b"".join(b"\r\n" + u.encode() + b"\r\n" for u in profile.boot.urcs)
    with RunningModule(profile, strict=True, front_end=front_end) as running:
        assert running.url.startswith(f"{'socket' if front_end == 'tcp' else 'rfc2217'}://127.0.0.1:")
        port = serial.serial_for_url(running.url, 115200, timeout=5)
        try:
            for path in TRANSCRIPTS:
                replay(load(path, PROFILE), exchange_over(port))
                port.write(b"AT+CFUN=1,1\r")  # nothing stray after the last answer, and a clean module
                answer = b"AT+CFUN=1,1\r\r\nOK\r\n" + boot
                assert port.read(len(answer)) == answer
        finally:
            port.close()


@pytest.mark.parametrize("profile_name", ["NL668_AM_00", "M910"])
@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_through_the_url_without_a_pty(profile_name: str, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pty(*args: Any) -> NoReturn:
        raise AssertionError("the nl668:// handler must not open a PTY")

    monkeypatch.setattr(os, "openpty", no_pty)
    port = serial.serial_for_url(f"nl668://{profile_name}?strict=1", timeout=5)
    try:
        assert isinstance(port.running.transport, MemoryLine)
        replay(load(path, profile_name), exchange_over(port))
        port.write(b"AT\r")
        assert port.read(9) == b"AT\r\r\nOK\r\n"
    finally:
        port.close()

"""The manual's chapter 2 sessions, replayed byte for byte: in memory (fast) and over a real PTY.

Acceptance for the SSL command set on NL668_AM_00, NL668_EU_00 and M910
(manual §2.1-2.5 and the +GTSSLFILE/+GTSSLMODE/+GTSSLERR steps of §2.6).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import serial

from emulator.core.profile import Profile
from emulator.profiles import load_profile
from emulator.runtime.in_memory import InMemoryModule
from emulator.runtime.running import RunningModule
from emulator.testing.transcripts import Step, Transcript, load_transcript, replay
from tests.conftest import MANUAL_PROFILES

HERE = Path(__file__).parent
TRANSCRIPTS = sorted(HERE.glob("manual_*.at"))


def context(profile: Profile) -> dict[str, str]:
    """The per-variant facts the transcripts leave open (manual §1.4.4 and §1.5.4 notes)."""
    ssl3 = 1 in profile.ssl.versions
    return {
        "ssl3_result": "OK" if ssl3 else "ERROR",
        "ver_after_ssl3": "1" if ssl3 else "2",
        "supported_ciphers": ",".join(map(str, profile.ssl.supported_ciphers)),
        "optional_ciphers": ",".join(map(str, sorted(profile.ssl.optional_ciphers))),
        "cipher9_result": "OK" if 9 in profile.ssl.supported_ciphers else "ERROR",
    }


def load(path: Path, profile_name: str) -> Transcript:
    profile = load_profile(profile_name)
    return load_transcript(path, context=context(profile), prompt=profile.at.prompt)


def test_transcripts_are_there() -> None:
    names = {p.name for p in TRANSCRIPTS}
    for section in ("2_1", "2_2", "2_3", "2_4", "2_5", "2_6_example_1", "2_6_example_2", "2_6_example_3", "2_6_example_5"):
        assert any(section in n for n in names), section


@pytest.mark.parametrize("profile_name", MANUAL_PROFILES)
@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_in_memory(path: Path, profile_name: str) -> None:
    module = InMemoryModule(profile_name)
    module.take()

    def exchange(step: Step) -> bytes:
        return module.advance(step.advance) if step.advance else module.send(step.send)

    replay(load(path, profile_name), exchange)


def read_exactly(port: serial.Serial, n: int) -> bytes:
    """Read n bytes; pyserial returns early only on its timeout, which fails the comparison."""
    return port.read(n) if n else b""


@pytest.mark.integration
@pytest.mark.parametrize("profile_name", MANUAL_PROFILES)
def test_over_a_real_pty(profile_name: str) -> None:
    """All transcripts in one module session each, with a power cycle between them."""
    with RunningModule(profile_name, strict=True) as running:
        port = running.open_serial(timeout=5)
        try:
            # The power-on URCs went out before the port was opened; pyserial flushes its input
            # on open, as a host that was not listening loses them on a real UART.
            boot = load_profile(profile_name).boot.urcs
            expected_boot = b"".join(b"\r\n" + u.encode() + b"\r\n" for u in boot)
            for path in TRANSCRIPTS:
                transcript = load(path, profile_name)

                def exchange(step: Step) -> bytes:
                    assert not step.advance, "virtual time is for in-memory replays"
                    port.write(step.send)
                    return read_exactly(port, len(step.expect))

                replay(transcript, exchange)
                # Nothing stray after the last answer, and a clean module for the next transcript.
                port.write(b"AT+CFUN=1,1\r")
                reset_answer = b"AT+CFUN=1,1\r\r\nOK\r\n" + expected_boot
                assert read_exactly(port, len(reset_answer)) == reset_answer
        finally:
            port.close()

"""The command line as a host sees it (V.250): echo, framing, editing, concatenation, refusals."""

from __future__ import annotations

import pytest

from emulator.runtime.in_memory import InMemoryModule
from tests.conftest import chunkings


def test_boot_urc_then_echo_and_ok() -> None:
    m = InMemoryModule("NL668_AM_00")
    assert m.take() == b"\r\n+SIM READY\r\n"
    assert m.command("AT") == b"AT\r\r\nOK\r\n"


@pytest.mark.parametrize(
    ("line", "echo"), [(b"AT\r", b"AT\r"), (b"at\r", b"at\r"), (b"aT\r", b"aT\r"), (b"AT\r\n", b"AT\r"), (b"AT\n", b"AT\n")]
)
def test_prefix_in_any_case_and_any_terminator(module: InMemoryModule, line: bytes, echo: bytes) -> None:
    assert module.send(line) == echo + b"\r\nOK\r\n"


def test_same_answer_at_every_chunking() -> None:
    data = b'AT+GTSSLVER=4;+GTSSLMODE=1\r\nAT+GTSSLVER?;+GTSSLMODE?\r\nAT+NOPE\r\n'
    answers = set()
    for chunks in chunkings(data):
        m = InMemoryModule("NL668_AM_00")
        m.take()
        answers.add(b"".join(m.send(c) for c in chunks))
    assert answers == {
        b"AT+GTSSLVER=4;+GTSSLMODE=1\r\r\nOK\r\n"
        b"AT+GTSSLVER?;+GTSSLMODE?\r\r\n+GTSSLVER: 4\r\n\r\n+GTSSLMODE: 1\r\n\r\nOK\r\n"
        b"AT+NOPE\r\r\nERROR\r\n"
    }


def test_echo_off_and_on(module: InMemoryModule) -> None:
    assert module.command("ATE0") == b"ATE0\r\r\nOK\r\n"  # echoed before it took effect
    assert module.command("AT") == b"\r\nOK\r\n"
    assert module.command("ATE1") == b"\r\nOK\r\n"
    assert module.command("AT") == b"AT\r\r\nOK\r\n"


def test_numeric_results(module: InMemoryModule) -> None:
    module.command("ATE0V0")
    assert module.command("AT") == b"0\r"
    assert module.command("AT+NOPE") == b"4\r"
    assert module.command("AT+GTSSLMODE?") == b"+GTSSLMODE: 0\r\n0\r"
    assert module.command("ATV1") == b"\r\nOK\r\n"


def test_quiet(module: InMemoryModule) -> None:
    module.command("ATE0")
    assert module.command("ATQ1") == b""
    assert module.command("AT+GTSSLMODE?") == b"\r\n+GTSSLMODE: 0\r\n"
    assert module.command("AT+NOPE") == b""
    assert module.command("ATQ0") == b"\r\nOK\r\n"


@pytest.mark.parametrize(
    ("cmee", "expected"),
    [("0", b"\r\nERROR\r\n"), ("1", b"\r\n+CME ERROR: 50\r\n"), ("2", b"\r\n+CME ERROR: incorrect parameters\r\n")],
)
def test_cmee_shapes_bad_parameters(module: InMemoryModule, cmee: str, expected: bytes) -> None:
    module.command("ATE0")
    assert module.command(f"AT+CMEE={cmee}") == b"\r\nOK\r\n"
    assert module.command("AT+GTSSLMODE=7") == expected
    assert module.command("AT+CMEE?") == f"\r\n+CMEE: {cmee}\r\n\r\nOK\r\n".encode()
    # An unknown command is a V.250 ERROR whatever +CMEE says.
    assert module.command("AT+NOPE") == b"\r\nERROR\r\n"


def test_backspace_edits_the_line(module: InMemoryModule) -> None:
    assert module.send(b"ATX\x08+GTSSLMODE?\r").endswith(b"\r\n+GTSSLMODE: 0\r\n\r\nOK\r\n")


def test_a_slash_repeats_the_last_line(module: InMemoryModule) -> None:
    module.command("ATE0")
    module.command("AT+GTSSLVER=3;+GTSSLVER?")
    assert module.send(b"A/") == b"\r\n+GTSSLVER: 3\r\n\r\nOK\r\n"


def test_a_slash_before_any_line_is_an_empty_command() -> None:
    m = InMemoryModule("NL668_AM_00")
    m.take()
    assert m.send(b"A/") == b"A/\r\nOK\r\n"


def test_line_stops_at_first_refusal(module: InMemoryModule) -> None:
    module.command("ATE0")
    assert module.command("AT+GTSSLMODE=1;+GTSSLVER=9;+GTSSLVER=3") == b"\r\nERROR\r\n"
    assert module.command("AT+GTSSLMODE?;+GTSSLVER?") == b"\r\n+GTSSLMODE: 1\r\n\r\n+GTSSLVER: 2\r\n\r\nOK\r\n"


@pytest.mark.parametrize(
    "line",
    ["AT+NOPE", "ATD123", 'AT+GTSSLMODE="1', "AT+GTSSLMODE?=", "AT#", "AT+GTSSLMODE", "AT+GTSSLERR=1", "ATE5", "ATS99?"],
)
def test_malformed_or_unknown_gives_error(module: InMemoryModule, line: str) -> None:
    module.command("ATE0")
    assert module.command(line) in (b"\r\nERROR\r\n",)
    assert module.command("AT") == b"\r\nOK\r\n"


def test_overlong_line_is_discarded_with_error(module: InMemoryModule) -> None:
    module.command("ATE0")
    limit = module.profile.at.line_max
    assert module.send(b"AT+GTSSLMODE=1" + b" " * limit + b"\r") == b"\r\nERROR\r\n"
    assert module.command("AT+GTSSLMODE?") == b"\r\n+GTSSLMODE: 0\r\n\r\nOK\r\n"


def test_text_without_prefix_is_ignored(module: InMemoryModule) -> None:
    module.command("ATE0")
    assert module.send(b"hello\r") == b""
    assert module.send(b"\r\n\r\n") == b""


def test_s_registers(module: InMemoryModule) -> None:
    module.command("ATE0")
    assert module.command("ATS3?") == b"\r\n013\r\n\r\nOK\r\n"
    assert module.command("ATS5?") == b"\r\n008\r\n\r\nOK\r\n"
    assert module.command("ATS3=128") == b"\r\nERROR\r\n"
    # V.250 §6.2.1: the result code of the line that changes S3 already uses the new value.
    assert module.send(b"ATS3=35\r") == b"#\nOK#\n"
    assert module.send(b"AT#") == b"#\nOK#\n"
    assert module.send(b"AT\r") == b""  # CR is plain text now
    assert module.send(b"#") == b"#\nERROR#\n"  # "AT\r" was the line
    assert module.send(b"ATS3=13#") == b"\r\nOK\r\n"


def test_factory_and_saved_settings(module: InMemoryModule) -> None:
    module.command("ATE0")
    module.command("AT+CMEE=2")
    module.command("AT&W")
    module.command("ATE1")
    module.command("AT+CMEE=0")
    assert module.command("ATZ") == b"ATZ\r\r\nOK\r\n"  # echoed: E1 until ATZ ran
    assert module.command("AT+CMEE?") == b"\r\n+CMEE: 2\r\n\r\nOK\r\n"
    assert module.command("AT&F") == b"\r\nOK\r\n"
    assert module.command("AT+CMEE?") == b"AT+CMEE?\r\r\n+CMEE: 0\r\n\r\nOK\r\n"


def test_non_at_line_error_knob() -> None:
    from dataclasses import replace

    from emulator.profiles import load_profile

    base = load_profile("NL668_AM_00")
    profile = replace(base, at=replace(base.at, non_at_line="error"))
    m = InMemoryModule(profile)
    m.take()
    assert m.send(b"hello\r") == b"hello\r\r\nERROR\r\n"
    assert m.send(b"\r") == b"\r"  # an empty line is no command line

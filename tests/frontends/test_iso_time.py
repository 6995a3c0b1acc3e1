"""One ISO-8601 parser for every command line's instant: ``nl668-emu --clock`` and ``nl668-lab check --clock``
read the same text as the same UTC instant, and refuse the same bad text as a usage error."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from emulator.cli import _parser as emu_parser
from emulator.isotime import parse_utc
from emulator.lab.check_cli import _parser as check_parser

NOON_UTC = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", [
    "2026-01-01T12:00:00Z",  # Z: UTC
    "2026-01-01T12:00:00z",  # RFC 3339's lower-case z
    "2026-01-01T14:00:00+02:00",  # an offset, converted
    "2026-01-01T07:00:00-05:00",
    "2026-01-01T12:00:00",  # naive: UTC
    "2026-01-01 12:00",
    "20260101T120000Z",  # basic format
])
def test_the_same_instant_whatever_the_spelling(text: str) -> None:
    instant = parse_utc(text)
    assert instant == NOON_UTC and instant.utcoffset() == timedelta(0)  # aware, in UTC
    assert emu_parser().parse_args(["--clock", text]).clock == instant
    assert check_parser().parse_args(["server.test", "--clock", text]).clock == instant


def test_a_date_alone_is_midnight_utc() -> None:
    assert parse_utc("2026-01-01") == datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["yesterday", "", "Z", "2026-13-01T00:00:00", "2026-01-01T12:00:00+25:00",
                                  "2026-01-01T12:00:00ZZ"])
def test_bad_text_is_a_usage_error_naming_it(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError):
        parse_utc(text)
    for parse, argv in ((emu_parser, ["--clock", text]), (check_parser, ["server.test", "--clock", text])):
        with pytest.raises(SystemExit) as usage:
            parse().parse_args(argv)
        assert usage.value.code == 2
        assert f"not an ISO-8601 time: {text!r}" in capsys.readouterr().err

"""Reply framing under ATV, ATQ and +CMEE (V.250 §5.7, 27.007 §9.1)."""

from __future__ import annotations

import pytest

from emulator.core.at_replies import V250Settings
from emulator.core.codes import CmeError


def test_verbose_framing() -> None:
    s = V250Settings()
    assert s.ok() == b"\r\nOK\r\n"
    assert s.error() == b"\r\nERROR\r\n"
    assert s.info(["+A: 1", "+A: 2"]) == b"\r\n+A: 1\r\n+A: 2\r\n"
    assert s.urc("+MIPOPEN: 1,1") == b"\r\n+MIPOPEN: 1,1\r\n"
    assert s.info([]) == b""


def test_numeric_framing() -> None:
    s = V250Settings(verbose=False)
    assert s.ok() == b"0\r"
    assert s.error() == b"4\r"
    assert s.info(["+A: 1"]) == b"+A: 1\r\n"


@pytest.mark.parametrize(
    ("cmee", "verbose", "expected"),
    [
        (0, True, b"\r\nERROR\r\n"),
        (1, True, b"\r\n+CME ERROR: 50\r\n"),
        (2, True, b"\r\n+CME ERROR: incorrect parameters\r\n"),
        (0, False, b"4\r"),
        (1, False, b"+CME ERROR: 50\r\n"),
    ],
)
def test_cme_error(cmee: int, verbose: bool, expected: bytes) -> None:
    s = V250Settings(cmee=cmee, verbose=verbose)
    assert s.error(CmeError.INCORRECT_PARAMETERS) == expected


def test_plain_error_ignores_cmee() -> None:
    assert V250Settings(cmee=2).error(None) == b"\r\nERROR\r\n"


def test_quiet_suppresses_result_codes_only() -> None:
    s = V250Settings(quiet=True, cmee=1)
    assert s.ok() == b"" and s.error() == b"" and s.error(CmeError.UNKNOWN) == b""
    assert s.info(["x"]) == b"\r\nx\r\n"


def test_s3_s4_shape_the_frame() -> None:
    s = V250Settings(s3=ord("#"), s4=ord("!"))
    assert s.ok() == b"#!OK#!"

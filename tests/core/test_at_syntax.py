"""Command-line syntax (V.250 §5.3-5.4)."""

from __future__ import annotations

import pytest

from emulator.core.at_syntax import (
    AtSyntaxError,
    CommandCall,
    Form,
    Param,
    parse_line,
    parse_line_cached,
    split_prefix,
)


def q(text: str) -> Param:
    return Param(text, True)


def u(text: str) -> Param:
    return Param(text, False)


@pytest.mark.parametrize(
    ("line", "body"),
    [("AT", ""), ("at+x", "+x"), ("aT+X", "+X"), ("At", ""), ("\0 ATE0", "E0"), ("A", None), ("xAT", None), ("", None)],
)
def test_prefix_in_any_case(line: str, body: str | None) -> None:
    assert split_prefix(line) == body


@pytest.mark.parametrize(
    ("body", "calls"),
    [
        ("", []),
        ("+GTSSLVER=4", [CommandCall("+GTSSLVER", Form.SET, (u("4"),))]),
        ("+gtsslver?", [CommandCall("+GTSSLVER", Form.READ)]),
        ("+GTSSLVER=?", [CommandCall("+GTSSLVER", Form.TEST)]),
        ("+GTSSLERR", [CommandCall("+GTSSLERR", Form.EXECUTE)]),
        ('+GTSSLFILE=" CERTFILE ",1334', [CommandCall("+GTSSLFILE", Form.SET, (q(" CERTFILE "), u("1334")))]),
        ('+MIPOPEN=1,,"www.baidu.com",443,2', [CommandCall("+MIPOPEN", Form.SET, (u("1"), None, q("www.baidu.com"), u("443"), u("2")))]),
        ("+X=1, 2 ,3", [CommandCall("+X", Form.SET, (u("1"), u("2"), u("3")))]),
        ('+X="a;b",1', [CommandCall("+X", Form.SET, (q("a;b"), u("1")))]),
        ('+X=""', [CommandCall("+X", Form.SET, (q(""),))]),
        ("+X=", [CommandCall("+X", Form.SET, (None,))]),
        ("+GTSSLVER=4;+GTSSLMODE=1", [CommandCall("+GTSSLVER", Form.SET, (u("4"),)), CommandCall("+GTSSLMODE", Form.SET, (u("1"),))]),
        ("E0V1", [CommandCall("E", Form.EXECUTE, (u("0"),)), CommandCall("V", Form.EXECUTE, (u("1"),))]),
        ("E0;+CMEE=2", [CommandCall("E", Form.EXECUTE, (u("0"),)), CommandCall("+CMEE", Form.SET, (u("2"),))]),
        ("&F", [CommandCall("&F", Form.EXECUTE)]),
        ("&W0Z", [CommandCall("&W", Form.EXECUTE, (u("0"),)), CommandCall("Z", Form.EXECUTE)]),
        ("S3=13", [CommandCall("S3", Form.SET, (u("13"),))]),
        ("S03?", [CommandCall("S3", Form.READ)]),
        ("I", [CommandCall("I", Form.EXECUTE)]),
        (" +CSQ ", [CommandCall("+CSQ", Form.EXECUTE)]),
    ],
)
def test_parses(body: str, calls: list[CommandCall]) -> None:
    assert parse_line(body) == calls
    assert parse_line_cached(body) == tuple(calls)


@pytest.mark.parametrize(
    "body",
    ['+X="abc', '+X="a"b', '+X=a"b"', '+X="a""b"', "+", "+X?1", "+X=?1", "S", "S3", "S3=", "&", "&1", "#", "E0!"],
)
def test_refuses(body: str) -> None:
    with pytest.raises(AtSyntaxError):
        parse_line(body)
    for _ in range(2):  # a refusal is never kept: refused again, not answered from the cache
        with pytest.raises(AtSyntaxError):
            parse_line_cached(body)


def test_the_cache_hands_back_the_same_immutable_answer_and_stays_bounded() -> None:
    first = parse_line_cached("+MIPSEND=1,16")
    assert parse_line_cached("+MIPSEND=1,16") is first
    assert isinstance(first, tuple) and first == (CommandCall("+MIPSEND", Form.SET, (u("1"), u("16"))),)
    for n in range(3000):  # a host sending ever new lines pushes the old ones out
        parse_line_cached(f"+MIPSEND=1,{n}")
    again = parse_line_cached("+MIPSEND=1,16")
    assert again is not first and again == first  # forgotten, then parsed afresh: the cache is bounded

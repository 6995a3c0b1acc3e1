"""One command line -> the commands on it (V.250 §5.3-5.4, 27.007 §4).

A line is ``AT`` (any case) followed by zero or more commands:

* **basic** commands: a letter with an optional number (``E0``, ``V1``, ``Z``),
  ``&`` and a letter (``&F``, ``&W0``), ``S<n>=<v>`` / ``S<n>?``; they may follow
  each other with nothing between (``ATE0V1``);
* **extended** commands: ``+NAME`` then ``=?`` (test), ``?`` (read), ``=args``
  (set) or nothing (action), ended by ``;`` or the end of the line.

Parameters are split on commas outside double quotes. A quoted parameter keeps
its text verbatim (``" CERTFILE "`` keeps its spaces; the handler decides); an
empty parameter (``1,,"host"``) is ``None``. Spaces outside quotes are
ignored, as V.250 says.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass
from enum import Enum


class Form(Enum):
    """The four forms of a command (V.250 §5.3)."""

    EXECUTE = "action"
    SET = "set"
    READ = "read"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter as typed: its text, and whether it was in double quotes."""

    text: str
    quoted: bool


@dataclass(frozen=True, slots=True)
class CommandCall:
    """One command of a line: ``name`` is upper-case (``+GTSSLVER``, ``E``, ``&F``, ``S3``)."""

    name: str
    form: Form
    params: tuple[Param | None, ...] = ()


class AtSyntaxError(ValueError):
    """The line is not well-formed; the module answers ``ERROR``."""


_EXT_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!%-./:_")
_BASIC_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRTUVWXYZ")  # S is handled on its own


def split_prefix(line: str) -> str | None:
    """Return the text after the ``AT`` prefix, or ``None`` when the line has none.

    Leading blanks and NULs are skipped: a host that powers up a UART often
    sends a stray byte first.
    """
    text = line.lstrip(" \t\0")
    if text[:2].upper() != "AT":
        return None
    return text[2:]


def parse_line(body: str) -> list[CommandCall]:
    """Parse what follows ``AT`` into commands. Raises :class:`AtSyntaxError`."""
    calls: list[CommandCall] = []
    pos = 0
    n = len(body)
    while pos < n:
        ch = body[pos]
        if ch in " \t;":
            pos += 1
        elif ch in "+^$%":
            call, pos = _parse_extended(body, pos)
            calls.append(call)
        elif ch == "&":
            if pos + 1 >= n or body[pos + 1].upper() not in _BASIC_LETTERS | {"S"}:
                raise AtSyntaxError("& without a letter")
            name = "&" + body[pos + 1].upper()
            digits, pos = _digits(body, pos + 2)
            calls.append(_basic(name, digits))
        elif ch.upper() == "S":
            call, pos = _parse_s_register(body, pos + 1)
            calls.append(call)
        elif ch.upper() in _BASIC_LETTERS:
            digits, pos = _digits(body, pos + 1)
            calls.append(_basic(ch.upper(), digits))
        else:
            raise AtSyntaxError(f"unexpected {ch!r}")
    return calls


@functools.lru_cache(maxsize=1024)
def parse_line_cached(body: str) -> tuple[CommandCall, ...]:
    """:func:`parse_line`'s answer, kept for the next time the same text comes. Why: a host sends the same
    lines over and over (``AT+MIPSEND=1,16`` on every round trip of a fleet), parsing one was ~5 % of a
    worker's CPU in ``bench/scale.py``, and the answer is immutable (frozen calls in a tuple). Bounded, so
    a host sending ever new lines only churns the cache. Raises :class:`AtSyntaxError` (never kept)."""
    return tuple(parse_line(body))


def _basic(name: str, digits: str) -> CommandCall:
    params = (Param(digits, False),) if digits else ()
    return CommandCall(name, Form.EXECUTE, params)


def _digits(body: str, pos: int) -> tuple[str, int]:
    start = pos
    # ASCII digits only: str.isdigit() accepts '²' (latin-1 0xB2), which int() refuses.
    while pos < len(body) and body[pos] in "0123456789":
        pos += 1
    return body[start:pos], pos


def _parse_s_register(body: str, pos: int) -> tuple[CommandCall, int]:
    digits, pos = _digits(body, pos)
    if not digits:
        raise AtSyntaxError("S without a register number")
    name = f"S{int(digits)}"
    if body.startswith("=?", pos):
        return CommandCall(name, Form.TEST), pos + 2
    if body.startswith("?", pos):
        return CommandCall(name, Form.READ), pos + 1
    if body.startswith("=", pos):
        value, pos = _digits(body, pos + 1)
        if not value:
            raise AtSyntaxError(f"{name}= without a value")
        return CommandCall(name, Form.SET, (Param(value, False),)), pos
    raise AtSyntaxError(f"{name} without = or ?")


def _parse_extended(body: str, pos: int) -> tuple[CommandCall, int]:
    start = pos
    pos += 1
    while pos < len(body) and body[pos].upper() in _EXT_NAME_CHARS:
        pos += 1
    name = body[start:pos].upper()
    if len(name) < 2:
        raise AtSyntaxError("extended command without a name")
    while pos < len(body) and body[pos] in " \t":
        pos += 1
    if body.startswith("=?", pos):
        return CommandCall(name, Form.TEST), _end_of_command(body, pos + 2)
    if body.startswith("?", pos):
        return CommandCall(name, Form.READ), _end_of_command(body, pos + 1)
    if body.startswith("=", pos):
        params, pos = _parse_params(body, pos + 1)
        return CommandCall(name, Form.SET, params), pos
    return CommandCall(name, Form.EXECUTE), _end_of_command(body, pos)


def _end_of_command(body: str, pos: int) -> int:
    """After a read/test/action form only blanks may precede ``;`` or the end."""
    while pos < len(body) and body[pos] in " \t":
        pos += 1
    if pos < len(body) and body[pos] != ";":
        raise AtSyntaxError(f"unexpected {body[pos]!r} after command")
    return pos


def _parse_params(body: str, pos: int) -> tuple[tuple[Param | None, ...], int]:
    params: list[Param | None] = []
    current: list[str] = []
    quoted = False
    seen_quote = False
    n = len(body)
    while True:
        if pos >= n or body[pos] == ";":
            params.append(_make_param(current, seen_quote))
            return tuple(params), pos
        ch = body[pos]
        if ch == '"':
            if seen_quote:  # a second quoted part, or text after the closing quote
                raise AtSyntaxError("stray double quote")
            end = body.find('"', pos + 1)
            if end < 0:
                raise AtSyntaxError("unterminated string")
            if "".join(current).strip():
                raise AtSyntaxError("text before a quoted string")
            current = [body[pos + 1 : end]]
            seen_quote = quoted = True
            pos = end + 1
            continue
        if ch == ",":
            params.append(_make_param(current, seen_quote))
            current, seen_quote, quoted = [], False, False
            pos += 1
            continue
        if ch in " \t":
            pos += 1
            continue
        if quoted:
            raise AtSyntaxError("text after a quoted string")
        current.append(ch)
        pos += 1


def _make_param(parts: list[str], quoted: bool) -> Param | None:
    text = "".join(parts)
    if not quoted and text == "":
        return None
    return Param(text, quoted)

"""Reading a command's parameters: every refusal here is ``+CME ERROR: 50`` (incorrect parameters)."""

from __future__ import annotations

from collections.abc import Container

from ..at_syntax import CommandCall
from ..codes import CmeError
from ..errors import CommandError


def bad(why: str) -> CommandError:
    return CommandError(CmeError.INCORRECT_PARAMETERS, why)


def count(call: CommandCall, least: int, most: int) -> None:
    """Refuse a call with fewer than ``least`` or more than ``most`` parameters."""
    if not least <= len(call.params) <= most:
        raise bad(f"{call.name} takes {least}-{most} parameters, got {len(call.params)}")


def integer(
    call: CommandCall,
    index: int,
    allowed: Container[int],
    *,
    default: int | None = None,
) -> int:
    """Parameter ``index`` as a decimal integer in ``allowed``; ``default`` when omitted."""
    param = call.params[index] if index < len(call.params) else None
    if param is None:
        if default is None:
            raise bad(f"{call.name}: parameter {index + 1} is missing")
        return default
    text = param.text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:  # '²'.isdigit() but int('²') fails
        raise bad(f"{call.name}: parameter {index + 1} is not a number")
    value = int(text)
    if value not in allowed:
        raise bad(f"{call.name}: {value} is out of range")
    return value


def string(call: CommandCall, index: int, *, default: str | None = None, max_len: int = 255) -> str:
    """Parameter ``index`` as text (quoted or not); ``default`` when omitted."""
    param = call.params[index] if index < len(call.params) else None
    if param is None:
        if default is None:
            raise bad(f"{call.name}: parameter {index + 1} is missing")
        return default
    if len(param.text) > max_len:
        raise CommandError(CmeError.TEXT_STRING_TOO_LONG, f"{call.name}: parameter too long")
    return param.text


def digit_flag(call: CommandCall, allowed: Container[int], default: int = 0) -> int:
    """The number of a basic command (``E0``, ``V1``; no digits means 0, V.250 §5.3.1)."""
    count(call, 0, 1)
    return integer(call, 0, allowed, default=default)


def range_text(values: range) -> str:
    """``(1-255)`` as test forms print a range of supported values."""
    return f"({values.start}-{values.stop - 1})"


def list_text(values: object) -> str:
    """``(2,3,4)`` as test forms print a list of supported values."""
    return "(" + ",".join(str(v) for v in values) + ")"  # type: ignore[attr-defined]

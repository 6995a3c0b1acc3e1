"""The ISO-8601 instants the emulator takes (``nl668-emu --clock``, ``nl668-lab check --clock``, the console's
``clock`` verb, ``nl668://...?clock=``), as UTC.

One parser for every option, so the same text means the same instant everywhere: ``Z`` (or RFC 3339's ``z``)
is UTC, an offset is converted to UTC, and a time without either is taken as UTC (a module's clock has no
zone of the host's to fall back on).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

__all__ = ["parse_utc", "utc_argument"]


def parse_utc(text: str) -> datetime:
    """``text`` as an aware datetime in UTC.

    Raises:
        ValueError: not an ISO-8601 date or date and time.
    """
    if text[-1:] in ("Z", "z"):  # fromisoformat takes "Z" since 3.11, but not RFC 3339's lower-case "z"
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utc_argument(text: str) -> datetime:
    """:func:`parse_utc` as an argparse ``type=``: a bad value is a usage error naming it, not a traceback."""
    try:
        return parse_utc(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None

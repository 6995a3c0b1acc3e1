"""Where time enters the core.

The core never reads the wall clock. It reads *now* through an injected
:class:`Clock` (for ``+CCLK`` and, later, certificate validity "by the module's
own clock", manual §2.6 example 3), and it asks for timers with ``StartTimer``
actions that come back as ``TimerExpired`` events. The runtime supplies a
system clock; tests supply :class:`ManualClock` and advance it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    """A source of the host's current time."""

    def utc_now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (timer deadlines are on it)."""
        ...


class ManualClock:
    """A clock that moves only when told to: the virtual clock of tests and replays."""

    def __init__(self, start: datetime | None = None) -> None:
        self._utc = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._mono = 0.0

    def utc_now(self) -> datetime:
        return self._utc

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both time scales forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._mono += seconds
        self._utc += timedelta(seconds=seconds)

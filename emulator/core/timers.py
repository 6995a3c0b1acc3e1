"""A timer queue keyed by deadline: the one scheduling mechanism of the emulator.

The core asks for timers with ``StartTimer``/``CancelTimer`` actions. Whoever
runs the core (the asyncio runtime, or a test with a :class:`ManualClock`)
keeps them in a :class:`TimerQueue` and feeds ``TimerExpired`` back when
:meth:`TimerQueue.pop_due` says a deadline has passed. Starting a timer that is
already running restarts it, which is what an inactivity timeout needs.

Pure: deadlines are plain floats given by the caller.
"""

from __future__ import annotations

from collections.abc import Hashable
from itertools import count

from sortedcontainers import SortedDict


class TimerQueue:
    """Pending timers, each identified by an owner and a key, ordered by deadline."""

    def __init__(self) -> None:
        # (deadline, seq) -> (owner, key); seq keeps equal deadlines in start order.
        self._by_deadline: SortedDict = SortedDict()
        self._by_id: dict[tuple[Hashable, Hashable], tuple[float, int]] = {}
        self._seq = count()

    def __len__(self) -> int:
        return len(self._by_id)

    def start(self, owner: Hashable, key: Hashable, deadline: float) -> None:
        """Arm (or re-arm) timer ``key`` of ``owner`` to fire at ``deadline``."""
        self.cancel(owner, key)
        slot = (deadline, next(self._seq))
        self._by_deadline[slot] = (owner, key)
        self._by_id[(owner, key)] = slot

    def cancel(self, owner: Hashable, key: Hashable) -> None:
        """Disarm a timer; cancelling one that is not running is a no-op."""
        slot = self._by_id.pop((owner, key), None)
        if slot is not None:
            del self._by_deadline[slot]

    def cancel_owner(self, owner: Hashable) -> None:
        """Disarm every timer of ``owner`` (a module that goes away)."""
        for owner_key in [k for k in self._by_id if k[0] == owner]:
            self.cancel(*owner_key)

    def next_deadline(self) -> float | None:
        """The earliest deadline, or ``None`` when nothing is armed."""
        if not self._by_deadline:
            return None
        deadline, _ = self._by_deadline.peekitem(0)[0]
        return float(deadline)

    def pop_due(self, now: float) -> list[tuple[Hashable, Hashable]]:
        """Remove and return, in deadline order, every ``(owner, key)`` due at ``now``."""
        due: list[tuple[Hashable, Hashable]] = []
        while self._by_deadline:
            slot, owner_key = self._by_deadline.peekitem(0)
            if slot[0] > now:
                break
            del self._by_deadline[slot]
            del self._by_id[owner_key]
            due.append(owner_key)
        return due

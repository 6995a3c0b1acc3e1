"""What happened at the edge (inputs to the core, in the past tense).

Frozen, keyword-only, slotted; don't subclass these.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class TimerExpired:
    """A timer asked for with ``StartTimer`` has run out."""

    timer: Hashable


Event = TimerExpired

"""What the core asks the edge to do (outputs, in the imperative).

:meth:`Module.actions_to_perform` returns them as **one ordered list**: order is
semantics (``OK`` goes out before a later URC; a write must not overtake the
timer that guards it). Frozen, keyword-only, slotted; don't subclass these.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class WriteToHost:
    """Send these bytes to the host on the serial line.

    ``secret`` marks bytes that hold certificate or key material (the echo of
    an upload when a profile echoes data); traces and logs must not show them.
    """

    data: bytes
    secret: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class StartTimer:
    """Arm (or re-arm) timer ``timer``; answer with ``TimerExpired(timer=...)`` after ``seconds``."""

    timer: Hashable
    seconds: float


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelTimer:
    """Disarm timer ``timer`` if it is running."""

    timer: Hashable


@dataclass(frozen=True, kw_only=True, slots=True)
class HostInputSeen:
    """For traces only: what the host sent, with uploaded file bodies replaced by a placeholder.

    Emitted only by a module built with ``trace_input=True``, in order with the
    writes it caused.
    """

    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class PowerCycled:
    """The module has reset (``AT+CFUN=1,1``, ``AT+CFUN=15``): the edge drops what it held for it."""


Action = WriteToHost | StartTimer | CancelTimer | HostInputSeen | PowerCycled

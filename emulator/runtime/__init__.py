"""The edge that runs a core :class:`~emulator.core.module.Module`: actions out, events in.

The only code with a loop, file descriptors or a clock lives here and in
:mod:`emulator.transports`. Many modules share one asyncio loop and one
:class:`AsyncioScheduler` (no thread per module), which is what lets one
process host a fleet.
"""

from __future__ import annotations

from .clocks import SystemClock
from .driver import AsyncioScheduler, ModuleDriver, Scheduler, TimerOwner, VirtualScheduler

__all__ = [
    "AsyncioScheduler",
    "ModuleDriver",
    "Scheduler",
    "SystemClock",
    "TimerOwner",
    "VirtualScheduler",
]

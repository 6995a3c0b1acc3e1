"""The clocks the runtime injects into :class:`emulator.core.module.Module`.

The core reads time only through the :class:`emulator.core.clock.Clock`
protocol. In production that is :class:`SystemClock`; tests use
:class:`emulator.core.clock.ManualClock`. The ``+CCLK`` offset is module state,
kept by the core itself, so no "module clock" wrapper lives here.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


class SystemClock:
    """The host's clocks.

    ``monotonic`` is :func:`time.monotonic` on purpose: asyncio's default
    ``loop.time()`` is the same clock, so timer deadlines computed by the core's
    runtime and the loop's ``call_at`` agree without conversion.
    """

    def utc_now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

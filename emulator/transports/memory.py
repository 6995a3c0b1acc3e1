"""An in-process serial line: thread-safe byte buffers between a caller thread and the loop.

Why: the ``nl668://`` pyserial URL must work with no PTY and no socket
(Windows, locked-down CI containers). The loop thread writes module output
into :class:`MemoryLine`; the caller's thread reads it with pyserial-style
timeouts and sends host bytes with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

#: Bytes kept for a caller that is not reading; beyond HIGH_WATER the module's peers are paused.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
MAX_PENDING = 1024 * 1024


class MemoryLine:
    """Both ends of one line. ``start/write/close/flow`` are the loop side; ``send/read`` the caller's."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._receiver: Callable[[bytes], None] | None = None
        self._out = bytearray()
        self._cond = threading.Condition()
        self._blocked = False
        self.closed = False
        self.flow: Callable[[bool], None] | None = None

    # --- loop side -------------------------------------------------------------------------------

    def start(self, receiver: Callable[[bytes], None]) -> None:
        self._receiver = receiver

    def write(self, data: bytes) -> None:
        with self._cond:
            if self.closed or not data:
                return
            self._out += data[: max(0, MAX_PENDING - len(self._out))]  # a UART with no reader drops
            block = not self._blocked and len(self._out) > HIGH_WATER
            self._blocked = self._blocked or block
            self._cond.notify_all()
        if block and self.flow is not None:
            self.flow(True)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def _feed(self, data: bytes) -> None:
        if self._receiver is not None and not self.closed:
            self._receiver(data)

    # --- caller side -----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Host bytes to the module (any thread)."""
        if data:
            self._loop.call_soon_threadsafe(self._feed, bytes(data))

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._out)

    def read(self, size: int, timeout: float | None) -> bytes:
        """Up to ``size`` bytes: wait until ``size`` are there, or ``timeout`` (None: forever; 0: no wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while len(self._out) < size and not self.closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining)
            data = bytes(self._out[:size])
            del self._out[:size]
            release = self._blocked and len(self._out) < LOW_WATER
            self._blocked = self._blocked and not release
        if release and self.flow is not None:
            self._loop.call_soon_threadsafe(self.flow, False)
        return data

    def discard(self) -> None:
        """Drop what the caller has not read (``reset_input_buffer``)."""
        with self._cond:
            self._out.clear()
            release, self._blocked = self._blocked, False
        if release and self.flow is not None:
            self._loop.call_soon_threadsafe(self.flow, False)

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
from typing import Any

#: Bytes kept for a caller that is not reading; beyond HIGH_WATER the module's peers are paused.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
MAX_PENDING = 1024 * 1024


class MemoryLine:
    """Both ends of one line. ``start/write/close/flow`` are the loop side; ``send/read`` the caller's.

    A waiting reader is woken through two hooks, :meth:`_clear_wake` (under the lock, before it waits)
    and :meth:`_wake_reader` (after the loop side wrote or closed); here a :class:`threading.Event`.
    The fleet's line (``emulator.fleet.hosting.FleetLine``) overrides them to wake a gevent greenlet
    instead, and passes a real lock: the buffering, flow control and timeouts are this class's alone.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, lock: Any = None) -> None:
        self._loop = loop
        self._receiver: Callable[[bytes], None] | None = None
        self._out = bytearray()
        self._lock = lock if lock is not None else threading.Lock()
        self._reader_waits = False
        self._arrived = threading.Event()
        self._blocked = False
        self.closed = False
        self.flow: Callable[[bool], None] | None = None

    # --- loop side -------------------------------------------------------------------------------

    def start(self, receiver: Callable[[bytes], None]) -> None:
        self._receiver = receiver

    def write(self, data: bytes) -> None:
        with self._lock:
            if self.closed or not data:
                return
            self._out += data[: max(0, MAX_PENDING - len(self._out))]  # a UART with no reader drops
            block = not self._blocked and len(self._out) > HIGH_WATER
            self._blocked = self._blocked or block
            wake, self._reader_waits = self._reader_waits, False
        if wake:
            self._wake_reader()
        if block and self.flow is not None:
            self.flow(True)

    def flush(self) -> None:
        """Nothing to do: :meth:`write` puts bytes in the host's buffer at once."""

    def close(self) -> None:
        with self._lock:
            self.closed = True
            wake, self._reader_waits = self._reader_waits, False
        if wake:
            self._wake_reader()

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
        with self._lock:
            return len(self._out)

    def read(self, size: int, timeout: float | None) -> bytes:
        """Up to ``size`` bytes: wait until ``size`` are there, or ``timeout`` (None: forever; 0: no wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self._out) >= size or self.closed:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._reader_waits = True
                self._clear_wake()  # under the lock: a write after this wakes us
            self._wait_reader(remaining)
        with self._lock:
            self._reader_waits = False
            data = bytes(self._out[:size])
            del self._out[:size]
            release = self._blocked and len(self._out) < LOW_WATER
            self._blocked = self._blocked and not release
        if release and self.flow is not None:
            self._loop.call_soon_threadsafe(self.flow, False)
        return data

    def discard(self) -> None:
        """Drop what the caller has not read (``reset_input_buffer``)."""
        with self._lock:
            self._out.clear()
            release, self._blocked = self._blocked, False
        if release and self.flow is not None:
            self._loop.call_soon_threadsafe(self.flow, False)

    # --- how a waiting reader is woken (see the class docstring) ----------------------------------

    def _clear_wake(self) -> None:
        self._arrived.clear()

    def _wait_reader(self, timeout: float | None) -> None:
        self._arrived.wait(timeout)

    def _wake_reader(self) -> None:
        self._arrived.set()

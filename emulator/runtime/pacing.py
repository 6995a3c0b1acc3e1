"""Realistic timing: a UART's byte rate, a module's answer latency, a network's round trip.

Why: by default the emulator answers as fast as the machine allows, so host
code that only breaks on a slow real module (a timeout too short for a 1 MB
download at 115200 baud, a read loop that assumes the whole answer arrives in
one ``read()``) passes here. These wrappers slow the emulator down to a real
module's pace without touching the core or the transports: each wraps one
``Callable[[bytes], None]`` (or the link-event ``deliver``) and is wired where
the runtime connects the pieces.

* :class:`UartPacer` -- 8N1 framing: 10 bit times a byte, so RATE/10 bytes a
  second. Byte ``k`` of a burst that starts at ``t0`` is handed on at its
  stop bit, ``t0 + (k + 1) / rate``; bytes written while the line is busy queue
  behind it (the schedule is kept on the exact virtual "line free at" time, so
  the long-run rate has no drift however late the loop wakes). To keep the
  loop quiet at high rates, bytes are released in batches at most every
  ``quantum`` seconds (1 ms: 92 bytes at 921600 baud, 11.5 at 115200); a batch
  is never released before its last byte's nominal time. An optional fixed
  ``latency`` shifts the start of every write (the module "thinks" before it
  answers: the simplest faithful model of per-command latency).
* :class:`DelayedDelivery` -- link events (socket opened, data, closed) reach the
  module ``rtt`` seconds after the edge produced them, in their original order.

All of it runs on the asyncio loop (``call_at``), no thread. The ``loop`` argument
needs only ``time()`` and ``call_at()``, so tests drive it on a virtual clock.

Wiring (in :func:`emulator.runtime.station.build_station`, for ``--baud``, ``--latency``, ``--rtt``)::

    write = pace_output(loop, transport.write, baud=baud, latency=latency)
    driver = ModuleDriver(module, write=write, scheduler=scheduler, trace=trace, name=name)
    links = PeerLinks(loop, resolver, delay_events(loop, driver.deliver, rtt=rtt), name=name)
    driver.links = links
    transport.flow = join_flow(links.hold, write)  # back-pressure also sees the pacer's queue
    transport.start(pace_input(loop, driver.feed, baud=baud))

and on close, ``if isinstance(write, UartPacer): write.close()``. Latency delays all
of the module's output (the echo too): the simplest model that still makes every
final result code late by a fixed amount.

With every option at its default each function returns its argument unchanged:
no cost when realistic timing is off.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ..core.events import Event, LinkOpened, LinkOpenFailed

#: seconds between two releases of a pacer at most (see the module docstring)
QUANTUM = 0.001
#: bytes a pacer holds for the host before it asks the peers to pause (as PtyTransport's HIGH_WATER)
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024
#: bits on the wire for one byte in 8N1: start, 8 data, stop
BITS_PER_BYTE = 10


class LoopClock(Protocol):
    """What the wrappers need of an event loop: its clock and a timer (virtual in tests)."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Any: ...


def uart_bytes_per_second(baud: int) -> float:
    """8N1: each byte costs 10 bit times."""
    if baud <= 0:
        raise ValueError(f"baud must be positive, not {baud}")
    return baud / BITS_PER_BYTE


class UartPacer:
    """Hands bytes to ``sink`` at a UART's pace (see the module docstring).

    Call it like the sink it wraps. Bytes keep their order and are never
    merged across a ``latency`` boundary earlier than their due time.

    Args:
        loop: the asyncio loop (or anything with ``time`` and ``call_at``).
        sink: where paced bytes go (a transport's ``write``, a driver's ``feed``).
        bytes_per_second: the line rate; ``None`` for no pacing (only ``latency``).
        latency: seconds each write waits before its first byte may go on the line.
        quantum: the longest the pacer lets bytes wait for a batch.
    """

    def __init__(
        self,
        loop: LoopClock,
        sink: Callable[[bytes], None],
        *,
        bytes_per_second: float | None,
        latency: float = 0.0,
        quantum: float = QUANTUM,
    ) -> None:
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be positive")
        if latency < 0:
            raise ValueError("latency must not be negative")
        self._loop = loop
        self._sink = sink
        self._rate = bytes_per_second
        self._latency = latency
        self._quantum = quantum
        #: (first byte may start at, data); each chunk's bytes run back to back from max(start, line free)
        self._queue: deque[tuple[float, bytes]] = deque()
        self._head_sent = 0  # bytes of the queue's first chunk already handed on
        self._head_start: float | None = None  # when the first chunk's first byte started on the line
        self._free_at = float("-inf")  # when the line finished (or finishes) the last byte handed on
        self._handle: Any = None
        self._last_release = float("-inf")
        self._pending = 0
        self._blocked = False
        self._closed = False
        #: told True when more than HIGH_WATER bytes wait, False once below LOW_WATER (see join_flow)
        self.flow: Callable[[bool], None] | None = None

    @property
    def pending(self) -> int:
        """Bytes accepted but not yet handed on."""
        return self._pending

    def __call__(self, data: bytes) -> None:
        if self._closed or not data:
            return
        self._queue.append((self._loop.time() + self._latency, bytes(data)))
        self._pending += len(data)
        if not self._blocked and self._pending > HIGH_WATER:
            self._blocked = True
            if self.flow is not None:
                self.flow(True)
        if self._handle is None:
            self._release()

    def close(self) -> None:
        """Drop what is queued and stop (the transport is closing)."""
        self._closed = True
        self._queue.clear()
        self._pending = 0
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _release(self) -> None:
        """Hand on every byte whose stop bit is due by now; re-arm for the next batch."""
        self._handle = None
        now = self._loop.time()
        out = bytearray()
        next_due: float | None = None
        while self._queue:
            ready, data = self._queue[0]
            if self._head_start is None:
                self._head_start = max(ready, self._free_at)
            start = self._head_start
            if self._rate is None:
                if start > now:
                    next_due = start
                    break
                out += data
                self._free_at = start
                self._done_head()
                continue
            # Byte k (0-based) of this chunk ends at start + (k + 1) / rate.
            total = len(data)
            done = min(total, int((now - start) * self._rate + 1e-9))
            if done > self._head_sent:
                out += data[self._head_sent : done]
                self._head_sent = done
                self._free_at = start + done / self._rate
            if done < total:
                next_due = start + (self._head_sent + 1) / self._rate
                break
            self._done_head()
        if out:
            self._last_release = now
            self._pending -= len(out)
            if self._blocked and self._pending < LOW_WATER:
                self._blocked = False
                if self.flow is not None:
                    self.flow(False)
            self._sink(bytes(out))
        if next_due is not None and not self._closed:
            # The quantum bounds how often bytes are released, not how late the first byte of a burst is.
            when = max(next_due, self._last_release + self._quantum) if self._rate else next_due
            self._handle = self._loop.call_at(when, self._release)

    def _done_head(self) -> None:
        self._queue.popleft()
        self._head_sent = 0
        self._head_start = None


def pace_output(
    loop: LoopClock, write: Callable[[bytes], None], *, baud: int | None = None, latency: float = 0.0
) -> Callable[[bytes], None]:
    """The module -> host direction: ``write`` paced at ``baud`` (8N1) after ``latency`` seconds.

    Returns ``write`` itself when neither is asked for.
    """
    if not baud and not latency:
        return write
    return UartPacer(loop, write, bytes_per_second=uart_bytes_per_second(baud) if baud else None, latency=latency)


def pace_input(loop: LoopClock, feed: Callable[[bytes], None], *, baud: int | None = None) -> Callable[[bytes], None]:
    """The host -> module direction: the module hears each byte at its stop bit. ``feed`` itself if no baud."""
    if not baud:
        return feed
    return UartPacer(loop, feed, bytes_per_second=uart_bytes_per_second(baud))


class DelayedDelivery:
    """Delivers link events ``rtt`` seconds late, in order (a network round trip away).

    An event's due time is never before the previous event's, so a
    ``LinkOpened`` delayed by ``open_rtts`` round trips is never overtaken by
    that link's data.

    Args:
        loop: the asyncio loop (or anything with ``time`` and ``call_at``).
        deliver: the driver's ``deliver``.
        rtt: seconds of one round trip.
        open_rtts: round trips a connection's open result (``LinkOpened`` /
            ``LinkOpenFailed``) costs; 1 by default, 3 models TCP + a full TLS 1.2 handshake.
    """

    def __init__(
        self, loop: LoopClock, deliver: Callable[[Event], None], *, rtt: float, open_rtts: float = 1.0
    ) -> None:
        if rtt < 0 or open_rtts < 0:
            raise ValueError("delays must not be negative")
        self._loop = loop
        self._deliver = deliver
        self._rtt = rtt
        self._open_rtts = open_rtts
        self._queue: deque[tuple[float, Event]] = deque()
        self._last_due = float("-inf")
        self._handle: Any = None

    def __call__(self, event: Event) -> None:
        delay = self._rtt * (self._open_rtts if isinstance(event, LinkOpened | LinkOpenFailed) else 1.0)
        due = max(self._loop.time() + delay, self._last_due)
        self._last_due = due
        self._queue.append((due, event))
        if self._handle is None:
            self._handle = self._loop.call_at(due, self._flush)

    def discard(self) -> None:
        """Forget events not yet delivered (the module power-cycled: its sockets are gone)."""
        self._queue.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _flush(self) -> None:
        self._handle = None
        now = self._loop.time()
        while self._queue and self._queue[0][0] <= now:
            _, event = self._queue.popleft()
            self._deliver(event)
        if self._queue and self._handle is None:
            self._handle = self._loop.call_at(self._queue[0][0], self._flush)


def delay_events(
    loop: LoopClock, deliver: Callable[[Event], None], *, rtt: float = 0.0, open_rtts: float = 1.0
) -> Callable[[Event], None]:
    """Link events one network round trip late; ``deliver`` itself when ``rtt`` is 0."""
    if not rtt:
        return deliver
    return DelayedDelivery(loop, deliver, rtt=rtt, open_rtts=open_rtts)


class _FlowJoin:
    """Several back-pressure sources in front of one ``hold``: held while any source is blocked."""

    def __init__(self, hold: Callable[[bool], None]) -> None:
        self._hold = hold
        self._blocked: set[int] = set()
        self._sources = 0

    def source(self) -> Callable[[bool], None]:
        self._sources += 1
        key = self._sources

        def flow(blocked: bool) -> None:
            before = bool(self._blocked)
            if blocked:
                self._blocked.add(key)
            else:
                self._blocked.discard(key)
            if bool(self._blocked) != before:
                self._hold(bool(self._blocked))

        return flow


def join_flow(hold: Callable[[bool], None], write: Callable[[bytes], None]) -> Callable[[bool], None]:
    """The transport's ``flow``: ``hold`` itself, or, when ``write`` is a pacer, a join of both.

    A pacer queues bytes the transport never sees, so without this a slow baud
    would let a fast peer fill memory; with it the peers pause while either
    the pacer or the PTY is behind.
    """
    if not isinstance(write, UartPacer):
        return hold
    join = _FlowJoin(hold)
    write.flow = join.source()
    return join.source()

"""Realistic timing wrappers: UART pacing, answer latency, delayed link events.

Virtual time: :class:`FakeLoop` has the two methods the wrappers use
(``time``, ``call_at``) and runs its timers only in :meth:`FakeLoop.advance`, so
every figure here is exact and instant. One test runs the real loop to show the
wrappers work on asyncio as wired; it waits for bytes, never sleeps.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from emulator.core.events import Event, LinkOpened, PeerDataReceived
from emulator.runtime import pacing
from emulator.runtime.pacing import (
    DelayedDelivery,
    UartPacer,
    delay_events,
    join_flow,
    pace_input,
    pace_output,
    uart_bytes_per_second,
)


class _Handle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """Virtual time: timers fire in due order, only inside advance()."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._timers: list[tuple[float, int, _Handle, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> _Handle:
        handle = _Handle()
        heapq.heappush(self._timers, (when, next(self._seq), handle, callback, args))
        return handle

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, handle, callback, args = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not handle.cancelled:
                callback(*args)
        self.now = target

    def armed(self) -> int:
        return sum(not t[2].cancelled for t in self._timers)


class Sink:
    """Records (time, bytes) of every call."""

    def __init__(self, loop: FakeLoop) -> None:
        self.loop = loop
        self.calls: list[tuple[float, bytes]] = []

    def __call__(self, data: bytes) -> None:
        self.calls.append((self.loop.now, data))

    @property
    def data(self) -> bytes:
        return b"".join(d for _, d in self.calls)


def test_8n1_rate() -> None:
    assert uart_bytes_per_second(115200) == 11520
    assert uart_bytes_per_second(921600) == 92160
    with pytest.raises(ValueError):
        uart_bytes_per_second(0)


def test_no_option_returns_the_callable_itself() -> None:
    loop = FakeLoop()
    sink = Sink(loop)
    assert pace_output(loop, sink) is sink
    assert pace_input(loop, sink) is sink
    assert delay_events(loop, sink) is sink  # type: ignore[arg-type]


def test_each_byte_arrives_at_its_stop_bit_never_earlier() -> None:
    loop = FakeLoop()
    sink = Sink(loop)
    pacer = UartPacer(loop, sink, bytes_per_second=1000, quantum=0.0)  # 1 ms a byte
    start = loop.now
    pacer(b"OK\r\n")
    assert sink.calls == []  # not even the first byte: its stop bit is 1 ms away
    loop.advance(0.0015)
    assert sink.data == b"O"
    loop.advance(0.0025)
    assert sink.data == b"OK\r\n"
    times = [round(t - start, 6) for t, _ in sink.calls]
    assert times == [0.001, 0.002, 0.003, 0.004]


def test_long_transfer_keeps_the_nominal_rate_exactly() -> None:
    loop = FakeLoop()
    sink = Sink(loop)
    rate = uart_bytes_per_second(115200)
    pacer = UartPacer(loop, sink, bytes_per_second=rate)
    payload = bytes(range(256)) * 450  # 115200 bytes: 10 s at 115200 baud
    start = loop.now
    for i in range(0, len(payload), 4096):  # written in bursts, as a transport does
        pacer(payload[i : i + 4096])
    loop.advance(9.99)
    assert len(sink.data) < len(payload)
    loop.advance(0.02)
    assert sink.data == payload
    assert sink.calls[-1][0] - start == pytest.approx(10.0, abs=0.002)
    # Batched: about one release a quantum, not one a byte.
    assert len(sink.calls) <= 10.0 / pacing.QUANTUM + 2


def test_writes_queue_behind_a_busy_line_and_an_idle_line_restarts_now() -> None:
    loop = FakeLoop()
    sink = Sink(loop)
    pacer = UartPacer(loop, sink, bytes_per_second=100, quantum=0.0)  # 10 ms a byte
    start = loop.now
    pacer(b"ab")
    loop.advance(0.005)
    pacer(b"c")  # the line is busy until +20 ms: "c" ends at +30 ms
    loop.advance(0.030)
    assert [(round(t - start, 6), d) for t, d in sink.calls] == [(0.01, b"a"), (0.02, b"b"), (0.03, b"c")]
    loop.advance(1.0)  # idle
    later = loop.now
    pacer(b"d")
    loop.advance(0.010)
    assert sink.calls[-1] == (pytest.approx(later + 0.01), b"d")


def test_latency_delays_every_write_and_keeps_order() -> None:
    loop = FakeLoop()
    sink = Sink(loop)
    out = pace_output(loop, sink, latency=0.05)
    start = loop.now
    out(b"\r\nOK\r\n")
    loop.advance(0.01)
    out(b"\r\n+MIPOPEN: 1,1\r\n")
    loop.advance(0.039)
    assert sink.calls == []
    loop.advance(0.001)
    assert sink.calls == [(pytest.approx(start + 0.05), b"\r\nOK\r\n")]
    loop.advance(0.01)
    assert sink.data == b"\r\nOK\r\n\r\n+MIPOPEN: 1,1\r\n"


def test_latency_and_baud_together() -> None:
    loop = FakeLoop()
    sink = Sink(loop)
    out = pace_output(loop, sink, baud=10_000, latency=0.1)  # 1000 bytes/s
    start = loop.now
    out(b"xyz")
    loop.advance(1)
    assert sink.data == b"xyz"
    assert sink.calls[-1][0] - start == pytest.approx(0.103)


def test_pacer_back_pressure_through_join_flow() -> None:
    loop = FakeLoop()
    sink = Sink(loop)
    held: list[bool] = []
    out = pace_output(loop, sink, baud=115200)
    transport_flow = join_flow(held.append, out)
    out(b"x" * (pacing.HIGH_WATER + 1))
    assert held == [True]
    transport_flow(True)  # the PTY is behind as well: no second hold
    assert held == [True]
    loop.advance(10)  # the pacer drains
    assert sink.data == b"x" * (pacing.HIGH_WATER + 1)
    assert held == [True]  # the transport still holds
    transport_flow(False)
    assert held == [True, False]
    hold = held.append
    assert join_flow(hold, sink) is hold  # no pacer: the plain hold


def test_close_drops_the_queue_and_disarms() -> None:
    loop = FakeLoop()
    sink = Sink(loop)
    pacer = UartPacer(loop, sink, bytes_per_second=10)
    pacer(b"abc")
    pacer.close()
    loop.advance(10)
    pacer(b"d")
    assert sink.calls == [] and pacer.pending == 0


def test_link_events_arrive_one_rtt_late_in_order() -> None:
    loop = FakeLoop()
    got: list[tuple[float, Event]] = []
    deliver = delay_events(loop, lambda e: got.append((loop.now, e)), rtt=0.2, open_rtts=3)
    start = loop.now
    opened = LinkOpened(link_id=1, detail="")
    data = PeerDataReceived(link_id=1, data=b"hi")
    deliver(opened)  # due at +0.6 (three round trips)
    loop.advance(0.1)
    deliver(data)  # would be due at +0.3: must not overtake the open
    loop.advance(0.49)
    assert got == []
    loop.advance(0.01)
    assert [e for _, e in got] == [opened, data]
    assert got[0][0] - start == pytest.approx(0.6)
    deliver(PeerDataReceived(link_id=1, data=b"again"))
    loop.advance(0.2)
    assert got[-1][0] - start == pytest.approx(0.8)


def test_discard_forgets_undelivered_events() -> None:
    loop = FakeLoop()
    got: list[Event] = []
    delayed = DelayedDelivery(loop, got.append, rtt=0.1)
    delayed(PeerDataReceived(link_id=1, data=b"x"))
    delayed.discard()
    loop.advance(1)
    assert got == [] and loop.armed() == 0


def test_on_a_real_loop_the_bytes_come_out_paced() -> None:
    """The wrappers on asyncio itself: 2304 bytes at 230400 baud take 100 ms, not less."""

    async def run() -> float:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        received = bytearray()

        def sink(data: bytes) -> None:
            received.extend(data)
            if len(received) >= 2304 and not done.done():
                done.set_result(loop.time())

        feed = pace_input(loop, sink, baud=230400)
        start = loop.time()
        feed(b"A" * 2304)
        return await asyncio.wait_for(done, 5) - start

    elapsed = asyncio.run(run())
    assert 0.099 <= elapsed < 0.5

"""The runtime's schedulers (one TimerQueue, deadline order, restart, cancel) and how the driver uses them."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from pathlib import Path

import pytest

from emulator.core.actions import Action, CancelTimer, HostInputSeen, PowerCycled, StartTimer, WriteToHost
from emulator.core.clock import ManualClock
from emulator.core.events import TimerExpired
from emulator.runtime.clocks import SystemClock
from emulator.runtime.driver import AsyncioScheduler, ModuleDriver, Scheduler, VirtualScheduler
from emulator.trace import TraceWriter, read_trace


#: (owner, timer, when it fired)
Fired = tuple[str, Hashable, float]


class Owner:
    """Records the timers it is told about, with the time they fired at."""

    def __init__(self, name: str, log: list[Fired], clock: ManualClock | SystemClock) -> None:
        self.name = name
        self.log = log
        self.clock = clock
        self.on_fire: dict[Hashable, object] = {}

    def on_timer(self, key: Hashable) -> None:
        self.log.append((self.name, key, self.clock.monotonic()))
        hook = self.on_fire.get(key)
        if callable(hook):
            hook()


def fired(log: list[tuple[str, Hashable, float]]) -> list[tuple[str, Hashable]]:
    return [(name, key) for name, key, _ in log]


class TestVirtualScheduler:
    def setup_method(self) -> None:
        self.clock = ManualClock()
        self.sched = VirtualScheduler(self.clock)
        self.log: list[tuple[str, Hashable, float]] = []
        self.a = Owner("a", self.log, self.clock)
        self.b = Owner("b", self.log, self.clock)

    def test_fires_in_deadline_order_at_the_deadline(self) -> None:
        self.sched.start(self.a, "late", 12)
        self.sched.start(self.b, "early", 3)
        self.sched.start(self.a, "mid", 5)
        self.sched.advance(20)
        assert self.log == [("b", "early", 3.0), ("a", "mid", 5.0), ("a", "late", 12.0)]
        assert self.clock.monotonic() == 20.0
        assert len(self.sched) == 0

    def test_nothing_fires_before_its_deadline(self) -> None:
        self.sched.start(self.a, "odm", 12)
        self.sched.advance(11.999)
        assert self.log == []
        self.sched.advance(0.001)
        assert fired(self.log) == [("a", "odm")]

    def test_equal_deadlines_fire_in_start_order(self) -> None:
        self.sched.start(self.b, 1, 2)
        self.sched.start(self.a, 2, 2)
        self.sched.start(self.a, 3, 2)
        self.sched.advance(2)
        assert fired(self.log) == [("b", 1), ("a", 2), ("a", 3)]

    def test_restart_moves_the_deadline(self) -> None:
        self.sched.start(self.a, "idle", 12)
        self.sched.advance(10)
        self.sched.start(self.a, "idle", 12)  # activity: the inactivity timer starts over
        self.sched.advance(10)
        assert self.log == []
        self.sched.advance(2)
        assert self.log == [("a", "idle", 22.0)]

    def test_cancel(self) -> None:
        self.sched.start(self.a, "t", 1)
        self.sched.start(self.b, "t", 1)
        self.sched.cancel(self.a, "t")
        self.sched.cancel(self.a, "never started")
        self.sched.advance(5)
        assert fired(self.log) == [("b", "t")]

    def test_cancel_owner_spares_others(self) -> None:
        for key in range(3):
            self.sched.start(self.a, key, 1 + key)
        self.sched.start(self.b, "x", 2)
        self.sched.cancel_owner(self.a)
        self.sched.advance(5)
        assert fired(self.log) == [("b", "x")]

    def test_a_callback_cancelling_a_timer_due_at_the_same_instant(self) -> None:
        self.sched.start(self.a, "first", 1)
        self.sched.start(self.b, "second", 1)
        self.a.on_fire["first"] = lambda: self.sched.cancel(self.b, "second")
        self.sched.advance(1)
        assert fired(self.log) == [("a", "first")]

    def test_a_callback_restarting_a_timer_due_at_the_same_instant(self) -> None:
        self.sched.start(self.a, "first", 1)
        self.sched.start(self.b, "second", 1)
        self.a.on_fire["first"] = lambda: self.sched.start(self.b, "second", 4)
        self.sched.advance(10)
        assert self.log == [("a", "first", 1.0), ("b", "second", 5.0)]

    def test_timers_started_by_callbacks_fire_within_the_window(self) -> None:
        self.sched.start(self.a, 0, 1)
        self.a.on_fire[0] = lambda: self.sched.start(self.a, 1, 1)
        self.a.on_fire[1] = lambda: self.sched.start(self.a, 2, 0)
        self.sched.advance(3)
        assert self.log == [("a", 0, 1.0), ("a", 1, 2.0), ("a", 2, 2.0)]

    def test_time_does_not_go_back(self) -> None:
        with pytest.raises(ValueError):
            self.sched.advance(-1)


def on_running_loop() -> tuple[asyncio.AbstractEventLoop, SystemClock, AsyncioScheduler, list[Fired], Owner, Owner]:
    """Called inside a running loop: a scheduler on it, the firing log and two owners ``a`` and ``b``."""
    loop = asyncio.get_running_loop()
    clock = SystemClock()
    log: list[Fired] = []
    return loop, clock, AsyncioScheduler(loop, clock), log, Owner("a", log, clock), Owner("b", log, clock)


class TestAsyncioScheduler:
    """Real loop, real time, short timers; the test waits on the last timer, never sleeps."""

    def run(self, body: object) -> None:
        asyncio.run(body)  # type: ignore[arg-type]

    def test_order_restart_and_cancel(self) -> None:
        async def body() -> None:
            _, clock, sched, log, a, b = on_running_loop()
            done = asyncio.Event()
            b.on_fire["last"] = done.set
            t0 = clock.monotonic()
            sched.start(a, "third", 0.06)
            sched.start(b, "first", 0.02)
            sched.start(a, "second", 0.04)
            sched.start(a, "cancelled", 0.01)
            sched.start(b, "restarted", 0.01)
            sched.cancel(a, "cancelled")
            sched.start(b, "restarted", 0.05)
            sched.start(b, "last", 0.08)
            await asyncio.wait_for(done.wait(), 5)
            sched.close()
            assert fired(log) == [("b", "first"), ("a", "second"), ("b", "restarted"), ("a", "third"), ("b", "last")]
            expected = [0.02, 0.04, 0.05, 0.06, 0.08]
            for (_, _, when), due in zip(log, expected):
                assert when - t0 >= due - 0.002  # never (meaningfully) early
            assert len(sched) == 0

        self.run(body())

    def test_one_loop_handle_for_many_owners(self) -> None:
        async def body() -> None:
            loop = asyncio.get_running_loop()
            clock = SystemClock()
            sched = AsyncioScheduler(loop, clock)
            log: list[tuple[str, Hashable, float]] = []
            owners = [Owner(str(i), log, clock) for i in range(256)]
            done = asyncio.Event()
            # Same delay for all: deadlines follow start order (ties keep it too), whatever the load.
            for owner in reversed(owners):
                sched.start(owner, "t", 0.01)
            owners[0].on_fire["t"] = done.set  # the latest deadline
            assert len([h for h in loop._scheduled if not h.cancelled()]) == 1  # type: ignore[attr-defined]
            await asyncio.wait_for(done.wait(), 5)
            assert [name for name, _, _ in log] == [str(i) for i in reversed(range(256))]
            sched.close()

        self.run(body())

    def test_cancelling_the_earliest_timer_leaves_the_loop_handle_alone(self) -> None:
        """A data-entry timer is started and cancelled on every +MIPSEND: that must cost no loop handle churn,
        and the handle that then fires early must find nothing due and re-arm for the real deadline."""

        async def body() -> None:
            loop, clock, sched, log, a, b = on_running_loop()
            done = asyncio.Event()
            b.on_fire["late"] = done.set
            t0 = clock.monotonic()
            sched.start(b, "late", 0.05)
            first = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
            for _ in range(100):
                sched.start(a, "entry", 0.01)
                sched.cancel(a, "entry")
            live = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
            assert len(live) == 1 and live != first  # armed once for a's timer, never cancelled since
            assert len(loop._scheduled) == 2  # type: ignore[attr-defined]  # b's first handle, then a's: no churn
            await asyncio.wait_for(done.wait(), 5)
            assert fired(log) == [("b", "late")]
            assert log[0][2] - t0 >= 0.05 - 0.002
            sched.close()

        self.run(body())

    def test_a_failing_owner_does_not_stop_the_others(self, caplog: pytest.LogCaptureFixture) -> None:
        async def body() -> None:
            _, _, sched, _, a, b = on_running_loop()
            done = asyncio.Event()

            def boom() -> None:
                raise RuntimeError("boom")

            a.on_fire["t"] = boom
            b.on_fire["t"] = done.set
            sched.start(a, "t", 0.01)
            sched.start(b, "t", 0.01)
            await asyncio.wait_for(done.wait(), 5)
            sched.close()

        self.run(body())
        assert "boom" in caplog.text


def test_scheduler_base_needs_a_flavour() -> None:
    """The base class queues but never fires: how time passes is the subclass's business."""
    sched = Scheduler(ManualClock())
    assert sched.next_deadline() is None


class ScriptedModule:
    """Stands in for the core: answers each input with the actions a test scripted for it."""

    def __init__(self) -> None:
        self.script: dict[object, list[Action]] = {}
        self.events: list[object] = []
        self._out: list[Action] = []

    def power_on(self) -> None:
        self._out += self.script.get("power_on", [])

    def receive_from_host(self, data: bytes) -> None:
        self.events.append(data)
        self._out += self.script.get(data, [])

    def receive_event(self, event: object) -> None:
        self.events.append(event)
        self._out += self.script.get(event, [])

    def actions_to_perform(self) -> list[Action]:
        out, self._out = self._out, []
        return out


class TestModuleDriverTimers:
    """The driver performs actions in order and routes timers through the shared scheduler."""

    def setup_method(self) -> None:
        self.clock = ManualClock()
        self.sched = VirtualScheduler(self.clock)
        self.module = ScriptedModule()
        self.wire = bytearray()
        self.driver = ModuleDriver(self.module, write=self.wire.extend, scheduler=self.sched)  # type: ignore[arg-type]

    def test_a_timeout_fires_as_a_timer_event_after_virtual_time(self) -> None:
        self.module.script[b"go\r"] = [WriteToHost(data=b"\r\n> "), StartTimer(timer="odm", seconds=12)]
        self.module.script[TimerExpired(timer="odm")] = [WriteToHost(data=b"\r\nERROR\r\n")]
        self.driver.feed(b"go\r")
        assert bytes(self.wire) == b"\r\n> "
        self.sched.advance(11.9)
        assert TimerExpired(timer="odm") not in self.module.events
        self.sched.advance(0.1)
        assert self.module.events[-1] == TimerExpired(timer="odm")
        assert bytes(self.wire) == b"\r\n> \r\nERROR\r\n"

    def test_cancel_and_close(self) -> None:
        self.module.script[b"a"] = [StartTimer(timer=1, seconds=1), StartTimer(timer=2, seconds=2)]
        self.module.script[b"b"] = [CancelTimer(timer=1)]
        self.driver.feed(b"a")
        self.driver.feed(b"b")
        assert len(self.sched) == 1
        self.driver.close()
        assert len(self.sched) == 0
        self.sched.advance(5)
        assert not any(isinstance(e, TimerExpired) for e in self.module.events)

    def test_secret_writes_are_redacted_in_the_trace(self, tmp_path: Path) -> None:
        self.module.script[b"x"] = [
            HostInputSeen(data=b"<file body>"),
            WriteToHost(data=b"-----BEGIN PRIVATE KEY-----", secret=True),
            WriteToHost(data=b"\r\nOK\r\n"),
            PowerCycled(),
        ]
        with TraceWriter(tmp_path / "t.jsonl", clock=self.clock) as trace:
            driver = ModuleDriver(self.module, write=self.wire.extend, scheduler=self.sched, trace=trace)  # type: ignore[arg-type]
            driver.feed(b"x")
        assert bytes(self.wire) == b"-----BEGIN PRIVATE KEY-----\r\nOK\r\n"  # the host gets the real bytes
        records = read_trace(tmp_path / "t.jsonl")
        assert [(r["dir"], r["data"]) for r in records] == [
            ("host", "<file body>"),
            ("module", "<redacted 27 bytes>"),
            ("module", "\r\nOK\r\n"),
        ]
        assert records[0]["t"] == "2026-01-01T00:00:00.000000+00:00"


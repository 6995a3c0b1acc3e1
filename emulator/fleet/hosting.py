"""Emulated modules inside a gevent process (a Locust worker): an asyncio loop on a real OS thread.

Locust runs on gevent and monkey-patches the process at import: ``threading.Thread`` becomes a greenlet,
``selectors.DefaultSelector`` gevent's, locks gevent's. The emulator's runtime is asyncio. Run as is,
``RunningModule``'s "thread" would be a greenlet whose ``run_forever`` never yields to the gevent hub, and
every Locust user would stop. So :class:`ModuleHost` takes the *originals* from gevent
(:func:`gevent.monkey.get_original`: ``_thread.start_new_thread``, ``selectors.EpollSelector``, a real
lock) and runs ONE asyncio loop for all the process's modules on one real OS thread, as ``nl668-emu
--modules N`` does in its own process. The Locust users stay greenlets on the gevent hub, and the two sides
meet only in :class:`FleetLine` and :meth:`ModuleHost.call`:

* greenlet -> loop: ``loop.call_soon_threadsafe`` (asyncio's self-pipe; thread-safe by design);
* loop -> greenlet: the loop thread appends to a buffer under a real lock and, only if a greenlet waits on
  it, queues the line and fires ONE gevent async watcher for the host (``watcher.send()`` is the one gevent
  call that is safe from another thread); its callback, on the hub, sets each queued line's gevent Event.

Why not the modules in a process of their own with the AT lines over sockets: measured (``python
bench/fleet.py design``, 64 modules, closed loop, both processes' CPU counted), that costs 1,400-1,800 µs of
CPU a TLS echo round trip against 280-440 µs here, and gives a fifth to a quarter of the throughput; the
in-process line costs no syscall per AT exchange, and a module is created when Locust spawns a user (no pool
to size in advance). The loop thread and the greenlets share one GIL, so a Locust worker process uses one
core: run one Locust worker per core (``--processes`` or several ``--worker``), as Locust recommends anyway.
"""

from __future__ import annotations

import asyncio
import atexit
import heapq
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final, TypeVar

from gevent import get_hub
from gevent.event import Event
from gevent.monkey import get_original

from ..core.identity import profile_for_unit
from ..core.profile import Profile
from ..profiles import load_profile
from ..runtime.clocks import SystemClock
from ..runtime.driver import AsyncioScheduler
from ..runtime.resolve import Resolver
from ..runtime.station import Station, build_station
from ..transports.memory import MemoryLine

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: module indexes each Locust worker owns (chosen): worker ``w``'s modules are ``w * WORKER_STRIDE + 0, 1, ...``,
#: so identities differ across workers for up to 10,000 modules a worker (one core holds far fewer), and the
#: IMEI's 6-digit serial number (10^6 values) keeps them distinct for up to 100 workers
WORKER_STRIDE: Final = 10_000


def worker_first_index(worker_index: int) -> int:
    """The first module index of Locust worker ``worker_index`` (a negative one, "not told yet": 0)."""
    return max(worker_index, 0) * WORKER_STRIDE

_start_new_thread: Callable[..., int] = get_original("_thread", "start_new_thread")
_allocate_lock: Callable[[], Any] = get_original("_thread", "allocate_lock")
_get_ident: Callable[[], int] = get_original("_thread", "get_ident")


def _selector() -> Any:
    """The kernel's selector, not gevent's (which would start a gevent hub on the loop thread)."""
    for name in ("EpollSelector", "PollSelector", "SelectSelector"):
        try:
            return get_original("selectors", name)()
        except AttributeError:
            continue
    raise RuntimeError("no selector")


class _Waiter:
    """Something a greenlet waits on and the loop thread completes (through the host's watcher)."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = Event()


class FleetLine(MemoryLine):
    """One module's serial line: ``start/write/close/flow`` run on the loop thread; the rest in greenlets.

    :class:`~emulator.transports.memory.MemoryLine`'s buffering, flow control and timeouts, with a real
    lock (gevent's would not exclude the loop thread) and a reader woken through the host's one async
    watcher instead of a thread event (which would block the whole gevent hub).
    """

    def __init__(self, host: ModuleHost) -> None:
        super().__init__(host.loop, lock=_allocate_lock())
        self._host = host
        self._waiter = _Waiter()

    def _clear_wake(self) -> None:
        self._waiter.event.clear()

    def _wait_reader(self, timeout: float | None) -> None:
        self._waiter.event.wait(timeout)

    def _wake_reader(self) -> None:
        self._host.wake(self._waiter)


class FleetPort:
    """The pyserial subset :class:`~emulator.at_client.AtClient` uses, over a :class:`FleetLine`."""

    def __init__(self, line: FleetLine, timeout: float = 1.0) -> None:
        self.line = line
        self.timeout: float | None = timeout

    @property
    def in_waiting(self) -> int:
        return self.line.waiting

    def read(self, size: int = 1) -> bytes:
        return self.line.read(size, self.timeout)

    def write(self, data: bytes) -> int:
        self.line.send(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        self.line.discard()

    def close(self) -> None:
        pass


class ModuleHost:
    """One asyncio loop on a real OS thread, serving every module of this process.

    ``call`` and ``run`` may be used from greenlets (they wait on a gevent event, so other users run
    meanwhile) or from a plain thread that runs the gevent hub (tests, benchmarks).

    Each module gets a module index, which picks its IMEI, IMSI and ICCID (:mod:`emulator.core.identity`):
    by default ``first_index`` plus the lowest slot no live module holds, so a user that Locust stops and
    starts again comes back as the same device, and the indexes stay within the live count. Set
    ``first_index`` (:func:`worker_first_index`) before the first module.
    """

    _shared: ModuleHost | None = None

    def __init__(self, timeout: float = 30.0, *, first_index: int = 0) -> None:
        self.timeout = timeout
        self.first_index = first_index
        self._slots_used = 0  # slots 0 .. _slots_used-1 have been handed out; freed ones wait in _free_slots
        self._free_slots: list[int] = []
        self._index_of: dict[int, tuple[int, int | None]] = {}  # id(station) -> (module index, slot)
        self._slot_lock = _allocate_lock()
        self.errors: list[BaseException] = []
        self.loop = asyncio.SelectorEventLoop(_selector())
        self.loop.set_exception_handler(self._on_loop_error)
        self.clock = SystemClock()
        self.scheduler = AsyncioScheduler(self.loop, self.clock)
        self.modules = 0
        self._lock = _allocate_lock()
        self._ready: list[_Waiter] = []
        self._signalled = False
        self._watcher = get_hub().loop.async_()
        self._watcher.start(self._on_wake)
        self._stopped = _allocate_lock()
        self._stopped.acquire()
        self._closed = False
        self.thread_ident = _start_new_thread(self._run, ())

    @classmethod
    def shared(cls) -> ModuleHost:
        """The process's host, started on first use and stopped at exit."""
        if cls._shared is None or cls._shared._closed:
            cls._shared = cls()
            atexit.register(cls._shared.close)
        return cls._shared

    # --- cross-thread plumbing ----------------------------------------------------------------------

    def wake(self, waiter: _Waiter) -> None:
        """(loop thread) Set ``waiter``'s event on the hub."""
        with self._lock:
            self._ready.append(waiter)
            fire, self._signalled = not self._signalled, True
        if fire:
            self._watcher.send()

    def _on_wake(self) -> None:
        with self._lock:
            ready, self._ready, self._signalled = self._ready, [], False
        for waiter in ready:
            waiter.event.set()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop thread; return its result or raise its exception."""
        if _get_ident() == self.thread_ident:
            return fn(*args)
        waiter = _Waiter()
        box: list[Any] = []

        def run() -> None:
            try:
                box.append((True, fn(*args)))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                box.append((False, exc))
            self.wake(waiter)

        self.loop.call_soon_threadsafe(run)
        if not waiter.event.wait(self.timeout):
            raise TimeoutError(f"the module loop did not run {fn!r} in {self.timeout} s")
        ok, value = box[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def run(self, coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run the coroutine ``coro()`` on the loop; return its result."""
        waiter = _Waiter()
        box: list[Any] = []

        def done(task: asyncio.Task[T]) -> None:
            box.append(task)
            self.wake(waiter)

        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(coro()).add_done_callback(done))
        if not waiter.event.wait(self.timeout):
            raise TimeoutError(f"the module loop did not finish {coro!r} in {self.timeout} s")
        return box[0].result()  # type: ignore[no-any-return]

    # --- modules ------------------------------------------------------------------------------------

    def add(self, profile: str | Profile, *, resolve: Sequence[str] = (), name: str | None = None,
            index: int | None = None) -> tuple[Station, FleetLine]:
        """Build and power on one module behind a new :class:`FleetLine`.

        ``index`` is the module index its identity derives from (default: the host's next free one).
        """
        loaded = load_profile(profile) if isinstance(profile, str) else profile
        resolver = Resolver.from_specs(resolve)

        def build(unit_profile: Profile) -> tuple[Station, FleetLine]:
            line = FleetLine(self)
            self.modules += 1
            station = build_station(self.loop, self.scheduler, unit_profile, line, clock=self.clock,
                                    resolver=resolver, name=name or f"fleet-{self.modules}")
            return station, line

        slot: int | None = None
        if index is None:
            slot = self._take_slot()
            index = self.first_index + slot
        try:
            station, line = self.call(build, profile_for_unit(loaded, index))
        except BaseException:
            self._free_slot(slot)
            raise
        self._index_of[id(station)] = (index, slot)
        return station, line

    def index_of(self, station: Station) -> int:
        """The module index ``station``'s identity derives from."""
        return self._index_of[id(station)][0]

    def remove(self, station: Station) -> None:
        """Power a module off: its line, timers and sockets (waits until the sockets are closed)."""
        self.call(station.close)
        self.run(station.links.wait_closed)
        _, slot = self._index_of.pop(id(station), (0, None))
        self._free_slot(slot)

    def _take_slot(self) -> int:
        with self._slot_lock:
            if self._free_slots:
                return heapq.heappop(self._free_slots)
            slot, self._slots_used = self._slots_used, self._slots_used + 1
        if slot == WORKER_STRIDE:
            logger.warning("more than %d modules in this process: from here on, their identities repeat "
                           "those of the next Locust worker's modules (if there is one)", WORKER_STRIDE)
        return slot

    def _free_slot(self, slot: int | None) -> None:
        if slot is not None:
            with self._slot_lock:
                heapq.heappush(self._free_slots, slot)

    def close(self) -> None:
        """Stop the loop thread (modules still on it are dropped with it)."""
        if self._closed:
            return
        self._closed = True

        def stop() -> None:
            self.scheduler.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        if not self._stopped.acquire(timeout=self.timeout):
            logger.warning("the module loop did not stop in %s s", self.timeout)
            return
        self.loop.close()
        self._watcher.stop()
        self._watcher.close()

    def _run(self) -> None:
        try:
            asyncio.set_event_loop(self.loop)
            self.loop.run_forever()
        finally:
            self._stopped.release()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        self.errors.append(exc if isinstance(exc, BaseException) else RuntimeError(context.get("message")))
        loop.default_exception_handler(context)

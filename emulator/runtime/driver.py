"""Runs one core :class:`~emulator.core.module.Module`: feeds it host bytes and timer events, performs its actions.

Theory of operation. The core is sans-I/O: every input method is followed by a
drain of :meth:`~emulator.core.module.Module.actions_to_perform`, and the actions are performed
strictly in order (order is semantics: ``OK`` before a later URC, a write
before the timer that guards it). Writes go to a host sink, timers to a
:class:`Scheduler` shared by every driver of the process, and the link actions
(``OpenLink``, ``SendToPeer``, ``CloseLink``, ``ResolveName``,
``PauseReading``, and the ``+MPING`` / ``+MIPNTP`` probes ``PingHost``,
``QueryTime``) to the module's :class:`~emulator.runtime.links.PeerLinks`,
whose answers come back through :meth:`ModuleDriver.deliver`.

Events are never fed to the core while it is being drained: an event that
arrives during :meth:`ModuleDriver._perform` (a link answering from inside an
action, say) waits in a queue and is processed right after the current
actions, so the core always sees one input at a time, in arrival order.

The scheduler is a thin layer over :class:`~emulator.core.timers.TimerQueue`,
the one scheduling mechanism of the emulator. :class:`AsyncioScheduler` keeps a
single ``loop.call_at`` handle armed no later than the earliest deadline of
*all* modules, so 256 modules cost one loop handle, not 256, and a cancelled
timer costs no loop work at all. :class:`VirtualScheduler`
moves a :class:`~emulator.core.clock.ManualClock` from deadline to deadline, so
a test of a 12 s timeout runs instantly and in the same order as real time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Protocol, cast

from ..core.actions import (
    Action,
    CancelTimer,
    CloseLink,
    HostInputSeen,
    OpenLink,
    PauseReading,
    PingHost,
    PowerCycled,
    QueryTime,
    ResolveName,
    SendToPeer,
    StartTimer,
    WriteToHost,
    unanswered,
)
from ..core.clock import Clock, ManualClock
from ..core.events import (
    Event,
    LinkClosed,
    LinkOpened,
    LinkOpenFailed,
    NameResolved,
    PeerClosed,
    PeerDataReceived,
    TimerExpired,
)
from ..core.codes import FailureClass
from ..core.commands.ssl import reported_gtsslerr
from ..core.commands.tcpip import describe_link_event
from ..core.module_state import ModuleState
from ..core.timers import TimerQueue

if TYPE_CHECKING:
    from ..trace import TraceWriter

logger = logging.getLogger(__name__)


class Core(Protocol):
    """What the driver needs of the core: :class:`~emulator.core.module.Module` in production, a scripted
    stand-in in tests. A protocol rather than the class, so that a stand-in is one to a type checker and to a
    compiled (mypyc) build alike, which checks a parameter's class at run time."""

    @property
    def state(self) -> ModuleState: ...

    def power_on(self) -> None: ...

    def receive_from_host(self, data: bytes) -> None: ...

    def receive_event(self, event: Event) -> None: ...

    def actions_to_perform(self) -> list[Action]: ...


class LinkEdge(Protocol):
    """What the driver needs of a module's sockets: :class:`~emulator.runtime.links.PeerLinks`
    in production, a recorder in the in-memory harness. Answers come back through
    :meth:`ModuleDriver.deliver`."""

    def perform(self, action: Action) -> None: ...

    def close_all(self) -> None: ...


class TimerOwner(Protocol):
    """Whoever started a timer; told when it expires. Must be hashable (it keys the queue)."""

    def __hash__(self) -> int: ...

    def on_timer(self, key: Hashable) -> None: ...


class Scheduler:
    """Timers of many owners on one clock. Use a subclass: it decides how time passes.

    Timers popped from the queue as due are dispatched one at a time; cancelling
    or restarting one that is due but not yet dispatched (another owner's
    callback did it, a moment earlier at the same instant) takes it back, so an
    owner never hears of a timer it has already cancelled.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._queue = TimerQueue()
        self._due: deque[tuple[Hashable, Hashable]] = deque()

    def __len__(self) -> int:
        """How many timers are armed (not counting due ones being dispatched)."""
        return len(self._queue)

    def start(self, owner: TimerOwner, key: Hashable, seconds: float) -> None:
        """Arm (or re-arm) ``owner``'s timer ``key`` to fire ``seconds`` from now."""
        self._forget_due(owner, key)
        self._queue.start(owner, key, self.clock.monotonic() + max(0.0, seconds))
        self._changed()

    def cancel(self, owner: TimerOwner, key: Hashable) -> None:
        """Disarm ``owner``'s timer ``key``; a no-op if it is not running."""
        self._forget_due(owner, key)
        self._queue.cancel(owner, key)
        # No _changed(): a cancel only moves the earliest deadline later, or leaves none, and a handle armed
        # early fires, finds nothing due and re-arms (AsyncioScheduler._changed). Two cancels a +MIPSEND round
        # trip (the data-entry and push timers) each looked the earliest deadline up for nothing.

    def cancel_owner(self, owner: TimerOwner) -> None:
        """Disarm every timer of ``owner`` (it is going away)."""
        self._due = deque(item for item in self._due if item[0] != owner)
        self._queue.cancel_owner(owner)
        self._changed()

    def next_deadline(self) -> float | None:
        """The earliest deadline on ``clock.monotonic()``, or ``None``."""
        return self._queue.next_deadline()

    def _forget_due(self, owner: Hashable, key: Hashable) -> None:
        if self._due:
            try:
                self._due.remove((owner, key))
            except ValueError:
                pass

    def _dispatch_due(self, now: float) -> None:
        self._due.extend(self._queue.pop_due(now))
        while self._due:
            owner, key = self._due.popleft()
            self._fire(owner, key)

    def _fire(self, owner: Hashable, key: Hashable) -> None:
        cast(TimerOwner, owner).on_timer(key)

    def _changed(self) -> None:
        """The earliest deadline may have moved."""


class AsyncioScheduler(Scheduler):
    """Timers on an asyncio loop, with one ``call_at`` handle for the earliest deadline.

    All methods must be called on the loop's thread.

    Args:
        loop: the loop that runs the modules.
        clock: the clock deadlines are measured on; :class:`SystemClock` shares
            ``time.monotonic`` with the loop, so no drift creeps in.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Clock) -> None:
        super().__init__(clock)
        self._loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._armed: float | None = None
        self._dispatching = False

    def close(self) -> None:
        """Disarm the loop handle (timers stay queued but will not fire)."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed = None

    def _changed(self) -> None:
        if self._dispatching:
            return  # re-armed once, after the dispatch
        deadline = self._queue.next_deadline()
        if deadline is None:
            return  # an armed handle may fire for nothing; cheaper than cancelling it on every idle moment
        if self._handle is not None and self._armed is not None and self._armed <= deadline:
            # Armed early enough. When the earliest timer was cancelled or restarted later (a data-entry
            # timer on every +MIPSEND, 256 modules at once), the handle fires early, finds nothing due and
            # re-arms: one wasted wake-up instead of a cancel and a call_at per timer change.
            return
        self.close()
        # Convert through "seconds from now" so any Clock works; with SystemClock this is the identity.
        when = self._loop.time() + (deadline - self.clock.monotonic())
        self._handle = self._loop.call_at(when, self._on_handle)
        self._armed = deadline

    def _on_handle(self) -> None:
        armed = self._armed
        self._handle = None
        self._armed = None
        # The loop may run a handle up to its clock resolution early: the armed deadline counts as reached.
        now = self.clock.monotonic() if armed is None else max(self.clock.monotonic(), armed)
        self._dispatching = True
        try:
            self._dispatch_due(now)
        finally:
            self._dispatching = False
            self._changed()

    def _fire(self, owner: Hashable, key: Hashable) -> None:
        # One faulty owner must not stop the others' timers.
        try:
            super()._fire(owner, key)
        except Exception:
            logger.exception("timer %r of %r failed", key, owner)


class VirtualScheduler(Scheduler):
    """Timers on a :class:`ManualClock` that moves only in :meth:`advance`.

    Exceptions from owners propagate, so a test sees them.
    """

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self._manual = clock

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: step the clock to each due deadline in turn and fire its timers.

        Timers started by the callbacks fire too if they fall within the window.
        """
        if seconds < 0:
            raise ValueError("time does not go back")
        target = self._manual.monotonic() + seconds
        while (deadline := self._queue.next_deadline()) is not None and deadline <= target:
            self._step_to(deadline)
            self._dispatch_due(deadline)
        self._step_to(target)

    def _step_to(self, when: float) -> None:
        # max(): float sums may leave the clock a hair past ``when``.
        self._manual.advance(max(0.0, when - self._manual.monotonic()))


class ModuleDriver:
    """Owns one core (:class:`~emulator.core.module.Module`) and performs its actions.

    Not thread-safe: call it from the thread that runs ``scheduler`` (the loop
    thread under asyncio).

    Args:
        module: the core to run.
        write: the host sink (a transport's ``write``).
        scheduler: the scheduler shared by every driver of the process.
        trace: where host and module bytes are recorded, if anywhere. Build the
            module with ``trace_input=True`` for the host direction to appear.
        name: how logs call this module (the device path, say).
        links: the module's sockets; set it (or :attr:`links`) before the first
            link action. Without it, sockets fail to open and names do not
            resolve, so the core never waits for an answer that cannot come.
    """

    def __init__(
        self,
        module: Core,
        *,
        write: Callable[[bytes], None],
        scheduler: Scheduler,
        trace: TraceWriter | None = None,
        name: str = "",
        links: LinkEdge | None = None,
    ) -> None:
        self.module = module
        self.name = name or f"module@{id(self):x}"
        self.links = links
        self._write = write
        self._scheduler = scheduler
        self._trace = trace
        self._events: deque[Event] = deque()
        self._performing = False

    def __repr__(self) -> str:
        return f"<ModuleDriver {self.name}>"

    def start(self) -> None:
        """Power the module on (its boot URCs go out)."""
        self.module.power_on()
        self._perform()

    def feed(self, data: bytes) -> None:
        """Give the module bytes the host sent."""
        self.module.receive_from_host(data)
        self._perform()

    def on_timer(self, key: Hashable) -> None:
        """Called by the scheduler when timer ``key`` of this module expires."""
        self.module.receive_event(TimerExpired(timer=key))
        self._perform()

    def deliver(self, event: Event) -> None:
        """Give the module an event from the edge (a link's answer); its actions are performed at once.

        Safe to call from inside an action: the event then waits until the
        actions being performed are done.
        """
        self._events.append(event)
        self._perform()

    def close(self) -> None:
        """Stop the module's timers and abort its sockets; the module is dropped."""
        self._scheduler.cancel_owner(self)
        if self.links is not None:
            self.links.close_all()

    def _perform(self) -> None:
        """Perform the core's actions in order, then feed it the queued events one by one."""
        if self._performing:
            return  # the outer call picks up the new actions and events
        self._performing = True
        try:
            while True:
                actions = self.module.actions_to_perform()
                if actions:
                    for action in actions:
                        self._do(action)
                elif self._events:
                    event = self._events.popleft()
                    self.module.receive_event(event)
                    self._why(event)
                else:
                    break
        finally:
            self._performing = False

    def _why(self, event: Event) -> None:
        """The "why" side channel: the reason behind a delivered link event, to the log and the trace."""
        text = describe_link_event(event)
        if text is None:
            if self._trace is not None:
                self._trace_event(self._trace, event)
            return
        logger.info("%s why: %s", self.name, text)
        if self._trace is not None:
            self._trace.why(text, **_why_fields(event, self.module.state))

    @staticmethod
    def _trace_event(trace: TraceWriter, event: Event) -> None:
        """Trace records of the other socket events, for the trace view: sizes only, never payload."""
        match event:
            case PeerDataReceived(link_id=link_id, data=data):
                trace.net(link_id, "recv", f"received {len(data)} bytes", bytes=len(data))
            case LinkClosed(link_id=link_id):
                trace.net(link_id, "closed", f"socket {link_id} closed")

    @staticmethod
    def _trace_action(trace: TraceWriter, action: Action) -> None:
        """Trace records of the link actions, for the trace view: sizes only, never payload."""
        match action:
            case OpenLink(link_id=link_id, host=host, port=port, protocol=protocol):
                trace.net(link_id, "open", f"open {protocol.name} {host}:{port}", host=host, port=port,
                          proto=protocol.name)
            case SendToPeer(link_id=link_id, data=data):
                trace.net(link_id, "send", f"sent {len(data)} bytes", bytes=len(data))
            case CloseLink(link_id=link_id):
                trace.net(link_id, "close", f"close socket {link_id}")

    def _do(self, action: Action) -> None:
        match action:
            case WriteToHost(data=data, secret=secret):
                shown = f"<redacted {len(data)} bytes>".encode() if secret else data
                logger.debug("%s module->host %r", self.name, shown)
                if self._trace is not None:
                    self._trace.module(shown)
                self._write(data)
            case StartTimer(timer=timer, seconds=seconds):
                self._scheduler.start(self, timer, seconds)
            case CancelTimer(timer=timer):
                self._scheduler.cancel(self, timer)
            case HostInputSeen(data=data):
                logger.debug("%s host->module %r", self.name, data)
                if self._trace is not None:
                    self._trace.host(data)
            case PowerCycled():
                logger.info("%s power-cycled", self.name)
                if self.links is not None:
                    self.links.close_all()
            case OpenLink() | SendToPeer() | CloseLink() | ResolveName() | PauseReading() | PingHost() | QueryTime():
                if self._trace is not None:
                    self._trace_action(self._trace, action)
                if self.links is not None:
                    self.links.perform(action)
                else:
                    self._answer_without_links(action)
            case _:
                # A newer core than this driver: say so loudly, keep serving the rest.
                logger.error("%s: no handler for action %r", self.name, action)

    def _answer_without_links(
        self, action: OpenLink | SendToPeer | CloseLink | ResolveName | PauseReading | PingHost | QueryTime
    ) -> None:
        """No network at all: answer what the core would otherwise wait for."""
        match action:
            case OpenLink(link_id=link_id):
                self._events.append(LinkOpenFailed(link_id=link_id, why="no network (driver without links)"))
            case CloseLink(link_id=link_id):
                self._events.append(LinkClosed(link_id=link_id))
            case ResolveName(query=query):
                self._events.append(NameResolved(query=query, addresses=()))
            case PingHost() | QueryTime():
                self._events.append(unanswered(action, "no network (driver without links)"))
            case _:
                logger.debug("%s: %r dropped (no links)", self.name, action)


def _why_fields(event: Event, state: ModuleState) -> dict[str, object]:
    """The optional fields of a "why" record (trace.py): which socket, what happened, the code.

    The code is the one the host reads with ``AT+GTSSLERR?``: the engine's NL668 code through the
    profile's ``[gtsslerr]`` table (an L610 shows -11 where an NL668 shows 45).
    """
    match event:
        case LinkOpened(link_id=link_id):
            return {"sock": link_id, "ev": "opened"}
        case LinkOpenFailed(link_id=link_id, gtsslerr=code, failure=failure):
            return {"sock": link_id, "ev": "open_failed", "gtsslerr": _reported(state, code, failure)}
        case PeerClosed(link_id=link_id, gtsslerr=code, failure=failure, reset=reset):
            return {"sock": link_id, "ev": "peer_closed", "gtsslerr": _reported(state, code, failure), "reset": reset}
    return {}


def _reported(state: ModuleState, code: int | None, failure: FailureClass | None) -> int | None:
    return None if code is None else reported_gtsslerr(state, code, failure)

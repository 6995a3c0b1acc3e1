"""One emulated module: bytes and events in, one ordered list of actions out.

Theory of operation. :meth:`Module.receive_from_host` feeds the
:class:`~emulator.core.at_reader.AtReader`; each complete line is parsed
(:mod:`~emulator.core.at_syntax`) and its commands run one after the other
through the command table. Every command line gets exactly one final result
code: ``OK`` once all its commands succeed, or ``ERROR`` / ``+CME ERROR`` at
the first refusal (V.250 §5.6: the rest of the line is not executed). A
command that needs a data block (``+GTSSLFILE``, ``+MIPSEND``) suspends the
line: the module shows the prompt, the reader collects the block, an
inactivity timer guards it, and the line carries on when the block is
complete. A command whose answer depends on the network (``+MIPDNS``)
suspends the line until the edge's event arrives.

While a line is suspended, URCs and received data wait and go out after its
final result code, so they never land inside an answer or a data entry.
Events from the edge (sockets, timers) go to :mod:`.commands.tcpip`, which
turns them into URCs.

After any input method, call :meth:`actions_to_perform` and carry the actions
out in order. The module does no I/O, starts no thread and reads time only from
the injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from .actions import Action, CancelTimer, HostInputSeen, PowerCycled, StartTimer, WriteToHost
from .at_reader import AtReader, DataReceived, LineOverflow, LineReceived, RepeatLast, Typed
from .at_syntax import AtSyntaxError, CommandCall, parse_line_cached, split_prefix
from .clock import Clock
from .codes import CmeError
from .command_table import CommandTable, DataRequest, Outcome, Reply, Unsolicited, WaitRequest
from . import control
from .commands import COMMAND_TABLE, on_event, tcpip
from .errors import CommandError
from .events import ControlEvent, Event, TimerExpired
from .module_state import ModuleClock, ModuleState
from .profile import Profile

log = logging.getLogger(__name__)


class Timer(Enum):
    """The module's own timers (socket timers will join them)."""

    DATA_ENTRY = "data-entry"  #: manual §1.1.4: 12 s without a byte after '>' -> ERROR
    REBOOT = "reboot"  #: a reset keeps the module deaf for profile boot.reboot_s


@dataclass(slots=True)
class _LineRun:
    """A command line being executed; it may wait for a data block half-way."""

    calls: Sequence[CommandCall]
    next_index: int = 0
    urcs: list[Unsolicited] = field(default_factory=list)
    reset: bool = False


@dataclass(slots=True)
class _DataEntry:
    """A data block being collected for ``request``, and the line to resume after it."""

    request: DataRequest
    run: _LineRun
    received: bytearray = field(default_factory=bytearray)


@dataclass(slots=True)
class _Waiting:
    """A line suspended until an edge event answers ``request``."""

    request: WaitRequest
    run: _LineRun


class Module:
    """An emulated NL668/M910 module (one serial line).

    Args:
        profile: the product variant.
        clock: the host's time; the module clock (+CCLK) runs as an offset from it.
        strict: re-raise unexpected handler exceptions instead of answering ERROR
            (tests use it so bugs cannot hide behind an ERROR).
        trace_input: also emit :class:`HostInputSeen` actions, with uploaded
            file bodies redacted, for ``--trace``.
        initial_clock: the module clock at power-on (``--clock``); default the host's UTC time.
        table: the command table (the firmware's, unless a test wants another).
    """

    def __init__(
        self,
        profile: Profile,
        clock: Clock,
        *,
        strict: bool = False,
        trace_input: bool = False,
        initial_clock: datetime | None = None,
        table: CommandTable = COMMAND_TABLE,
    ) -> None:
        self.profile = profile
        self.state = ModuleState(profile, ModuleClock(clock, initial_clock))
        self._table = table
        self._strict = strict
        self._trace_input = trace_input
        self._reader = AtReader(
            self.state.v250, profile.at.line_max, lf_is_terminator=profile.at.data_after_cr == "lf-is-terminator"
        )
        self._actions: list[Action] = []
        self._last_line = b""
        self._entry: _DataEntry | None = None
        self._waiting: _Waiting | None = None
        self._held: list[Unsolicited] = []  # URCs that wait for a suspended line to finish
        self._held_input = bytearray()  # bytes typed while a line waits for the network, not yet read
        self._booting = False

    # --- the public surface ----------------------------------------------------------------------

    def power_on(self) -> None:
        """Announce power-on: the profile's boot URCs. Call once, after construction."""
        for urc in self.profile.boot.urcs:
            self._write(self.state.v250.urc(urc))

    def receive_from_host(self, data: bytes) -> None:
        """Bytes the host wrote to the serial line. Then call :meth:`actions_to_perform`."""
        if self._booting:  # a rebooting module hears nothing
            self._trace(data)
            return
        if self._waiting is not None:
            # A busy module reads nothing more until the answer is out (then it reads these in
            # order, so a data block typed behind its command still lands after the prompt).
            self._held_input += data
            return
        for event in self._reader.feed(data):
            if isinstance(event, Typed):
                self._trace(event.data)
                if self.state.v250.echo and event.data:
                    self._write(event.data)
            elif isinstance(event, LineReceived):
                self._on_line(event.text)
            elif isinstance(event, DataReceived):
                self._on_data(event)
            elif isinstance(event, RepeatLast):
                self._on_line(self._last_line, repeat=True)
            elif isinstance(event, LineOverflow):
                self._write(self.state.v250.error(None))
            if self._suspended():
                self._held_input += data[self._reader.resume_at :]
                break

    def receive_event(self, event: Event) -> None:
        """Something happened at the edge (a timer, a socket). Then call :meth:`actions_to_perform`."""
        if isinstance(event, TimerExpired) and isinstance(event.timer, Timer):
            if event.timer is Timer.DATA_ENTRY and self._entry is not None:
                self._abandon_entry()
            elif event.timer is Timer.REBOOT and self._booting:
                self._booting = False
                self.power_on()
            return
        if isinstance(event, ControlEvent):  # the console's verbs (emulator.console)
            result = control.apply(self.state, event)
            self._actions.extend(result.actions)
            if result.power_cycle:
                self._power_cycle()
            else:
                self._say(result.said)
            return
        outcome = self._guarded_event(event)
        self._actions.extend(outcome.actions)
        waiting = self._waiting
        if waiting is not None and waiting.request.matches(event):
            # What this event makes the module say belongs to the waiting command's answer.
            self._say_now(outcome.said)
            self._waiting = None
            reply = self._guarded(lambda: waiting.request.on_event(event))
            if reply is None:
                self._finish(waiting.run, ok=False)
            elif self._take(waiting.run, reply):
                self._continue(waiting.run)
            if self._entry is not None:
                # The line went on to a '>' prompt: what the host typed meanwhile starts that block
                # (the LF of the line's CR LF first). A finished line has already read it (_finish).
                self._read_typed_ahead()
        else:
            self._say(outcome.said)

    def _suspended(self) -> bool:
        """A line waits for the network. A method, not the attribute read inline: the check at the top of
        receive_from_host narrows ``_waiting`` to None for the type checker, which does not see the line
        handlers set it, and a compiled build (mypyc) would trust that narrowing."""
        return self._waiting is not None

    def actions_to_perform(self) -> list[Action]:
        """Drain the actions queued by the inputs so far, in the order they must be done."""
        actions, self._actions = self._actions, []
        return actions

    def module_time(self) -> datetime:
        """The module's clock now (UTC): what certificate validity is judged by."""
        return self.state.clock.utc_now()

    # --- command lines ---------------------------------------------------------------------------

    def _on_line(self, text: bytes, *, repeat: bool = False) -> None:
        line = text.decode("latin-1")
        body = split_prefix(line)
        if body is None:
            # No AT anywhere (the reader already dropped junk before one): V.250 §5.2.1 ignores the
            # line; some builds answer ERROR.
            if line.strip(" \t\0") and self.profile.at.non_at_line == "error":
                self._write(self.state.v250.error(None))
            elif repeat:  # "A/" before any command line: an empty AT
                self._write(self.state.v250.ok())
            return
        self._last_line = text
        try:
            calls = parse_line_cached(body)
        except AtSyntaxError as exc:
            log.debug("syntax error: %s", exc)
            self._write(self.state.v250.error(None))
            return
        self._continue(_LineRun(calls))

    def _continue(self, run: _LineRun) -> None:
        """Run the line's remaining commands; stop at a refusal or a data request."""
        while run.next_index < len(run.calls):
            call = run.calls[run.next_index]
            run.next_index += 1
            reply = self._guarded(lambda: self._dispatch(call))
            if reply is None:
                self._finish(run, ok=False)
                return
            if not self._take(run, reply):
                return
        self._finish(run, ok=True)

    def _take(self, run: _LineRun, reply: Reply) -> bool:
        """Emit a reply's text and remember its effects; False when it suspends the line."""
        self._write(self.state.v250.info(reply.lines))
        self._write(reply.raw)
        self._actions.extend(reply.actions)
        run.urcs.extend(reply.urcs)
        run.reset = run.reset or reply.reset
        if reply.wait is not None:
            self._waiting = _Waiting(reply.wait, run)
            return False
        if reply.data is None:
            return True
        self._entry = _DataEntry(reply.data, run)
        self._reader.expect_data(reply.data.length)
        self._write(self.profile.at.prompt.encode("latin-1"))
        self._actions.append(StartTimer(timer=Timer.DATA_ENTRY, seconds=self.profile.files.data_timeout_s))
        return False

    def _finish(self, run: _LineRun, *, ok: bool) -> None:
        if ok:
            self._write(self.state.v250.ok())
        self._say_now(run.urcs)
        held, self._held = self._held, []
        self._say_now(held)
        if run.reset:
            self._power_cycle()
            return
        self._read_typed_ahead()

    def _read_typed_ahead(self) -> None:
        """Read the bytes held while the module waited for the network, now that it no longer does."""
        if self._held_input and self._waiting is None:
            typed_ahead = bytes(self._held_input)
            self._held_input.clear()
            self.receive_from_host(typed_ahead)

    def _dispatch(self, call: CommandCall) -> Reply:
        spec = self._table.lookup(call.name)
        if spec is None or call.form not in spec.forms:
            raise CommandError(None, f"no {call.form.value} form of {call.name}")
        return spec.forms[call.form].handler(self.state, call)

    def _guarded_event(self, event: Event) -> Outcome:
        try:
            return on_event(self.state, event)
        except Exception:
            if self._strict:
                raise
            log.exception("event %r failed; dropped", event)
            return Outcome()

    def _guarded(self, step: Callable[[], Reply]) -> Reply | None:
        """Run a handler step; a refusal or a bug becomes the final result code (None)."""
        try:
            return step()
        except CommandError as exc:
            log.debug("refused: %s", exc)
            self._write(self.state.v250.error(exc.cme))
        except Exception:
            if self._strict:
                raise
            log.exception("handler failed; answering ERROR and serving on")
            self._write(self.state.v250.error(CmeError.UNKNOWN))
        return None

    # --- data entry (the '>' prompt) -------------------------------------------------------------

    def _on_data(self, event: DataReceived) -> None:
        entry = self._entry
        assert entry is not None, "the reader is in data mode only while an entry is open"
        self._trace(f"<redacted {len(event.data)} bytes>".encode() if entry.request.secret else event.data)
        if self.profile.at.echo_data and self.state.v250.echo:
            self._actions.append(WriteToHost(data=event.data, secret=entry.request.secret))
        entry.received += event.data
        if not event.last:
            # An inactivity timeout: every byte that arrives restarts it.
            self._actions.append(StartTimer(timer=Timer.DATA_ENTRY, seconds=self.profile.files.data_timeout_s))
            return
        self._actions.append(CancelTimer(timer=Timer.DATA_ENTRY))
        self._entry = None
        data = bytes(entry.received)
        entry.received.clear()  # the block may be a private key: keep no stray copy
        reply = self._guarded(lambda: entry.request.on_data(data))
        if reply is None:
            self._finish(entry.run, ok=False)
        elif self._take(entry.run, reply):
            self._continue(entry.run)

    def _abandon_entry(self) -> None:
        entry = self._entry
        assert entry is not None
        self._entry = None
        entry.received.clear()
        self._reader.abandon_data()
        log.debug("data entry timed out; nothing stored")
        self._write(self.state.v250.error(CmeError.UNKNOWN))
        self._finish(entry.run, ok=False)

    # --- power ---------------------------------------------------------------------------------

    def _power_cycle(self) -> None:
        if self._entry is not None:
            self._entry.received.clear()
            self._entry = None
            self._actions.append(CancelTimer(timer=Timer.DATA_ENTRY))
        for link_id in self.state.links:
            self._actions.extend(
                CancelTimer(timer=timer) for timer in (tcpip.open_timer(link_id), tcpip.push_timer(link_id))
            )
        self._waiting = None
        self._held.clear()
        self._held_input.clear()
        self._reader.reset()
        self.state.power_cycle()
        self._actions.append(PowerCycled())
        if self.profile.boot.reboot_s > 0:
            self._booting = True
            self._actions.append(StartTimer(timer=Timer.REBOOT, seconds=self.profile.boot.reboot_s))
        else:
            self.power_on()

    # --- output ----------------------------------------------------------------------------------

    def _say(self, said: Sequence[Unsolicited]) -> None:
        """Unsolicited output: now, or after the suspended line's final result code."""
        if self._booting:
            return
        if self._entry is not None or self._waiting is not None:
            self._held.extend(said)
        else:
            self._say_now(said)

    def _say_now(self, said: Sequence[Unsolicited]) -> None:
        for item in said:
            self._write(self.state.v250.urc(item) if isinstance(item, str) else item)

    def _write(self, data: bytes) -> None:
        if data:
            self._actions.append(WriteToHost(data=data))

    def _trace(self, data: bytes) -> None:
        if self._trace_input and data:
            self._actions.append(HostInputSeen(data=data))


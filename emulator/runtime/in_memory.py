"""A module in memory, on a virtual clock: no PTY, no thread, no waiting.

The same :class:`~emulator.runtime.driver.ModuleDriver` as in production runs
the core; only the clock (a :class:`ManualClock`) and the host side (a byte
buffer) differ, so a 12 s timeout is tested by :meth:`InMemoryModule.advance`.
"""

from __future__ import annotations

from datetime import datetime

from ..core.actions import Action
from ..core.clock import ManualClock
from ..core.events import Event
from ..core.module import Module
from ..core.profile import Profile
from ..profiles import DEFAULT_PROFILE, load_profile
from .driver import ModuleDriver, VirtualScheduler


class RecordedLinks:
    """The socket edge of an in-memory module: it records what the core asks for.

    Tests answer with events (``InMemoryModule.event``), which is the core's
    own interface: no socket is faked, the core simply has none.
    """

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.closed_all = 0

    def perform(self, action: Action) -> None:
        self.actions.append(action)

    def close_all(self) -> None:
        self.closed_all += 1

    def take(self) -> list[Action]:
        actions, self.actions = self.actions, []
        return actions


class InMemoryModule:
    """One powered-on module whose output is collected in a buffer.

    Args:
        profile: a profile name (case-insensitive) or a :class:`Profile`.
        host_time: the host's UTC time at start (the virtual clock's origin).
        initial_clock: the module clock at power-on (``--clock``), default the host time.
        strict: re-raise handler bugs (the default here: tests want to see them).
        trace_input: build the module with ``trace_input`` (see :class:`Module`).
    """

    def __init__(
        self,
        profile: str | Profile = DEFAULT_PROFILE,
        *,
        host_time: datetime | None = None,
        initial_clock: datetime | None = None,
        strict: bool = True,
        trace_input: bool = False,
    ) -> None:
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self.clock = ManualClock(host_time)
        self.scheduler = VirtualScheduler(self.clock)
        self.module = Module(
            self.profile, self.clock, strict=strict, trace_input=trace_input, initial_clock=initial_clock
        )
        self._out = bytearray()
        self.links = RecordedLinks()
        self.driver = ModuleDriver(self.module, write=self._out.extend, scheduler=self.scheduler, links=self.links)
        self.driver.start()

    def take(self) -> bytes:
        """Everything the module wrote since the last take."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def send(self, data: bytes) -> bytes:
        """Feed host bytes; return what the module wrote in answer."""
        self.driver.feed(data)
        return self.take()

    def command(self, line: str) -> bytes:
        """Send one command line with CR; return the answer."""
        return self.send(line.encode("latin-1") + b"\r")

    def event(self, event: Event) -> bytes:
        """Deliver an edge event (a socket opened, data arrived...); return what the module wrote."""
        self.driver.deliver(event)
        return self.take()

    def advance(self, seconds: float) -> bytes:
        """Let virtual time pass (timers fire); return what the module wrote meanwhile."""
        self.scheduler.advance(seconds)
        return self.take()

"""PLACEHOLDER while the core is written: answers every line with OK."""
from __future__ import annotations
from .actions import Action, WriteToHost
from .clock import Clock
from .events import Event
from .profile import Profile

class Module:
    def __init__(self, profile: Profile, clock: Clock, *, strict: bool = False, trace_input: bool = False) -> None:
        self.profile = profile
        self._clock = clock
        self._actions: list[Action] = []
        self._buf = b""
    def power_on(self) -> None:
        for u in self.profile.boot.urcs:
            self._actions.append(WriteToHost(data=b"\r\n" + u.encode() + b"\r\n"))
    def receive_from_host(self, data: bytes) -> None:
        self._actions.append(WriteToHost(data=data))
        self._buf += data
        while b"\r" in self._buf:
            _, self._buf = self._buf.split(b"\r", 1)
            self._actions.append(WriteToHost(data=b"\r\nOK\r\n"))
    def receive_event(self, event: Event) -> None:
        pass
    def actions_to_perform(self) -> list[Action]:
        a, self._actions = self._actions, []
        return a

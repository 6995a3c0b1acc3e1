"""The console's verbs inside the core: what a changed world makes the module do and say.

Why here and not in the console: the console lives at the edge and must not
reach into module state, but a dropped PDP context or a new signal level
changes state the command handlers read and produces URCs whose framing and
ordering (after a suspended line's result code) only the core knows. So the
console sends events (:data:`~emulator.core.events.ControlEvent`) and this
module turns them into state changes, URCs and actions, like any other input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .actions import Action
from .command_table import Unsolicited
from .commands.tcpip import deactivate_pdp  # the same teardown as AT+MIPCALL=0 and AT+CGACT=0
from .events import ClockSet, ControlEvent, NetworkChanged, PdpDropped, PowerCycleRequested, UrcInjected
from .module_state import ModuleState


@dataclass(slots=True)
class ControlOutcome:
    """What a control event asks of the module: URCs to say, actions, and whether to reboot."""

    said: list[Unsolicited] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    power_cycle: bool = False


def apply(m: ModuleState, event: ControlEvent) -> ControlOutcome:
    """Change ``m`` for ``event``; the caller says the URCs and performs the actions in order."""
    out = ControlOutcome()
    match event:
        case PowerCycleRequested():
            out.power_cycle = True
        case ClockSet(utc=utc):
            m.clock.set_utc(utc)
        case NetworkChanged():
            _network_changed(m, event, out)
        case PdpDropped():
            if m.pdp_active:
                # As AT+MIPCALL=0 does (chosen): the sockets go first, each reported +MIPSTAT: <s>,1.
                dropped = deactivate_pdp(m)
                out.actions.extend(dropped.actions)
                out.said.extend(dropped.urcs)
                out.said.append("+MIPCALL: 0")
        case UrcInjected(text=text):
            out.said.append(text)
    return out


def _network_changed(m: ModuleState, event: NetworkChanged, out: ControlOutcome) -> None:
    if event.rssi is not None:
        m.rssi_override = event.rssi
    if event.ber is not None:
        m.ber_override = event.ber
    if event.registration is not None and event.registration != m.registration_override:
        m.registration_override = event.registration
        if m.cfun == 1:
            # 27.007 §7.2: with <n>=1 (or 2) a change of <stat> is reported as +CREG: <stat>.
            out.said.extend(f"{name}: {event.registration}" for name, n in m.reg_urc_mode.items() if n >= 1)

"""The firmware's command table: read it as the manual.

``COMMAND_TABLE`` is built once at import from the per-chapter lists; the
module looks commands up by name and dispatches on their form. Events from the
edge go through :func:`on_event` to the chapter whose action or timer they answer.
"""

from __future__ import annotations

from ..command_table import CommandTable, Outcome
from ..events import Event
from ..module_state import ModuleState
from . import basic, general, netdiag, ssl, tcpip

COMMAND_TABLE = CommandTable(
    [*basic.COMMANDS, *general.COMMANDS, *ssl.COMMANDS, *tcpip.COMMANDS, *netdiag.COMMANDS]
)


def on_event(m: ModuleState, event: Event) -> Outcome:
    """Hand an edge event (or a timer) to the chapter whose action or timer it answers."""
    return netdiag.on_event(m, event) if netdiag.owns(event) else tcpip.on_event(m, event)


__all__ = ["COMMAND_TABLE", "on_event"]

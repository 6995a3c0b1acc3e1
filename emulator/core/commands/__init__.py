"""The firmware's command table: read it as the manual.

``COMMAND_TABLE`` is built once at import from the per-chapter lists; the
module looks commands up by name and dispatches on their form.
"""

from __future__ import annotations

from ..command_table import CommandTable
from . import basic, general, ssl, tcpip

COMMAND_TABLE = CommandTable([*basic.COMMANDS, *general.COMMANDS, *ssl.COMMANDS, *tcpip.COMMANDS])

__all__ = ["COMMAND_TABLE"]

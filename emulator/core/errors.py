"""The emulator's exception tree.

::

    EmulatorError
     +-- CommandError      a command is refused; carries the +CME ERROR code (or None: plain ERROR)
     +-- ProfileError      a profile file is invalid; names the file and the field path

Host input never raises out of the core: ``CommandError`` becomes a final
result code in ``at_replies``; any other exception from a handler becomes
``ERROR`` too (and is re-raised when the module runs in strict mode, as tests do).
"""

from __future__ import annotations

from .codes import CmeError


class EmulatorError(Exception):
    """Base of every error the emulator raises on purpose."""


class CommandError(EmulatorError):
    """A command is refused.

    Args:
        cme: the code shown under ``AT+CMEE=1/2``; ``None`` means a plain
            ``ERROR`` whatever +CMEE says (V.250's answer to an unknown command).
    """

    def __init__(self, cme: CmeError | None = CmeError.INCORRECT_PARAMETERS, why: str = "") -> None:
        super().__init__(why or (cme.text if cme is not None else "error"))
        self.cme = cme


class ProfileError(EmulatorError):
    """A profile is invalid. The message names the file and the ``$.path`` of the field."""

    def __init__(self, where: str, path: str, why: str) -> None:
        super().__init__(f"{where}: {path}: {why}")
        self.where = where
        self.path = path
        self.why = why

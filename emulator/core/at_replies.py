"""How replies look on the wire: V.250 §5.7 framing under ATV, ATQ and +CMEE.

* ``ATV1`` (verbose, the default): information text is ``CR LF text CR LF``
  (the lines of one command in one block, separated by CR LF); a result code is
  ``CR LF OK CR LF``.
* ``ATV0`` (numeric): information text is ``text CR LF``; a result code is its
  number and CR (``0`` OK, ``4`` ERROR).
* ``ATQ1``: no final result codes at all (information text and URCs still go out).
* ``+CMEE`` 0/1/2 (27.007 §9.1): a refusal is ``ERROR``, ``+CME ERROR: <n>`` or
  ``+CME ERROR: <text>``. Chosen: under ``ATV0`` a ``+CME ERROR`` line is framed
  like information text, as it is not one of V.250's numeric codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .codes import CmeError

CRLF = b"\r\n"


@dataclass(slots=True)
class V250Settings:
    """The module's V.250 / 27.007 settings: they shape the reader (S3-S5) and every reply.

    Defaults are the factory settings (``AT&F``); ``echo`` comes from the profile.
    """

    echo: bool = True  #: ATE
    verbose: bool = True  #: ATV
    quiet: bool = False  #: ATQ
    cmee: int = 0  #: +CMEE (27.007 default 0)
    s3: int = 13  #: command line termination character
    s4: int = 10  #: response formatting character
    s5: int = 8  #: command line editing character (backspace)

    @property
    def _eol(self) -> bytes:
        return bytes((self.s3, self.s4))

    def info(self, lines: Sequence[str]) -> bytes:
        """One command's information text (may be several lines)."""
        if not lines:
            return b""
        eol = self._eol
        body = eol.join(line.encode("latin-1") for line in lines)
        return eol + body + eol if self.verbose else body + eol

    def urc(self, line: str) -> bytes:
        """An unsolicited result code; framed like information text (27.007 §4.1)."""
        return self.info((line,))

    def ok(self) -> bytes:
        return self._result("OK", 0)

    def error(self, cme: CmeError | None = None) -> bytes:
        """A refusal. ``cme`` None means plain ``ERROR`` whatever +CMEE says."""
        if self.quiet:
            return b""
        if cme is None or self.cmee == 0:
            return self._result("ERROR", 4)
        text = str(int(cme)) if self.cmee == 1 else cme.text
        line = f"+CME ERROR: {text}".encode("latin-1")
        eol = self._eol
        return eol + line + eol if self.verbose else line + eol

    def _result(self, verbose: str, numeric: int) -> bytes:
        if self.quiet:
            return b""
        if self.verbose:
            eol = self._eol
            return eol + verbose.encode("ascii") + eol
        return str(numeric).encode("ascii") + bytes((self.s3,))

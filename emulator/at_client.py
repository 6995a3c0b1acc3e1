"""A small synchronous AT client over pyserial: what a host program does, for tests and tools.

It sends one command line at a time (echo off: it sends ``ATE0`` first),
collects the information lines up to the final result code, and keeps every
URC it sees on the way in :attr:`AtClient.urcs` so a test can wait for one
without losing those that came earlier. Timeouts are deadlines on reads,
never sleeps.
"""

from __future__ import annotations

import re
import time
from collections import deque

import serial

_FINAL = re.compile(rb"^(OK|ERROR|\+CME ERROR: .*)$")
_CME = re.compile(r"^\+CME ERROR: (\d+)$")
#: URCs the module sends unsolicited (their lines never belong to a command's answer)
URC_PREFIXES = (b"+MIPOPEN: ", b"+MIPCLOSE: ", b"+MIPSTAT: ", b"+MIPRTCP: ", b"+MIPRUDP: ", b"+MIPREAD: ",
                b"+MIPCALL: ", b"+MIPPUSH: ", b"+SIM ")


class AtError(Exception):
    """The module answered ERROR or +CME ERROR.

    Attributes:
        command: the command line as sent (``AT+MIPOPEN=1,,"a.test",443,2``).
        result: the final result code line as the module sent it (``ERROR``, ``+CME ERROR: 3``), so callers
            name a failure from what the module said rather than from this exception's text.
        cme: the number of a numeric ``+CME ERROR: <n>`` (``AT+CMEE=1``); None for ``ERROR`` and for the
            verbose text of ``AT+CMEE=2``.
    """

    def __init__(self, command: str, result: str) -> None:
        super().__init__(command, result)  # both in args: the exception pickles and copies as it was raised
        self.command = command
        self.result = result
        match = _CME.match(result)
        self.cme: int | None = int(match.group(1)) if match else None

    def __str__(self) -> str:
        return f"{self.command!r} -> {self.result}"


class AtClient:
    """Drive a module through ``port`` (a pyserial port, opened by the caller)."""

    def __init__(self, port: serial.Serial, *, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.urcs: deque[str] = deque()
        self._buffer = bytearray()
        self.port.reset_input_buffer()
        self.port.write(b"ATE0\r")
        self._until_final(b"ATE0")

    def command(self, line: str, *, timeout: float | None = None) -> list[str]:
        """Send ``line``; return its information lines. URCs met on the way go to :attr:`urcs`."""
        self.port.write(line.encode("latin-1") + b"\r")
        return self._until_final(line.encode("latin-1"), timeout)

    def command_with_data(self, line: str, data: bytes, *, timeout: float | None = None) -> list[str]:
        """A command that shows the ``>`` prompt (``+MIPSEND=<s>,<len>``, ``+GTSSLFILE``): send ``data`` at it.

        The line ends in CR LF, as real hosts send it: the module takes the LF as the end of the line
        (``at.data_after_cr = "lf-is-terminator"``, the default), so a block that itself starts with LF
        arrives whole. A CR alone would leave such a block's first byte to be read as that LF.
        """
        self.port.write(line.encode("latin-1") + b"\r\n")
        self._read_until(b">", timeout)
        self.port.write(data)
        return self._until_final(line.encode("latin-1"), timeout)

    def mipread(self, link_id: int, length: int, *, timeout: float | None = None) -> bytes:
        """IPRFMT 5: ``AT+MIPREAD=<s>,<len>``; returns the payload of ``+MIPDATA``."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self.port.write(f"AT+MIPREAD={link_id},{length}\r".encode())
        while True:
            line = self._line(deadline)
            if line.startswith(b"+MIPDATA: "):
                n = int(line.rsplit(b",", 1)[1])
                data = self.read_exactly(n, timeout=deadline - time.monotonic())
                self._until_final(b"AT+MIPREAD", deadline - time.monotonic())
                return data
            if _FINAL.match(line):
                raise AtError(f"AT+MIPREAD={link_id},{length}", line.decode("latin-1"))
            if line:
                self.urcs.append(line.decode("latin-1"))

    def wait_urc(self, prefix: str | tuple[str, ...], *, timeout: float | None = None,
                 deadline: float | None = None) -> str:
        """The first URC starting with ``prefix``, or with any of several (an echo's data or its socket's end:
        ``("+MIPRTCP: 1,", "+MIPSTAT: 1,")``); earlier ones with other prefixes stay queued.

        Waits ``timeout`` seconds (default: the client's), or until ``deadline`` (a :func:`time.monotonic`
        instant, for a caller whose several waits share one); at most one of the two.

        Raises:
            TimeoutError: none came in time.
        """
        if deadline is None:
            deadline = time.monotonic() + (timeout or self.timeout)
        elif timeout is not None:
            raise TypeError("wait_urc takes a timeout or a deadline, not both")
        while True:
            for urc in list(self.urcs):
                if urc.startswith(prefix):
                    self.urcs.remove(urc)
                    return urc
            line = self._line(deadline)
            if line:
                self.urcs.append(line.decode("latin-1"))

    def read_exactly(self, n: int, *, timeout: float | None = None) -> bytes:
        """``n`` raw bytes (IPRFMT 1 payload), after any already buffered."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self._buffer) < n:
            self._fill(deadline)
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    # --- reading ---------------------------------------------------------------------------------

    def _until_final(self, sent: bytes, timeout: float | None = None) -> list[str]:
        deadline = time.monotonic() + (timeout or self.timeout)
        lines: list[str] = []
        while True:
            line = self._line(deadline)
            if not line or line == sent:
                continue
            if _FINAL.match(line):
                if line != b"OK":
                    raise AtError(sent.decode("latin-1"), line.decode("latin-1"))
                return lines
            if line.startswith(URC_PREFIXES) and not self._is_answer(sent, line):
                self.urcs.append(line.decode("latin-1"))
            else:
                lines.append(line.decode("latin-1"))

    @staticmethod
    def _is_answer(sent: bytes, line: bytes) -> bool:
        """Whether a URC-looking line answers the command just sent.

        A read or test form answers with its own name (``AT+MIPOPEN?`` -> ``+MIPOPEN: 1,2``), and so does
        ``AT+MIPPUSH=1``; the set forms of +MIPOPEN, +MIPCLOSE and +MIPCALL answer only ``OK``, so a line
        of that name before it is another socket's URC.
        """
        name = line.split(b":", 1)[0].upper()
        upper = sent.upper()
        if not upper.startswith(b"AT" + name):
            return False
        return upper.endswith(b"?") or name not in (b"+MIPOPEN", b"+MIPCLOSE", b"+MIPCALL")

    def _line(self, deadline: float) -> bytes:
        while b"\r\n" not in self._buffer:
            self._fill(deadline)
        line, _, rest = bytes(self._buffer).partition(b"\r\n")
        self._buffer[:] = rest
        return line

    def _read_until(self, marker: bytes, timeout: float | None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while marker not in self._buffer:
            self._fill(deadline)
        index = self._buffer.index(marker) + len(marker)
        before = bytes(self._buffer[:index])
        del self._buffer[:index]
        for line in before.split(b"\r\n"):
            if line.startswith(URC_PREFIXES):
                self.urcs.append(line.decode("latin-1"))
        if self._buffer.startswith(b" "):
            del self._buffer[:1]

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no answer from the module; buffered {bytes(self._buffer[-200:])!r}")
        self.port.timeout = min(left, 0.5)
        chunk = self.port.read(max(1, self.port.in_waiting))
        self._buffer += chunk

"""A small AT driver for a Fibocom NL668, written as device teams write them.

Every command ends in CR LF (as most host code does), DTR and RTS are raised after opening the port where the
port supports it, and every read has a deadline. The driver talks to whatever pyserial opens: a real module
(``/dev/ttyUSB2``) or an emulated one.
"""

from __future__ import annotations

import time

import serial


class ModemError(Exception):
    """The module answered ERROR, or did not answer in time."""


class Modem:
    def __init__(self, port: serial.Serial, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.pending = bytearray()
        try:
            port.dtr = True
            port.rts = True
        except OSError:
            pass  # a port without modem-control lines (a PTY, a TCP bridge)
        self.command("ATE0")

    # --- the AT conversation -------------------------------------------------------------------------

    def _read_line(self, deadline: float) -> str:
        while b"\r\n" not in self.pending:
            if time.monotonic() > deadline:
                raise ModemError(f"no answer (got {bytes(self.pending)!r})")
            self.pending += self.port.read(self.port.in_waiting or 1)
        line, _, rest = bytes(self.pending).partition(b"\r\n")
        self.pending = bytearray(rest)
        return line.decode("latin-1")

    def wait_for(self, prefix: str, timeout: float | None = None) -> str:
        """The next line starting with ``prefix`` (other lines are dropped)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            line = self._read_line(deadline)
            if line.startswith(prefix):
                return line

    def command(self, line: str, data: bytes | None = None) -> list[str]:
        """Send ``line``; with ``data``, write it at the ``>`` prompt. Returns the lines before OK."""
        self.port.write(line.encode("latin-1") + b"\r\n")
        deadline = time.monotonic() + self.timeout
        if data is not None:
            while b">" not in self.pending:
                if time.monotonic() > deadline:
                    raise ModemError(f"{line}: no prompt")
                self.pending += self.port.read(self.port.in_waiting or 1)
            self.pending = bytearray(bytes(self.pending).partition(b">")[2].lstrip(b" "))
            self.port.write(data)
        lines: list[str] = []
        while True:
            answer = self._read_line(deadline)
            if answer in ("", line):
                continue
            if answer == "OK":
                return lines
            if answer == "ERROR" or answer.startswith("+CME ERROR"):
                raise ModemError(f"{line}: {answer}")
            lines.append(answer)

    # --- what the product does -----------------------------------------------------------------------

    def load_trust(self, ca_pem: bytes) -> None:
        self.command(f'AT+GTSSLFILE="TRUSTFILE",{len(ca_pem)}', ca_pem)

    def open_tls(self, host: str, port: int, socket_id: int = 1) -> bool:
        """Verified TLS socket to ``host``; False when the module reports a failure (see :meth:`tls_error`)."""
        self.command("AT+GTSSLMODE=1")
        self.command("AT+GTSET=\"IPRFMT\",0")
        if self.command("AT+MIPCALL?") in ([], ["+MIPCALL: 0"]):
            self.command("AT+MIPCALL=1")
            self.wait_for("+MIPCALL: ")
        self.command(f'AT+MIPOPEN={socket_id},,"{host}",{port},2')
        return self.wait_for("+MIPOPEN: ", timeout=30).endswith(",1")

    def tls_error(self) -> int | None:
        """The +GTSSLERR code of the last failed handshake (None when the module has none)."""
        for line in self.command("AT+GTSSLERR?"):
            if line.startswith("+GTSSLERR: "):
                return int(line.split(": ", 1)[1])
        return None

    def request(self, payload: bytes, socket_id: int = 1) -> bytes:
        """Send ``payload`` and return the first answer the server sends (IPRFMT 0: hex in +MIPRTCP)."""
        self.command(f"AT+MIPSEND={socket_id},{len(payload)}", payload)
        _, _, fields = self.wait_for(f"+MIPRTCP: {socket_id},").partition(": ")
        return bytes.fromhex(fields.split(",")[2])

    def close(self, socket_id: int = 1) -> None:
        self.command(f"AT+MIPCLOSE={socket_id}")

"""RFC 2217 front end (``--rfc2217 HOST:PORT``): a serial port over Telnet, pyserial's ``rfc2217://``.

Why: RFC 2217 carries what raw TCP cannot: the baud rate, data format and the
control lines. The protocol side is pyserial's own
:class:`serial.rfc2217.PortManager` (the code its ``rfc2217_server.py``
example uses), so a pyserial client meets the server it was tested against.

The "serial port" PortManager drives is :class:`LineSettings`: the line's
settings as the host set them. The emulated module is not slowed by the baud
rate (it is recorded and reported back, as a USB serial port's would be).
DTR is the one line with an effect, and only when asked: a DTR drop (on ->
off) calls ``on_dtr_drop`` (``--dtr-drop power-cycle|pdp-drop``; default
ignore, as the NL668's USB ports ignore DTR unless ``AT&D`` says otherwise).

Connection policy, port-0 and binding as for :mod:`.tcp`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import serial
from serial.rfc2217 import M_NORMAL, PortManager

from .tcp import DEFAULT_HOST, TcpTransport, _Connection

logger = logging.getLogger(__name__)


class LineSettings:
    """What the host set on the line (PortManager's ``serial`` object).

    The modem-status lines the module drives (CTS, DSR, CD) are on: it is
    powered and ready; RI is off.
    """

    def __init__(self, on_dtr_drop: Callable[[], None] | None) -> None:
        self.baudrate = 115200
        self.bytesize = serial.EIGHTBITS
        self.parity = serial.PARITY_NONE
        self.stopbits = serial.STOPBITS_ONE
        self.xonxoff = False
        self.rtscts = False
        self.break_condition = False
        self.rts = True
        self.cts = True
        self.dsr = True
        self.ri = False
        self.cd = True
        self._dtr = True
        self._on_dtr_drop = on_dtr_drop

    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, value: bool) -> None:
        dropped = self._dtr and not value
        self._dtr = bool(value)
        if dropped and self._on_dtr_drop is not None:
            logger.info("DTR dropped")
            self._on_dtr_drop()

    def reset_input_buffer(self) -> None:
        """PURGE from the host: nothing is buffered on our side of the line."""

    def reset_output_buffer(self) -> None:
        """As :meth:`reset_input_buffer`."""


class _Writer:
    """PortManager's "connection": writes Telnet bytes to the host's socket."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)


class Rfc2217Transport(TcpTransport):
    """An RFC 2217 server whose one client is the module's serial line (loop thread only).

    Args:
        on_dtr_drop: called on the loop thread when the host drops DTR.
    """

    scheme = "rfc2217"

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        on_dtr_drop: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(loop, host, port)
        self.on_dtr_drop = on_dtr_drop
        self.settings = LineSettings(self._dtr_dropped)
        self._manager: PortManager | None = None

    def _dtr_dropped(self) -> None:
        if self.on_dtr_drop is not None:
            self.on_dtr_drop()

    def _on_connect(self, conn: _Connection) -> None:
        assert conn.transport is not None
        self.settings = LineSettings(self._dtr_dropped)  # each host starts from the defaults
        self._manager = PortManager(self.settings, _Writer(conn.transport), logger=logger)

    def _disconnected(self, conn: _Connection) -> None:
        if conn is self._current:
            self._manager = None
        super()._disconnected(conn)

    def _encode(self, data: bytes) -> bytes:
        # PortManager.escape() doubles IAC one byte at a time; this is the same, for megabytes.
        return data.replace(b"\xff", b"\xff\xff") if self._manager is not None else b""

    def _decode(self, data: bytes) -> bytes:
        manager = self._manager
        if manager is None:
            return b""
        if b"\xff" not in data and manager.mode == M_NORMAL and manager.suboption is None:
            payload = data  # plain data: the filter would pass every byte
        else:
            payload = b"".join(manager.filter(data))
        manager.check_modem_lines()
        return payload

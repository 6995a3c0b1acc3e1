"""Raw TCP front end (``--tcp HOST:PORT``): the serial line as pyserial's ``socket://HOST:PORT``.

Why: CI runners and containers often have no PTY, and Windows has none; a TCP
socket reaches the same engine from anywhere. One host connection is one
serial line.

Choices (documented in the README):

* **A second connection is refused**: it is accepted and closed at once, the
  first keeps the line. Queueing would leave a second client blocked on a
  line it cannot see, which is harder to diagnose than a closed socket; a
  UART has one host too.
* With no host connected the module "transmits into the void" (its output is
  dropped), as a UART with nothing plugged in; the module keeps running.
* The listener binds ``127.0.0.1`` unless another address is given: an AT
  port on the network would let anyone load certificates and open sockets.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from ..hostport import format_host_port, parse_host_port

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"


def parse_endpoint(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` (host 127.0.0.1); ``[v6]:PORT`` for IPv6. Port 0 = any free port."""
    return parse_host_port(text, default_host=DEFAULT_HOST, allow_port_zero=True)


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind and listen now (synchronously), so the chosen port is known before the loop runs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(8)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Connection(asyncio.Protocol):
    def __init__(self, owner: TcpTransport) -> None:
        self._owner = owner
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._owner._connected(self)

    def data_received(self, data: bytes) -> None:
        self._owner._received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._disconnected(self)

    def pause_writing(self) -> None:
        self._owner._set_flow(self, True)

    def resume_writing(self) -> None:
        self._owner._set_flow(self, False)


class TcpTransport:
    """A TCP listener whose one connection is the module's serial line. Call it on the loop thread.

    Args:
        loop: the loop that serves the module.
        host, port: where to listen (port 0: the kernel picks; see :attr:`address`).
    """

    scheme = "socket"

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self._loop = loop
        self._sock = listening_socket(host, port)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._server: asyncio.Server | None = None
        self._task: asyncio.Task[asyncio.Server] | None = None
        self._receiver: Callable[[bytes], None] | None = None
        self._current: _Connection | None = None
        self._closed = False
        self._free = asyncio.Event()  # no host holds the line
        self._free.set()
        self.flow: Callable[[bool], None] | None = None
        self.device_path = self.url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    @property
    def url(self) -> str:
        """How pyserial reaches this line."""
        host, port = self.address
        return f"{self.scheme}://{format_host_port(host, port)}"

    def start(self, receiver: Callable[[bytes], None]) -> None:
        self._receiver = receiver
        self._task = self._loop.create_task(self._loop.create_server(lambda: _Connection(self), sock=self._sock))
        self._task.add_done_callback(self._serving)

    def write(self, data: bytes) -> None:
        """Module output to the connected host; dropped when none is connected (a UART with no cable)."""
        conn = self._current
        if conn is not None and conn.transport is not None and not conn.transport.is_closing() and data:
            conn.transport.write(self._encode(data))

    def flush(self) -> None:
        """Nothing to do: :meth:`write` hands bytes to the connection's transport at once."""

    def close(self) -> None:
        """Stop listening and drop the host connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        elif self._task is not None:
            self._task.cancel()
        else:
            self._sock.close()
        if self._current is not None and self._current.transport is not None:
            self._current.transport.abort()

    async def wait_free(self) -> None:
        """Await the moment no host holds the line (the next connection will be served)."""
        await self._free.wait()

    async def wait_closed(self) -> None:
        """Await the listener's end (after :meth:`close`)."""
        if self._server is not None:
            await self._server.wait_closed()

    # --- connection events -----------------------------------------------------------------------

    def _serving(self, task: asyncio.Task[asyncio.Server]) -> None:
        if task.cancelled():
            self._sock.close()
            return
        self._server = task.result()
        if self._closed:
            self._server.close()

    def _connected(self, conn: _Connection) -> None:
        assert conn.transport is not None
        if self._current is not None or self._closed:
            logger.info("%s: refusing a second connection from %s", self, conn.transport.get_extra_info("peername"))
            conn.transport.abort()
            return
        logger.info("%s: host connected from %s", self, conn.transport.get_extra_info("peername"))
        sock = conn.transport.get_extra_info("socket")
        if sock is not None:
            # A serial line delivers each byte as it goes: no Nagle wait between the echo and the answer.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._current = conn
        self._free.clear()
        self._on_connect(conn)

    def _received(self, conn: _Connection, data: bytes) -> None:
        if conn is self._current and self._receiver is not None:
            payload = self._decode(data)
            if payload:
                self._receiver(payload)

    def _disconnected(self, conn: _Connection) -> None:
        if conn is self._current:
            logger.info("%s: host disconnected", self)
            self._current = None
            self._free.set()
            self._set_flow(conn, False)

    def _set_flow(self, conn: _Connection, blocked: bool) -> None:
        if conn is self._current or not blocked:
            if self.flow is not None:
                self.flow(blocked)

    # --- hooks for RFC 2217 ----------------------------------------------------------------------

    def _on_connect(self, conn: _Connection) -> None:
        """A host took the line (RFC 2217 starts its negotiation here)."""

    def _encode(self, data: bytes) -> bytes:
        return data

    def _decode(self, data: bytes) -> bytes:
        return data

"""Servers that break TLS on purpose: raw TCP peers that send scripted bytes at a chosen handshake stage.

Why these exist next to :mod:`.tls_servers`: a stdlib ``ssl`` server only misbehaves in ways OpenSSL
allows. To test the module against a truncated record, a record over the RFC 5246 limit
(2^14 + 2048), a certificate chain that never ends, or an alert right after the ServerHello, the bytes
on the wire must be written by hand. A :class:`HostileServer` does that in two ways:

* **raw** (``stage="client_hello"``): it reads the ClientHello and answers with the fault at once;
* **man in the middle** (any later stage): it relays the connection to a real :class:`TlsServer`
  (a genuine ServerHello, certificate, key exchange) and re-frames the server's plaintext handshake
  into one record per message, so it can stop right after a given message (``server_hello``,
  ``certificate``, ``server_key_exchange``, ``server_hello_done``) or after the server's
  ChangeCipherSpec (``change_cipher_spec``: before the encrypted Finished), and do the fault there.

Faults (:data:`Fault`): ``alert`` (a fatal alert record, ``alert`` = its description, then FIN),
``garbage`` (bytes that are no TLS record, then FIN), ``truncate`` (a record header announcing more
than follows, then FIN), ``truncate_stall`` (the same, then silence), ``oversize`` (a handshake record
of 2^14 + 2048 + 1 bytes), ``endless_chain`` (a Certificate message announcing 16 MB of certificates,
streamed until the client hangs up), ``reset`` (RST), ``close`` (FIN), ``stall`` (silence).

Every server listens on 127.0.0.1 (an ephemeral port) on the shared server loop of :mod:`.tls_servers`
and is a context manager; ``stop()`` aborts live connections and waits until their sockets are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from types import TracebackType
from typing import Any, Literal

from .tls_servers import ServerSettings, TlsServer, server_loop, stop_accepting

Stage = Literal["client_hello", "server_hello", "certificate", "server_key_exchange", "server_hello_done",
                "change_cipher_spec"]
Fault = Literal["alert", "garbage", "truncate", "truncate_stall", "oversize", "endless_chain", "reset", "close",
                "stall"]

#: handshake message type that ends each stage (RFC 5246 §7.4)
_STAGE_TYPE = {"server_hello": 2, "certificate": 11, "server_key_exchange": 12, "server_hello_done": 14}
#: RFC 5246 §6.2.3: a TLSCiphertext fragment may be at most 2^14 + 2048 bytes
MAX_RECORD = 2**14 + 2048
GARBAGE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
DEFAULT_TIMEOUT = 5.0


def alert_record(description: int, version: bytes = b"\x03\x03") -> bytes:
    """A plaintext fatal alert record."""
    return b"\x15" + version + b"\x00\x02\x02" + bytes([description])


class HostileServer:
    """Listens on 127.0.0.1; each connection gets ``fault`` at ``stage``. See the module docstring.

    Args:
        stage: where the fault happens.
        fault: what happens there.
        alert: the alert description for ``fault="alert"`` (default 40 handshake_failure).
        upstream: the settings of the real TLS server used for stages after the ClientHello.
    """

    def __init__(
        self,
        stage: Stage = "client_hello",
        fault: Fault = "garbage",
        *,
        alert: int = 40,
        upstream: ServerSettings | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.stage = stage
        self.fault = fault
        self.alert = alert
        self.timeout = timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.accepted = 0
        #: per connection, what the client did in the end: "eof", "reset", "server_stop"
        self.endings: list[str] = []
        #: bytes of the endless chain written before the client gave up, per connection
        self.streamed: list[int] = []
        self._cond = threading.Condition()
        self._upstream = TlsServer(upstream or ServerSettings()) if stage != "client_hello" else None
        self._server: asyncio.Server | None = None
        self._live: set[_Hostile] = set()

    def __repr__(self) -> str:
        return f"<HostileServer {self.host}:{self.port} {self.fault} at {self.stage}>"

    def start(self) -> HostileServer:
        if self._upstream is not None:
            self._upstream.start()
        self._server = server_loop().run(self._listen(), self.timeout)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server_loop().run(self._shutdown(server), self.timeout)
        if self._upstream is not None:
            self._upstream.stop()

    def wait_endings(self, count: int = 1, timeout: float | None = None) -> list[str]:
        """Block until ``count`` connections have ended (the client hung up or was cut off)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.endings) >= count, timeout or self.timeout):
                raise TimeoutError(f"{self}: {count} ending(s) not seen")
            return list(self.endings)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _listen(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: _Hostile(self), self.host, 0, family=socket.AF_INET)

    async def _shutdown(self, server: asyncio.Server) -> None:
        await stop_accepting(server)
        server.close()
        live = list(self._live)
        for conn in live:
            conn.end("server_stop")
            conn.abort()
        await server.wait_closed()
        if live:
            await asyncio.wait([conn.lost for conn in live], timeout=self.timeout)

    def _record(self, items: list[Any], item: object) -> None:
        with self._cond:
            items.append(item)
            self._cond.notify_all()


class _Hostile(asyncio.Protocol):
    """One client connection: reads its ClientHello, relays (for later stages) and strikes."""

    def __init__(self, server: HostileServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.client_bytes = bytearray()
        self.upstream: asyncio.Transport | None = None
        self.from_server = bytearray()  # upstream bytes not yet framed
        self.handshake = bytearray()  # upstream handshake bytes not yet cut into messages
        self.version = b"\x03\x03"
        self.struck = False
        self.ending: str | None = None
        self.streamer: asyncio.Task[None] | None = None
        self.streamed = 0
        self.writable = asyncio.Event()  # cleared by pause_writing: the client is not reading
        self.writable.set()

    # asyncio's write flow control: the transport says when its buffer is over / under its water marks.
    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # --- client side ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.server._server is None:  # accepted while stopping (see stop_accepting)
            transport.abort()
            return
        self.server._live.add(self)
        with self.server._cond:
            self.server.accepted += 1
            self.server._cond.notify_all()

    def data_received(self, data: bytes) -> None:
        if self.struck:
            return  # after the fault the client's bytes go nowhere
        if self.server.stage == "client_hello":
            self.client_bytes += data
            if _has_full_record(self.client_bytes):
                self.strike()
            return
        if self.upstream is None:
            self.client_bytes += data
            if len(self.client_bytes) == len(data):
                self.loop.create_task(self._connect_upstream())
        else:
            self.upstream.write(data)

    def eof_received(self) -> bool:
        self.end("eof")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.end("reset" if exc is not None else "eof")
        if self.upstream is not None:
            self.upstream.abort()
        if self.streamer is not None:
            self.streamer.cancel()
        self.server._live.discard(self)
        if not self.lost.done():
            self.lost.set_result(None)

    def end(self, why: str) -> None:
        if self.ending is None:
            self.ending = why
            if self.streamer is not None:
                self.streamer.cancel()
                self.server._record(self.server.streamed, self.streamed)
            self.server._record(self.server.endings, why)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- upstream (a real TLS server) ------------------------------------------------------------------

    async def _connect_upstream(self) -> None:
        upstream = self.server._upstream
        assert upstream is not None
        try:
            transport, _ = await self.loop.create_connection(lambda: _Upstream(self), upstream.host, upstream.port)
        except OSError:
            self.abort()
            return
        self.upstream = transport  # type: ignore[assignment]
        transport.write(bytes(self.client_bytes))  # type: ignore[attr-defined]

    def from_upstream(self, data: bytes) -> None:
        """Frame the server's records; relay them one handshake message a record, up to the stage."""
        if self.struck or self.transport is None:
            return
        self.from_server += data
        while _has_full_record(self.from_server):
            length = struct.unpack(">H", self.from_server[3:5])[0]
            record = bytes(self.from_server[: 5 + length])
            del self.from_server[: 5 + length]
            kind, self.version = record[0], record[1:3]
            if kind == 0x16:
                self.handshake += record[5:]
                while len(self.handshake) >= 4:
                    size = int.from_bytes(self.handshake[1:4], "big")
                    if len(self.handshake) < 4 + size:
                        break
                    message = bytes(self.handshake[: 4 + size])
                    del self.handshake[: 4 + size]
                    self.transport.write(b"\x16" + self.version + struct.pack(">H", len(message)) + message)
                    if _STAGE_TYPE.get(self.server.stage) == message[0]:
                        self.strike()
                        return
            else:
                self.transport.write(record)
                if kind == 0x14 and self.server.stage == "change_cipher_spec":
                    self.strike()
                    return

    # --- the fault -------------------------------------------------------------------------------------

    def strike(self) -> None:
        self.struck = True
        if self.upstream is not None:
            self.upstream.abort()
        transport = self.transport
        assert transport is not None
        fault = self.server.fault
        if fault == "alert":
            transport.write(alert_record(self.server.alert, self.version))
            transport.close()
        elif fault == "garbage":
            transport.write(GARBAGE)
            transport.close()
        elif fault in ("truncate", "truncate_stall"):
            transport.write(b"\x16" + self.version + struct.pack(">H", 400) + b"\x0b\x00\x01\x8c" + bytes(50))
            if fault == "truncate":
                transport.close()
        elif fault == "oversize":
            size = MAX_RECORD + 1
            transport.write(b"\x16" + self.version + struct.pack(">H", size) + b"\x0b" + bytes(size - 1))
        elif fault == "endless_chain":
            self.streamer = self.loop.create_task(self._stream_chain())
        elif fault == "reset":
            with contextlib.suppress(OSError):
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        elif fault == "close":
            transport.close()
        # "stall": nothing at all, until the client gives up

    async def _stream_chain(self) -> None:
        """A Certificate message announcing 2^24-1 bytes, sent in full records until the client leaves."""
        transport = self.transport
        assert transport is not None
        total = 2**24 - 1
        body = b"\x0b" + total.to_bytes(3, "big") + (total - 3).to_bytes(3, "big")
        chunk = bytes(16384 - len(body))
        transport.write(b"\x16" + self.version + struct.pack(">H", len(body) + len(chunk)) + body + chunk)
        self.streamed = len(chunk)
        piece = b"\x30\x82\x3f\xfc" + bytes(16380)  # endless DER-looking certificate bytes
        record = b"\x16" + self.version + struct.pack(">H", len(piece)) + piece
        while not transport.is_closing() and self.streamed < total:
            transport.write(record)
            self.streamed += len(piece)
            await asyncio.sleep(0)  # yield to the loop: the client's RST or FIN ends the stream
            await self.writable.wait()  # the client stopped reading: wait until it drains


class _Upstream(asyncio.Protocol):
    def __init__(self, conn: _Hostile) -> None:
        self.conn = conn

    def data_received(self, data: bytes) -> None:
        self.conn.from_upstream(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.conn.struck:
            self.conn.abort()


def _has_full_record(buffer: bytearray) -> bool:
    return len(buffer) >= 5 and len(buffer) >= 5 + struct.unpack(">H", buffer[3:5])[0]

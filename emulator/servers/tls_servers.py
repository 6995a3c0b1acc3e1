"""Local peers for the module's sockets: TLS, plain TCP and UDP servers on 127.0.0.1.

Why these exist: the emulator's TLS client must be tested against a server it
did not build itself. The TLS servers use the stdlib :mod:`ssl` module, i.e.
the system's OpenSSL 3.0 build, not the OpenSSL bundled with pyOpenSSL that
the emulator's engine uses: two independent builds give real interop evidence.
Every server records what happened *on its side* (negotiated version and
suite, SNI, client certificate, handshake error, how the client left), so a
test can assert the result of a handshake where it counts.

Theory of operation. All servers of a process run on ONE shared asyncio loop
on a daemon thread, started on first use and stopped by
:func:`stop_server_loop` (also registered with :mod:`atexit`). The servers'
methods are called from any other thread (test code, the module's own loop)
and wait for the server loop with a timeout. TLS runs over memory BIOs
(``SSLContext.wrap_bio``) inside a plain :class:`asyncio.Protocol`, not
asyncio's SSL transport: that gives the server exact control over when it
resets, closes or stays silent, and lets it record handshake errors instead of
having asyncio log them.

Every server listens on 127.0.0.1 with an ephemeral port (``.host``,
``.port``) and is a context manager. ``stop()`` aborts live connections and
waits until their sockets are closed, so tests run clean under ``-W error``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import socket
import ssl
import struct
import threading
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, cast

from .pki import pki_path

logger = logging.getLogger(__name__)

T = TypeVar("T")
Behaviour = Literal["echo", "greet", "stall", "reset_after", "close_after", "corrupt"]

#: how long the synchronous API waits for the server loop
DEFAULT_TIMEOUT = 5.0
#: what a ``greet`` server sends first
DEFAULT_GREETING = b"hello from the test server\r\n"
#: what a ``corrupt`` TLS server writes raw after the handshake: an application-data record of garbage
DEFAULT_CORRUPTION = b"\x17\x03\x03\x00\x40" + bytes(range(64))


def pattern(size: int, offset: int = 0) -> bytes:
    """``size`` bytes of a deterministic, non-repeating-per-256 pattern (for "arrived intact" checks)."""
    return bytes((offset + i) * 7 % 251 for i in range(size))


# --- the shared loop -----------------------------------------------------------------------------------


class _ServerLoop:
    """An asyncio loop on a daemon thread, shared by every server of the process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._on_error)
        self._thread = threading.Thread(target=self._run, name="nl668-test-servers", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(DEFAULT_TIMEOUT)
            if not self._thread.is_alive():
                self.loop.close()

    @staticmethod
    def _on_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # A test server bug must be visible, but must not take the other servers down.
        logger.error("test server loop: %s", context.get("message"), exc_info=context.get("exception"))


_shared: _ServerLoop | None = None
_shared_lock = threading.Lock()


def server_loop() -> _ServerLoop:
    """The shared server loop, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = _ServerLoop()
            atexit.register(stop_server_loop)
        return _shared


def stop_server_loop() -> None:
    """Stop the shared loop (stop the servers first); the next server starts a fresh one."""
    global _shared
    with _shared_lock:
        shared, _shared = _shared, None
    if shared is not None:
        shared.stop()


# --- what a server does once a connection is up ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Script:
    """What a stream server does with an open connection (after the handshake, for TLS).

    * ``echo``: send back every byte received.
    * ``greet``: send ``greeting`` (or ``greet_bytes`` bytes of :func:`pattern`) at once, then echo.
    * ``stall``: read and discard; never send.
    * ``reset_after``: echo until ``reset_after_bytes`` have arrived, then reset (RST).
    * ``close_after``: echo until ``close_after_bytes`` have arrived, then close in order
      (close_notify for TLS, then FIN); ``0`` closes right after the handshake.
    * ``corrupt`` (TLS only): right after the handshake, write ``corruption`` raw on the TCP
      stream, outside the TLS session: the client's record layer fails (bad_record_mac).
    """

    behaviour: Behaviour = "echo"
    greeting: bytes = DEFAULT_GREETING
    greet_bytes: int | None = None
    reset_after_bytes: int = 0
    close_after_bytes: int = 0
    corruption: bytes = DEFAULT_CORRUPTION

    def opening(self) -> bytes:
        if self.behaviour != "greet":
            return b""
        return self.greeting if self.greet_bytes is None else pattern(self.greet_bytes)


class _Steps:
    """The per-connection state of a :class:`Script`; returns what to send and how to end."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.received = 0

    def opened(self) -> tuple[bytes, str | None]:
        if self.script.behaviour == "close_after" and self.script.close_after_bytes <= 0:
            return b"", "close"
        return self.script.opening(), None

    def data(self, data: bytes) -> tuple[bytes, str | None]:
        script = self.script
        before = self.received
        self.received += len(data)
        if script.behaviour == "stall":
            return b"", None
        limit = {"reset_after": script.reset_after_bytes, "close_after": script.close_after_bytes}.get(
            script.behaviour
        )
        if limit is not None and self.received >= limit:
            ending = "reset" if script.behaviour == "reset_after" else "close"
            return data[: max(0, limit - before)], ending
        return data, None


# --- records ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeRecord:
    """One TLS handshake as the server saw it; ``error`` is set (and version/cipher may be None) if it failed."""

    version: str | None
    cipher: str | None
    sni: str | None
    client_cert_subject: str | None
    error: str | None = None


class _Records:
    """Lists filled on the server loop and waited on from other threads."""

    def __init__(self) -> None:
        self._cond = threading.Condition()

    def add(self, items: list[Any], item: Any) -> None:
        with self._cond:
            items.append(item)
            self._cond.notify_all()

    def bump(self, obj: Any, attr: str) -> None:
        with self._cond:
            setattr(obj, attr, getattr(obj, attr) + 1)
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"test server: timed out waiting for {what}")


# --- stream servers --------------------------------------------------------------------------------------


class _StreamServer:
    """Base of the TCP-based servers: listening, connection bookkeeping, records, lifecycle."""

    def __init__(self, script: Script, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.script = script
        self.timeout = timeout
        self.host = "127.0.0.1"
        self.port = 0
        #: connections accepted so far
        self.accepted = 0
        #: how each connection ended, in order: "close_notify", "eof", "reset", "server_close",
        #: "server_reset", "server_stop" (TLS also: "handshake_failed", "error")
        self.endings: list[str] = []
        #: the client address of every accepted connection, in order
        self.peers: list[tuple[str, int]] = []
        self._records = _Records()
        self._server: asyncio.Server | None = None
        self._live: set[_Connection] = set()
        self._loop: _ServerLoop | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port} {self.script.behaviour}>"

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def start(self) -> _StreamServer:
        """Listen on 127.0.0.1 at an ephemeral port; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("already started")
        self._prepare()
        self._loop = server_loop()
        self._server = self._loop.run(self._listen(), self.timeout)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Stop listening, abort live connections and wait until every socket is closed."""
        if self._server is None or self._loop is None:
            return
        server, self._server = self._server, None
        self._loop.run(self._shutdown(server), self.timeout)

    def wait_accepted(self, count: int = 1, timeout: float | None = None) -> None:
        """Block until ``count`` connections have been accepted."""
        self._records.wait(lambda: self.accepted >= count, timeout or self.timeout, f"{count} connection(s)")

    def wait_endings(self, count: int = 1, timeout: float | None = None) -> list[str]:
        """Block until ``count`` connections have ended; returns :attr:`endings`."""
        self._records.wait(lambda: len(self.endings) >= count, timeout or self.timeout, f"{count} ending(s)")
        return list(self.endings)

    def __enter__(self) -> _StreamServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # Hooks for subclasses.

    def _prepare(self) -> None:
        """Build what the connections need (in the caller's thread, before listening)."""

    def _connection(self) -> _Connection:
        return _Connection(self)

    async def _listen(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(self._connection, self.host, 0, family=socket.AF_INET)

    async def _shutdown(self, server: asyncio.Server) -> None:
        await stop_accepting(server)
        server.close()
        lost = [conn.lost for conn in self._live]
        for conn in list(self._live):
            conn.abort("server_stop")
        await server.wait_closed()
        if lost:
            await asyncio.wait(lost, timeout=self.timeout)


async def stop_accepting(server: asyncio.Server) -> None:
    """Stop taking connections, and let the accepts already under way make their transports.

    Why not just ``server.close()``: CPython 3.11 accepts in two steps (the
    socket in one loop callback, its transport in a task whose first step is
    queued with ``call_soon``). Closed in between, that step trips
    ``Server._attach``'s assertion and drops the accepted socket unclosed: a
    ResourceWarning that fails whichever test runs next. A client that connects
    and is closed at once (a power cycle right after ``+MIPOPEN``) hits exactly
    that window. Removing the reader cancels any accept callback still queued;
    the one yield is ordering, not waiting: the ready queue is FIFO, so every
    accept step queued before it has made its transport (and attached to the
    server) when this returns. Their ``connection_made`` comes later and aborts
    them, the server being marked stopped.
    """
    loop = asyncio.get_running_loop()
    for sock in server.sockets:
        loop.remove_reader(sock.fileno())
    await asyncio.sleep(0)


class _Connection(asyncio.Protocol):
    """One accepted plain-TCP connection running the server's script."""

    def __init__(self, server: _StreamServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.steps = _Steps(server.script)
        self.ending: str | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.server._server is None:  # accepted while stopping
            self.abort("server_stop")
            return
        self.server._live.add(self)
        peer = transport.get_extra_info("peername")
        self.server.peers.append((str(peer[0]), int(peer[1])))
        self.server._records.bump(self.server, "accepted")
        self.opened()

    def opened(self) -> None:
        self.act(*self.steps.opened())

    def data_received(self, data: bytes) -> None:
        if self.ending is None:
            self.act(*self.steps.data(data))

    def eof_received(self) -> bool:
        self.end("eof")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.end("reset" if exc is not None else "eof")
        self.server._live.discard(self)
        if not self.lost.done():
            self.lost.set_result(None)

    def act(self, reply: bytes, ending: str | None) -> None:
        if reply:
            self.send(reply)
        if ending == "reset":
            self.abort("server_reset", rst=True)
        elif ending == "close":
            self.close("server_close")

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self, why: str) -> None:
        """Orderly close: flush, then FIN."""
        self.end(why)
        assert self.transport is not None
        self.transport.close()

    def abort(self, why: str, *, rst: bool = False) -> None:
        """Drop the connection; with ``rst`` the peer gets a RST (SO_LINGER 0), not a FIN."""
        self.end(why)
        assert self.transport is not None
        if rst:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def end(self, why: str) -> None:
        """Record how the connection ended (the first cause only)."""
        if self.ending is None:
            self.ending = why
            self.server._records.add(self.server.endings, why)


class TcpServer(_StreamServer):
    """A plain TCP server running a :class:`Script` (echo by default).

    Args:
        behaviour, greeting, greet_bytes, reset_after_bytes, close_after_bytes: see :class:`Script`.
        timeout: how long the synchronous API waits.
    """

    def __init__(
        self,
        behaviour: Behaviour = "echo",
        *,
        greeting: bytes = DEFAULT_GREETING,
        greet_bytes: int | None = None,
        reset_after_bytes: int = 0,
        close_after_bytes: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        script = Script(behaviour, greeting, greet_bytes, reset_after_bytes, close_after_bytes)
        super().__init__(script, timeout=timeout)

    def __enter__(self) -> TcpServer:
        self.start()
        return self


class StallServer(TcpServer):
    """Accepts TCP connections and reads them, but never answers: a TLS handshake hangs at ClientHello."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__("stall", timeout=timeout)

    def __enter__(self) -> StallServer:
        self.start()
        return self


# --- TLS -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How a :class:`TlsServer` is configured (files are names in ``certs/``, or absolute paths).

    The defaults accept anything the module can offer: TLS 1.0 up, every
    suite at OpenSSL security level 0, DHE parameters loaded, no client
    certificate asked for.
    """

    cert: str = "server-chain.pem"  #: the chain to send (leaf first)
    key: str = "server.key"
    min_version: ssl.TLSVersion = ssl.TLSVersion.MINIMUM_SUPPORTED
    max_version: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED
    ciphers: str = "ALL:@SECLEVEL=0"  #: OpenSSL cipher string (TLS 1.2 and below)
    dh: bool = True  #: load ``ffdhe2048.pem`` so DHE_RSA suites can be chosen
    client_ca: str | None = None  #: require a client certificate issued by this CA
    sni_reject: bool = False  #: answer any SNI with alert 112 unrecognized_name
    sni_alert: int | None = None  #: or answer any SNI with this alert (e.g. 49 access_denied, 71)
    behaviour: Behaviour = "echo"  #: after the handshake; see :class:`Script`
    greeting: bytes = DEFAULT_GREETING
    greet_bytes: int | None = None
    reset_after_bytes: int = 0
    close_after_bytes: int = 0

    @property
    def script(self) -> Script:
        return Script(self.behaviour, self.greeting, self.greet_bytes, self.reset_after_bytes, self.close_after_bytes)

    def context(self) -> ssl.SSLContext:
        """The server's ``SSLContext`` (built in the calling thread)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with warnings.catch_warnings():
            # TLS 1.0/1.1 are deprecated in the ssl module, but the module under emulation speaks them.
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = self.min_version
            ctx.maximum_version = self.max_version
        ctx.set_ciphers(self.ciphers)
        ctx.load_cert_chain(pki_path(self.cert), pki_path(self.key))
        if self.dh:
            ctx.load_dh_params(str(pki_path("ffdhe2048.pem")))
        if self.client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(pki_path(self.client_ca))
        alert = ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME if self.sni_reject else self.sni_alert
        ctx.sni_callback = _sni_recorder(alert)
        return ctx


def _sni_recorder(alert: int | None) -> Callable[[ssl.SSLObject, str | None, ssl.SSLContext], int | None]:
    def on_sni(obj: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> int | None:
        obj.nl668_sni = name  # type: ignore[attr-defined]
        return alert if name is not None else None

    return on_sni


def _subject(cert: dict[str, Any]) -> str | None:
    subject = cert.get("subject")
    if not subject:
        return None
    return ",".join(f"{key}={value}" for rdn in subject for key, value in rdn)


class TlsServer(_StreamServer):
    """A TLS server (stdlib ``ssl``, system OpenSSL) running a :class:`Script` after the handshake.

    :attr:`handshakes` has one :class:`HandshakeRecord` per connection that
    sent anything, successful or not.
    """

    def __init__(self, settings: ServerSettings | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.settings = settings or ServerSettings()
        super().__init__(self.settings.script, timeout=timeout)
        self.handshakes: list[HandshakeRecord] = []
        self._context: ssl.SSLContext | None = None

    def __enter__(self) -> TlsServer:
        self.start()
        return self

    def wait_handshakes(
        self, count: int = 1, timeout: float | None = None, *, where: Callable[[HandshakeRecord], bool] | None = None
    ) -> list[HandshakeRecord]:
        """Block until ``count`` handshakes are recorded (a client may finish before the server does); with
        ``where``, until ``count`` of them satisfy it (``lambda h: h.error is None``: completed ones, when
        failed or cut ones are recorded too). Returns the handshakes counted: all of them without ``where``.

        Raises:
            TimeoutError: too few in time; the message says how many there were and how the others ended.
        """
        def counted(records: list[HandshakeRecord]) -> list[HandshakeRecord]:
            return list(records) if where is None else [h for h in records if where(h)]

        try:
            self._records.wait(
                lambda: len(counted(self.handshakes)) >= count, timeout or self.timeout, f"{count} handshake(s)"
            )
        except TimeoutError as exc:
            seen = list(self.handshakes)  # one copy for both figures: the server loop may still be adding records
            errors = sorted({h.error for h in seen if h.error is not None})
            found = len(counted(seen))
            raise TimeoutError(f"{exc}: {found} counted of {len(seen)} recorded; errors {errors}") from None
        return counted(self.handshakes)

    def _prepare(self) -> None:
        self._context = self.settings.context()

    def _connection(self) -> _Connection:
        assert self._context is not None
        return _TlsConnection(self, self._context)


class _TlsConnection(_Connection):
    """TLS over memory BIOs on a plain transport."""

    server: TlsServer

    def __init__(self, server: TlsServer, context: ssl.SSLContext) -> None:
        super().__init__(server)
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.handshake_done = False
        self.recorded = False

    def opened(self) -> None:
        """Wait for the ClientHello; the script starts after the handshake."""

    def data_received(self, data: bytes) -> None:
        if self.ending is None:
            self.incoming.write(data)
            self.step()

    def eof_received(self) -> bool:
        if self.ending is None:
            self.incoming.write_eof()
            self.step()
            self.end("eof")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake_done and not self.recorded:
            self.record(error="connection lost during the handshake" if exc is None else f"reset: {exc}")
        super().connection_lost(exc)

    def step(self) -> None:
        if not self.handshake_done:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self.flush()
                return
            except ssl.SSLEOFError:
                self.record(error="EOF during the handshake")
                self.close("eof")
                return
            except (ssl.SSLError, OSError) as exc:
                self.record(error=getattr(exc, "reason", None) or str(exc))
                self.flush()
                self.close("handshake_failed")
                return
            self.handshake_done = True
            self.flush()
            self.record()
            if self.server.script.behaviour == "corrupt":
                assert self.transport is not None
                self.transport.write(self.server.script.corruption)
            self.act(*self.steps.opened())
        while self.ending is None:
            try:
                data = self.tls.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.close_tls("close_notify")
                break
            except ssl.SSLEOFError:
                self.close("eof")
                break
            except (ssl.SSLError, OSError) as exc:
                logger.info("test server %s: %s", self.server, exc)
                self.flush()
                self.close("error")
                break
            if not data:  # the ssl module's read() answers a close_notify with b""
                self.close_tls("close_notify")
                break
            self.act(*self.steps.data(data))
        self.flush()

    def record(self, *, error: str | None = None) -> None:
        self.recorded = True
        cipher = self.tls.cipher() if error is None else None
        try:
            peer = self.tls.getpeercert() if error is None else None
        except ValueError:
            peer = None
        self.server._records.add(
            self.server.handshakes,
            HandshakeRecord(
                version=self.tls.version() if error is None else None,
                cipher=cipher[0] if cipher else None,
                sni=getattr(self.tls, "nl668_sni", None),
                client_cert_subject=_subject(peer) if peer else None,
                error=error,
            ),
        )

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self.tls.write(view[:16384])
            view = view[written:]
            self.flush()

    def flush(self) -> None:
        if self.transport is not None and self.outgoing.pending:
            self.transport.write(self.outgoing.read())

    def close(self, why: str) -> None:
        if why == "server_close" and self.handshake_done:
            self.close_tls(why)
        else:
            super().close(why)

    def close_tls(self, why: str) -> None:
        """close_notify (answering the client's, or first), then FIN."""
        self.end(why)
        with contextlib.suppress(ssl.SSLError, OSError):
            self.tls.unwrap()
        self.flush()
        assert self.transport is not None
        self.transport.close()


# --- UDP -------------------------------------------------------------------------------------------------


class DatagramServer:
    """A UDP server on 127.0.0.1, any free port (:attr:`port`), on the shared loop: a subclass's
    :meth:`_answer` says what each datagram gets back (the echo here, the SNTP server's time)."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.host = "127.0.0.1"
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: _ServerLoop | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port}>"

    def start(self) -> Self:
        if self._transport is not None:
            raise RuntimeError("already started")
        self._loop = server_loop()
        self._transport = self._loop.run(self._listen(), self.timeout)
        self.port = int(self._transport.get_extra_info("sockname")[1])
        return self

    def stop(self) -> None:
        if self._transport is None or self._loop is None:
            return
        transport, self._transport = self._transport, None
        self._loop.run(self._close(transport), self.timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _answer(self, data: bytes, sender: tuple[str, int]) -> bytes | None:
        """The reply to one datagram, sent back to ``sender`` (None: say nothing). Runs on the server loop."""
        raise NotImplementedError

    async def _listen(self) -> asyncio.DatagramTransport:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self), local_addr=(self.host, 0), family=socket.AF_INET
        )
        return transport

    async def _close(self, transport: asyncio.DatagramTransport) -> None:
        protocol = transport.get_protocol()
        assert isinstance(protocol, _Datagrams)
        transport.close()
        await protocol.lost  # the socket is closed in the call that runs connection_lost


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: DatagramServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport is not a DatagramTransport subclass (CPython 3.11).
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self.server._answer(data, (str(addr[0]), int(addr[1])))
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        logger.info("udp %s: %s", self.server, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class UdpEchoServer(DatagramServer):
    """Sends every datagram back to its sender; :attr:`received` lists ``(data, sender)``."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.received: list[tuple[bytes, tuple[str, int]]] = []
        self._records = _Records()

    def wait_received(self, count: int = 1, timeout: float | None = None) -> None:
        self._records.wait(lambda: len(self.received) >= count, timeout or self.timeout, f"{count} datagram(s)")

    def _answer(self, data: bytes, sender: tuple[str, int]) -> bytes | None:
        self._records.add(self.received, (data, sender))
        return data

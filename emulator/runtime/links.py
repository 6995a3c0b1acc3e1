"""The module's sockets on the asyncio loop: link actions in, link events out.

:class:`PeerLinks` is the edge of ONE module's TCP/IP stack. The core asks
(``OpenLink``, ``SendToPeer``, ``CloseLink``, ``ResolveName``,
``PauseReading``) and hears back through ``deliver(event)``. There is no
thread per socket: every socket is an :class:`asyncio.Protocol` on the loop
that runs the module, and TLS runs over memory BIOs in
:class:`~emulator.tls.session.TlsClient` (no asyncio SSL transport), which is
what lets one process hold thousands of them (``tls-engine.md`` §6).

Guarantees the core can build on (``PeerLinks`` keeps them, the tests check them):

* **Never re-entrant.** :meth:`PeerLinks.perform` never calls ``deliver``; an
  answer it owes (``LinkClosed`` of an unknown link, say) goes out from a
  later loop callback. Events are delivered on the loop thread, in the order
  they happened, one ``deliver`` call at a time.
* **One life per ``OpenLink``.** Its events are ``LinkOpened``, any number of
  ``PeerDataReceived``, then at most one ``PeerClosed``; or a single
  ``LinkOpenFailed``. ``LinkOpened`` for SSL means the handshake is done.
  After the final event (``LinkOpenFailed`` / ``PeerClosed``) the link id is
  free at the edge: no ``CloseLink`` is needed.
* **One ``LinkClosed`` per ``CloseLink``, and nothing after it.** From the
  moment ``CloseLink`` is performed, nothing but that link's single
  ``LinkClosed`` is delivered for it, even if data, a FIN or a failure had
  already happened but not yet been delivered. This holds for a link still
  resolving, connecting or handshaking (the attempt is abandoned), an open
  one (TLS: close_notify first, then FIN after the write buffer drains) and an
  unknown or already-ended one (answered at once). ``LinkClosed`` is
  delivered once the socket is really closed; a peer that does not take our
  data costs at most ``close_grace`` seconds, then the socket is aborted.
* **Power cycle.** :meth:`close_all` aborts everything and delivers nothing
  more, for links or name queries; :meth:`wait_closed` awaits the sockets'
  release (for a clean shutdown under ``-W error``).

Errors. Network and TLS failures become events (``why`` is for logs and
traces, never the host). A bug in this file or in the core's
``receive_event`` is contained: it is logged, reported to the loop's
exception handler (so :class:`~emulator.runtime.running.RunningModule` re-raises it
at close), and the link concerned fails with an event, so the module never
waits forever. Logs at INFO say what happened to each link (address, TLS
version and suite, alerts, verify errors); payload is never logged, DEBUG
shows lengths only.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import ipaddress
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from contextlib import suppress
from functools import partial
from typing import Any, cast

from ..core.actions import (
    Action,
    CloseLink,
    OpenLink,
    PauseReading,
    PingHost,
    Protocol,
    QueryTime,
    ResolveName,
    SendToPeer,
    unanswered,
)
from ..core.codes import FailureClass
from ..core.events import (
    Event,
    LinkClosed,
    LinkOpened,
    LinkOpenFailed,
    NameResolved,
    PeerClosed,
    PeerDataReceived,
    PingAnswered,
    TimeAnswered,
)
from ..core.tls_request import TlsRequest
from ..tls.engine import TlsEngine, make_tls_client, prepare_tls_client
from ..tls.session import TlsFailure, TlsPeerClosed
from ..transports.end_of_pass import end_of_pass
from .probes import ping_once, shown_address
from .resolve import Resolver
from .sntp import SntpError, query_time

logger = logging.getLogger(__name__)

#: seconds a closing link may take to flush its data (and close_notify) before it is aborted
CLOSE_GRACE = 2.0

_FINAL = (LinkOpenFailed, PeerClosed, LinkClosed)


class _Phase(enum.Enum):
    OPENING = "opening"  #: resolving, connecting, or (SSL) handshaking
    OPEN = "open"  #: LinkOpened queued
    ENDED = "ended"  #: LinkOpenFailed or PeerClosed queued: the peer side is done


class _Link:
    """Edge state of one ``OpenLink`` (or a stand-in that only answers a ``CloseLink``)."""

    def __init__(self, link_id: int, action: OpenLink | None) -> None:
        self.link_id = link_id
        self.action = action
        self.phase = _Phase.OPENING if action is not None else _Phase.ENDED
        self.task: asyncio.Task[None] | None = None
        self.dialling: socket.socket | None = None  # a non-blocking connect in progress, waiting to be writable
        self.transport: asyncio.Transport | asyncio.DatagramTransport | None = None
        self.protocol_made = False  # a protocol exists: connection_made and connection_lost will follow
        self.lost = False  # connection_lost has run
        self.tls: TlsEngine | None = None
        self.hello_rest = b""  # what of the ClientHello the bare socket did not take (handed to the transport)
        self.paused = False
        self.target: tuple[str, int] | None = None  # UDP: where the socket really is connected
        self.shown_peer: tuple[str, int] | None = None  # UDP: the sender +MIPRUDP names for datagrams from target
        self.closing = False  # CloseLink performed: only LinkClosed may follow
        self.silenced = False  # close_all: nothing may follow
        self.final_delivered = False
        self.released = False
        self.forced = False  # released by the grace timer despite a stuck resource
        self.grace: asyncio.TimerHandle | None = None
        self.write_deferred = False  # output waits for the end of the loop pass (TLS: in the engine)
        self.unsent = bytearray()  # a plain TCP link's bytes waiting for the end of the pass

    def __repr__(self) -> str:
        return f"<link {self.link_id} {self.phase.value}{' closing' if self.closing else ''}>"

    @property
    def udp(self) -> bool:
        return self.action is not None and self.action.protocol is Protocol.UDP


class _Query:
    """One ``ResolveName`` in flight."""

    def __init__(self, query: int) -> None:
        self.query = query
        self.silenced = False
        self.task: asyncio.Task[Any] | None = None


_Owner = _Link | _Query


class PeerLinks:
    """The sockets of one module on an asyncio loop (see the module docstring for the guarantees).

    Call every method on the loop's thread.

    Args:
        loop: the loop that runs the module.
        resolver: how host names are resolved (``--resolve`` overrides first).
        deliver: where events go (the driver's ``deliver``); called on the loop thread.
        name: how logs call this module.
        close_grace: seconds before a closing socket that does not drain is aborted.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        resolver: Resolver,
        deliver: Callable[[Event], None],
        name: str = "",
        *,
        close_grace: float = CLOSE_GRACE,
    ) -> None:
        self._loop = loop
        self._resolver = resolver
        self._deliver = deliver
        self.name = name or f"links@{id(self):x}"
        self._close_grace = close_grace
        self._links: dict[int, _Link] = {}  # by id, until the link's final event is delivered
        self._live: set[_Link] = set()  # holding a task, a socket or a timer
        self._queries: set[_Query] = set()
        self._outbox: deque[tuple[_Owner, Event]] = deque()
        self._depth = 0  # inside a guarded callback: flush when the outermost one ends
        self._flushing = False
        self._flush_handle: asyncio.Handle | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._end_of_pass = end_of_pass(loop)
        self._host_blocked = False  # see hold()
        #: Told of each network-side step (TCP connected, the TLS handshake's steps) as it happens,
        #: as ``(link_id, {"ev": ..., "text": ..., ...})``: the station hands them to the trace.
        self.observer: Callable[[int, dict[str, Any]], None] | None = None

    def __repr__(self) -> str:
        return f"<PeerLinks {self.name} links={sorted(self._links)} live={len(self._live)}>"

    # -- the core's side --------------------------------------------------------------------------------

    def perform(self, action: Action) -> None:
        """Start doing ``action`` (one of the five link actions); answers arrive later through ``deliver``."""
        self._depth += 1
        try:
            match action:
                case OpenLink():
                    self._open(action)
                case SendToPeer(link_id=link_id, data=data):
                    self._send(link_id, data)
                case CloseLink(link_id=link_id):
                    self._close(link_id)
                case ResolveName(query=query, host=host):
                    self._resolve_name(query, host)
                case PauseReading(link_id=link_id, paused=paused):
                    self._pause(link_id, paused)
                case PingHost():
                    self._ping(action)
                case QueryTime():
                    self._query_time(action)
                case _:
                    raise TypeError(f"not a link action: {action!r}")
        except Exception as exc:
            self._report(f"{self.name}: performing {action!r} failed", exc)
            self._answer_anyway(action, exc)
        finally:
            self._depth -= 1
        self._schedule_flush()

    def close_all(self) -> None:
        """Abort every socket and name query at once; nothing more is delivered for them.

        For a power cycle (the core has forgotten its links) and for shutdown.
        Await :meth:`wait_closed` afterwards to know the sockets are gone.
        """
        if self._live or self._queries:
            logger.info("%s: closing all links (%d live)", self.name, len(self._live))
        self._outbox.clear()
        self._links.clear()
        for query in list(self._queries):
            query.silenced = True
            if query.task is not None:
                query.task.cancel()
        for link in list(self._live):
            link.silenced = True
            self._abandon(link)
            if link.grace is None:
                link.grace = self._loop.call_later(self._close_grace, self._on_grace, link)
            self._check_released(link)

    async def wait_closed(self) -> None:
        """Wait until no socket, task or name query is left (after :meth:`close_all`, say)."""
        await self._idle.wait()

    @property
    def link_ids(self) -> list[int]:
        """The ids the edge knows (open, opening, closing, or ended but not yet delivered)."""
        return sorted(self._links)

    # -- actions ----------------------------------------------------------------------------------------

    def _open(self, action: OpenLink) -> None:
        if action.link_id in self._links:
            # A core bug: the id is still busy at the edge. Refuse the new socket, keep the old one.
            logger.error("%s link %d: OpenLink while the id is in use", self.name, action.link_id)
            ghost = _Link(action.link_id, action)
            self._emit(ghost, LinkOpenFailed(link_id=action.link_id, why="link id in use"))
            return
        link = _Link(action.link_id, action)
        self._links[link.link_id] = link
        self._hold(link)
        logger.debug(
            "%s link %d: open %s %s:%d", self.name, link.link_id, action.protocol.name, action.host, action.port
        )
        if action.protocol is not Protocol.UDP:
            targets = self._resolver.resolve_now(action.host, action.port)
            if targets is not None:
                # Known address: dial from this very callback. A task would cost loop iterations that
                # are most of the emulator's share of a local handshake (bench/tls_handshake.py).
                self._dial(link, targets, [])
                return
        self._start_task(link, self._connect(link), "link")

    def _start_task(self, link: _Link, coro: Coroutine[Any, Any, None], what: str) -> None:
        link.task = self._loop.create_task(coro, name=f"{self.name} {what} {link.link_id}")
        link.task.add_done_callback(partial(self._on_task_done, link))

    def _send(self, link_id: int, data: bytes) -> None:
        link = self._links.get(link_id)
        if link is None or link.phase is not _Phase.OPEN or link.closing or link.transport is None:
            logger.debug("%s link %d: %d bytes dropped (link not open)", self.name, link_id, len(data))
            return
        logger.debug("%s link %d: sending %d bytes", self.name, link_id, len(data))
        if link.udp:
            cast(asyncio.DatagramTransport, link.transport).sendto(data)
        elif link.tls is not None:
            try:
                link.tls.send(data)
            except TlsFailure as exc:
                self._write_tls(link)
                self._peer_closed(link, reset=True, gtsslerr=exc.gtsslerr, failure=exc.failure, why=exc.why)
                self._end_transport(link)
                return
            self._defer_write(link)
        else:
            link.unsent += data
            self._defer_write(link)

    def _close(self, link_id: int) -> None:
        link = self._links.get(link_id)
        if link is None or link.closing:
            # Unknown, already ended and delivered, or closed twice: still exactly one answer.
            link = _Link(link_id, None)
        link.closing = True
        logger.info("%s link %d: closing (%s)", self.name, link_id, link.phase.value)
        self._hold(link)
        if link.phase is _Phase.OPEN and not link.lost and link.transport is not None:
            if link.tls is not None and not link.tls.closed_by_peer:
                link.tls.close()
            self._end_transport(link)  # our records (a deferred one, the close_notify), then the FIN
        else:
            self._abandon(link)
        if link.grace is None:
            link.grace = self._loop.call_later(self._close_grace, self._on_grace, link)
        self._check_released(link)


    def hold(self, blocked: bool) -> None:
        """Stop (or resume) reading every socket: the host side cannot take more output now.

        A real module's buffers fill when its UART is slow and TCP's window then
        closes; this is the same back-pressure, driven by the host transport.
        """
        if blocked == self._host_blocked:
            return
        self._host_blocked = blocked
        logger.debug("%s host output %s", self.name, "blocked: pausing peers" if blocked else "drained")
        for link in self._links.values():
            if link.phase is _Phase.OPEN:
                self._apply_pause(link)

    def drop(self, link_id: int, *, reset: bool) -> bool:
        """The network ends open socket ``link_id`` (a console verb): an RST (``reset``) or a FIN.

        The module hears ``PeerClosed`` as if the peer had done it; the socket
        is aborted (RST) or closed after its write buffer drains (FIN).
        Returns False when the link is not open (nothing to drop).
        """
        link = self._links.get(link_id)
        if link is None or link.phase is not _Phase.OPEN or link.closing:
            return False
        with self._guard(link, "drop"):
            self._peer_closed(link, reset=reset, why=f"network-side {'reset' if reset else 'close'} (console)")
            if reset:
                self._abandon(link)
            else:
                self._end_transport(link)
        return True

    def _pause(self, link_id: int, paused: bool) -> None:
        link = self._links.get(link_id)
        if link is None:
            return
        link.paused = paused
        if link.phase is _Phase.OPEN:
            self._apply_pause(link)

    def _answer_anyway(self, action: Action, exc: Exception) -> None:
        """After a bug in :meth:`perform`: still give the answer the core waits for."""
        why = f"internal error: {exc!r}"
        link = self._links.get(getattr(action, "link_id", -1))
        if isinstance(action, OpenLink):
            if link is not None and link.action is action:
                self._fail_open(link, None, why)
                self._abandon(link)
            else:
                self._emit(_Link(action.link_id, action), LinkOpenFailed(link_id=action.link_id, why=why))
        elif isinstance(action, CloseLink):
            link = link or _Link(action.link_id, None)
            link.closing = link.forced = True
            self._hold(link)
            self._abandon(link)
            self._check_released(link)
        elif isinstance(action, ResolveName):
            self._emit(_Query(action.query), NameResolved(query=action.query, addresses=()))
        elif isinstance(action, PingHost):
            self._emit(_Query(action.probe), unanswered(action, why))
        elif isinstance(action, QueryTime):
            self._emit(_Query(action.query), unanswered(action, why))
        elif link is not None:
            self._peer_closed(link, reset=True, why=why)
            self._abandon(link)

    # -- opening ----------------------------------------------------------------------------------------

    async def _connect(self, link: _Link) -> None:
        action = link.action
        assert action is not None
        targets = await self._resolver.resolve(self._loop, action.host, action.port)
        if not targets:
            self._fail_open(link, None, f"{action.host}: no address")
            return
        if link.udp:
            addr, port = targets[0]
            # +MIPRUDP names the sender as the host dialled it (address and port), never where a
            # --resolve rule redirected it (issue 11).
            link.shown_peer = (shown_address(action.host, addr), action.port)
            link.target = (addr, port)
            try:
                await self._loop.create_datagram_endpoint(
                    partial(_DatagramLink, self, link),
                    remote_addr=(addr, port),
                    local_addr=self._local_addr(addr, action.src_port),
                    family=socket.AF_INET,
                )
            except OSError as exc:
                self._fail_open(link, None, f"udp {addr}:{port}: {describe_socket_error(exc)}")
            return
        with self._guard(link, "dial"):
            self._dial(link, targets, [])

    def _dial(self, link: _Link, targets: list[tuple[str, int]], failures: list[str]) -> None:
        """Connect a TCP socket to the first of ``targets`` that takes it, by callbacks, without a task.

        Our own socket, so that a fixed source port can be reused while in
        TIME_WAIT (SO_REUSEADDR). A loopback peer has usually completed the TCP
        handshake by the time ``connect`` returns: then the socket is adopted at
        once instead of after a round of the loop.
        """
        try:
            self._try_targets(link, targets, failures)
        finally:
            # Failed at once (refused, no address, TLS settings OpenSSL refuses): nothing is left to
            # release the link later.
            self._check_released(link)

    def _try_targets(self, link: _Link, targets: list[tuple[str, int]], failures: list[str]) -> None:
        action = link.action
        assert action is not None
        if link.closing or link.silenced or link.phase is not _Phase.OPENING:
            return
        for index, (addr, port) in enumerate(targets):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                local = self._local_addr(addr, action.src_port)
                if local is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind(local)
                err = sock.connect_ex((addr, port))
            except OSError as exc:
                sock.close()
                failures.append(f"{addr}:{port}: {describe_socket_error(exc)}")
                continue
            if err == 0 or (err == errno.EINPROGRESS and _connected(sock)):
                self._adopt(link, sock)
                return
            if err == errno.EINPROGRESS:
                link.dialling = sock
                rest = targets[index + 1 :]
                self._loop.add_writer(sock.fileno(), self._on_dial_ready, link, sock, (addr, port), rest, failures)
                return
            sock.close()
            failures.append(f"{addr}:{port}: {describe_socket_error(OSError(err, os.strerror(err)))}")
        self._fail_open(link, None, "connect " + "; ".join(failures) if failures else f"{action.host}: no address")

    def _on_dial_ready(
        self,
        link: _Link,
        sock: socket.socket,
        target: tuple[str, int],
        rest: list[tuple[str, int]],
        failures: list[str],
    ) -> None:
        """The dialling socket is writable: connected, or refused (SO_ERROR)."""
        with self._guard(link, "connect"):
            if link.dialling is not sock:
                return  # abandoned meanwhile (the socket is already closed)
            self._stop_dialling(link)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                sock.close()
                failures.append(f"{target[0]}:{target[1]}: {describe_socket_error(OSError(err, os.strerror(err)))}")
                self._dial(link, rest, failures)  # releases the link if nothing is left to try
            else:
                self._adopt(link, sock)
                self._check_released(link)  # the ClientHello may have failed the link at once

    def _stop_dialling(self, link: _Link) -> None:
        sock, link.dialling = link.dialling, None
        if sock is not None:
            self._loop.remove_writer(sock.fileno())

    def _adopt(self, link: _Link, sock: socket.socket) -> None:
        """Give a connected socket to asyncio as a transport; the protocol then starts TLS or opens the link.

        An SSL link's ClientHello goes out first, on the bare socket, in this same callback: as a
        module does right after the TCP handshake, and so that a local server finds it together
        with the connection instead of waking twice (bench/tls_handshake.py).
        """
        if self.observer is not None:
            with suppress(OSError):
                addr, port = sock.getpeername()[:2]
                self.observer(link.link_id, {"ev": "tcp_connected", "text": f"TCP connected to {addr}:{port}",
                                             "peer": f"{addr}:{port}"})
        if not self._hello(link, sock):
            return

        async def adopt() -> None:
            try:
                await self._loop.create_connection(partial(_StreamLink, self, link), sock=sock)
            except OSError as exc:  # the transport was not made: the socket is still ours
                sock.close()
                self._fail_open(link, None, f"connect: {describe_socket_error(exc)}")

        self._start_task(link, adopt(), "adopt")
        assert link.task is not None
        # Cancelled before its first step, the coroutine never runs and the socket would leak. (Cancelled
        # later, the transport has closed this same socket object already; a second close is a no-op.)
        link.task.add_done_callback(lambda task: sock.close() if task.cancelled() else None)

    def _hello(self, link: _Link, sock: socket.socket) -> bool:
        """Start an SSL link's handshake on the connected socket; False when the link failed (socket closed)."""
        action = link.action
        assert action is not None
        if action.protocol is not Protocol.SSL:
            return True
        if action.tls is None:
            self._fail_open(link, None, "SSL link without TLS settings")
            sock.close()
            return False
        try:
            link.tls = make_tls_client(action.tls)
            link.tls.initiate()
            hello = link.tls.outgoing()
            try:
                sent = sock.send(hello) if hello else 0
            except BlockingIOError:
                sent = 0  # never seen on a fresh socket; the transport sends it all then
        except TlsFailure as exc:
            if link.tls is not None and (alert := link.tls.outgoing()):
                with suppress(OSError):
                    sock.send(alert)
            self._note_tls(link)
            self._fail_open(link, exc.gtsslerr, exc.why, exc.failure)
            sock.close()
            return False
        except OSError as exc:  # reset right after the connect, say
            self._fail_open(link, None, f"connect: {describe_socket_error(exc)}")
            sock.close()
            return False
        link.hello_rest = hello[sent:]
        self._note_tls(link)
        # The next +MIPOPEN on these settings finds its SSL made: made while the server works on this
        # ClientHello, after the writes of this pass (the end-of-pass batch queues it behind them), instead
        # of between the host's command and its hello.
        self._end_of_pass.defer(partial(self._prepare_next, action.tls))
        return True

    def _prepare_next(self, request: TlsRequest) -> None:
        self._loop.call_soon(prepare_tls_client, request)

    @staticmethod
    def _local_addr(addr: str, src_port: int | None) -> tuple[str, int] | None:
        if not src_port:
            return None
        return ("127.0.0.1" if ipaddress.IPv4Address(addr).is_loopback else "0.0.0.0", src_port)

    def _connected(self, link: _Link, transport: asyncio.BaseTransport) -> None:
        """A protocol's connection_made: start TLS, or the link is open."""
        link.transport = cast(asyncio.Transport | asyncio.DatagramTransport, transport)
        if link.silenced or link.closing or link.phase is not _Phase.OPENING:
            link.transport.abort()
            return
        assert link.action is not None
        if link.tls is not None:
            # SSL: the ClientHello went out in _hello; the handshake goes on in _received.
            if link.hello_rest:
                cast(asyncio.Transport, transport).write(link.hello_rest)
                link.hello_rest = b""
        else:
            peer = transport.get_extra_info("peername")
            self._opened(link, f"{link.action.protocol.name} {peer[0]}:{peer[1]}" if peer else "")

    def _opened(self, link: _Link, detail: str) -> None:
        link.phase = _Phase.OPEN
        logger.info("%s link %d: opened %s", self.name, link.link_id, detail)
        self._emit(link, LinkOpened(link_id=link.link_id, detail=detail))
        if link.paused:
            self._apply_pause(link)

    # -- bytes from the peer ----------------------------------------------------------------------------

    def _received(self, link: _Link, data: bytes) -> None:
        if link.phase is _Phase.ENDED or link.closing or link.silenced:
            return
        tls = link.tls
        if tls is None:
            logger.debug("%s link %d: received %d bytes", self.name, link.link_id, len(data))
            self._emit(link, PeerDataReceived(link_id=link.link_id, data=data))
            return
        was_open = tls.handshake_done
        try:
            tls.feed(data)
        except TlsFailure as exc:
            self._write_tls(link)
            if was_open or tls.handshake_done:
                if not was_open:  # the same bytes finished the handshake and broke the session
                    self._opened(link, tls.negotiated)
                self._drain_plaintext(link)
                self._peer_closed(link, reset=True, gtsslerr=exc.gtsslerr, failure=exc.failure, why=exc.why)
            else:
                self._fail_open(link, exc.gtsslerr, exc.why, exc.failure)
            self._end_transport(link)
            return
        self._write_tls(link)
        if not was_open and tls.handshake_done:
            self._opened(link, tls.negotiated)
        if tls.handshake_done:
            self._drain_plaintext(link)
            if tls.closed_by_peer and link.phase is _Phase.OPEN:
                # close_notify: answer it and close; the peer's FIN then changes nothing.
                tls.close()
                self._write_tls(link)
                self._peer_closed(link, reset=False, why="close_notify received")
                self._end_transport(link)

    def _eof(self, link: _Link) -> None:
        """The peer's FIN (the transport closes itself afterwards)."""
        if link.phase is _Phase.ENDED or link.closing or link.silenced:
            return
        tls = link.tls
        if tls is not None:
            try:
                tls.peer_eof()
            except TlsPeerClosed as exc:
                self._fail_open(link, None, exc.why)
                return
            except TlsFailure as exc:
                self._write_tls(link)
                self._fail_open(link, exc.gtsslerr, exc.why, exc.failure)
                self._peer_closed(link, reset=True, gtsslerr=exc.gtsslerr, failure=exc.failure, why=exc.why)
                return
            self._drain_plaintext(link)
        if link.phase is _Phase.OPENING:
            self._fail_open(link, None, "connection closed by the peer during the handshake")
        else:
            self._peer_closed(link, reset=False, why="closed by the peer (FIN)")

    def _lost(self, link: _Link, exc: Exception | None) -> None:
        """A protocol's connection_lost: the socket is closed."""
        link.lost = True
        if link.phase is not _Phase.ENDED and not link.closing and not link.silenced:
            why = describe_socket_error(exc) if exc is not None else "connection closed"
            if link.phase is _Phase.OPENING:
                self._fail_open(link, None, why)
            else:
                self._peer_closed(link, reset=exc is not None, why=why)
        self._check_released(link)

    def _drain_plaintext(self, link: _Link) -> None:
        assert link.tls is not None
        payload = link.tls.read()
        if payload and link.phase is _Phase.OPEN:
            logger.debug("%s link %d: received %d bytes", self.name, link.link_id, len(payload))
            self._emit(link, PeerDataReceived(link_id=link.link_id, data=payload))

    # -- endings ----------------------------------------------------------------------------------------

    def _fail_open(self, link: _Link, gtsslerr: int | None, why: str, failure: FailureClass | None = None) -> None:
        if link.phase is not _Phase.OPENING:
            return
        link.phase = _Phase.ENDED
        if not (link.closing or link.silenced):
            code = "" if gtsslerr is None else f" (GTSSLERR {gtsslerr})"
            logger.info("%s link %d: open failed%s: %s", self.name, link.link_id, code, why)
        self._emit(link, LinkOpenFailed(link_id=link.link_id, gtsslerr=gtsslerr, failure=failure, why=why))

    def _peer_closed(
        self, link: _Link, *, reset: bool, why: str, gtsslerr: int | None = None, failure: FailureClass | None = None
    ) -> None:
        if link.phase is not _Phase.OPEN:
            return
        link.phase = _Phase.ENDED
        if not (link.closing or link.silenced):
            how = "reset" if reset else "closed"
            code = "" if gtsslerr is None else f" (GTSSLERR {gtsslerr})"
            logger.info("%s link %d: %s%s: %s", self.name, link.link_id, how, code, why)
        self._emit(link, PeerClosed(link_id=link.link_id, reset=reset, gtsslerr=gtsslerr, failure=failure, why=why))

    def _end_transport(self, link: _Link) -> None:
        """Close the socket after what is queued (the alert, our close_notify) has gone out."""
        if link.transport is not None and not link.lost:
            self._write_out(link)  # output deferred to the end of the pass goes before the FIN
            link.transport.close()

    def _abandon(self, link: _Link) -> None:
        """Stop whatever the link is doing, now: cancel the attempt, abort the socket."""
        if link.dialling is not None:
            sock = link.dialling
            self._stop_dialling(link)
            sock.close()
            self._fail_open(link, None, "cancelled")
        if link.task is not None and not link.task.done():
            link.task.cancel()
        if link.transport is not None and not link.lost:
            link.transport.abort()

    def _on_task_done(self, link: _Link, task: asyncio.Task[None]) -> None:
        with self._guard(link, "connect"):
            if not task.cancelled() and (exc := task.exception()) is not None:
                self._report(f"{self.name} link {link.link_id}: connect failed unexpectedly", exc)
                self._fail_open(link, None, f"internal error: {exc!r}")
                self._abandon(link)
            elif task.cancelled():
                self._fail_open(link, None, "cancelled")
            self._check_released(link)

    def _on_grace(self, link: _Link) -> None:
        with self._guard(link, "close timer"):
            link.grace = None
            if link.released:
                return
            if link.transport is not None and not link.lost:
                logger.info("%s link %d: not closed after %.1fs, aborting", self.name, link.link_id, self._close_grace)
                self._abandon(link)  # connection_lost follows on the next loop iteration
            else:
                logger.warning("%s link %d: forced release (%r)", self.name, link.link_id, link)
                link.forced = True
                self._check_released(link)

    def _hold(self, link: _Link) -> None:
        self._live.add(link)
        self._idle.clear()

    def _check_released(self, link: _Link) -> None:
        """Once nothing of the link is left (task, socket), drop it; a closing link answers LinkClosed."""
        if link.released:
            return
        busy = (
            (link.task is not None and not link.task.done())
            or link.dialling is not None
            or (link.protocol_made and not link.lost)
        )
        if busy and not link.forced:
            return
        link.released = True
        if link.grace is not None:
            link.grace.cancel()
            link.grace = None
        self._live.discard(link)
        if link.closing:
            logger.debug("%s link %d: closed", self.name, link.link_id)
            self._emit(link, LinkClosed(link_id=link.link_id))
        self._update_idle()

    def _update_idle(self) -> None:
        if not self._live and not self._queries:
            self._idle.set()

    # -- name queries, +MPING and +MIPNTP -----------------------------------------------------------------

    def _resolve_name(self, query_id: int, host: str) -> None:
        async def lookup() -> Event:
            addresses = await self._resolver.resolve_name(self._loop, host)
            logger.info("%s dns %s -> %s", self.name, host, ", ".join(addresses) or "no address")
            return NameResolved(query=query_id, addresses=addresses)

        self._probe("dns", query_id, lookup(), NameResolved(query=query_id, addresses=()))

    def _ping(self, action: PingHost) -> None:
        async def echo() -> Event:
            result = await ping_once(self._loop, self._resolver, action.host, seq=action.probe, size=action.size,
                                     ttl=action.ttl, tos=action.tos, timeout_s=action.timeout_s)
            logger.info("%s ping %s (%s): %s", self.name, action.host, result.method.value if result.method else "-",
                        result.why or f"type {result.icmp_type} in {result.rtt_ms} ms")
            return PingAnswered(probe=action.probe, address=result.address, icmp_type=result.icmp_type,
                                icmp_code=result.icmp_code, rtt_ms=result.rtt_ms, why=result.why)

        self._probe("ping", action.probe, echo(), unanswered(action, "internal error"))

    def _query_time(self, action: QueryTime) -> None:
        async def ask() -> Event:
            try:
                utc = await query_time(self._loop, self._resolver, action.host, action.port, action.timeout_s)
            except SntpError as exc:
                logger.info("%s ntp %s:%d: %s", self.name, action.host, action.port, exc)
                return unanswered(action, str(exc))
            logger.info("%s ntp %s:%d: %s", self.name, action.host, action.port, utc.isoformat())
            return TimeAnswered(query=action.query, utc=utc)

        self._probe("ntp", action.query, ask(), unanswered(action, "internal error"))

    def _probe(self, what: str, query_id: int, coro: Coroutine[Any, Any, Event], fallback: Event) -> None:
        """Run a query (DNS, ping, NTP) as a task; its answer, or ``fallback`` after a bug, is delivered when it
        ends. ``close_all`` cancels it, and then nothing is delivered."""
        query = _Query(query_id)
        self._queries.add(query)
        self._idle.clear()
        query.task = self._loop.create_task(coro, name=f"{self.name} {what} {query_id}")
        query.task.add_done_callback(partial(self._on_probe_done, what, query, fallback))

    def _on_probe_done(self, what: str, query: _Query, fallback: Event, task: asyncio.Task[Any]) -> None:
        with self._guard(None, what):
            self._queries.discard(query)
            if not task.cancelled():
                if (exc := task.exception()) is not None:
                    self._report(f"{self.name} {what} query {query.query} failed unexpectedly", exc)
                    self._emit(query, fallback)
                else:
                    self._emit(query, task.result())
            self._update_idle()

    # -- delivery ---------------------------------------------------------------------------------------

    def _emit(self, owner: _Owner, event: Event) -> None:
        self._outbox.append((owner, event))
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._depth or self._flushing or not self._outbox or self._flush_handle is not None:
            return
        self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if self._flushing:
            return
        self._flushing = True
        try:
            while self._outbox:
                owner, event = self._outbox.popleft()
                if self._admit(owner, event):
                    try:
                        self._deliver(event)
                    except Exception as exc:
                        self._report(f"{self.name}: delivering {type(event).__name__} failed", exc)
        finally:
            self._flushing = False

    def _admit(self, owner: _Owner, event: Event) -> bool:
        """The gate that keeps the guarantees: nothing after close_all, the final event, or CloseLink."""
        if owner.silenced:
            return False
        if isinstance(owner, _Query):
            return True
        if owner.final_delivered or (owner.closing and not isinstance(event, LinkClosed)):
            return False
        if isinstance(event, _FINAL):
            owner.final_delivered = True
            if self._links.get(owner.link_id) is owner:
                del self._links[owner.link_id]
        return True

    def _guard(self, link: _Link | None, what: str) -> _Guard:
        """Contain any exception of a callback; deliver what it queued when the outermost one ends."""
        return _Guard(self, link, what)

    def _contain(self, link: _Link | None, what: str, exc: Exception) -> None:
        """After a bug in a callback: report it and fail the link, so the module never waits forever."""
        self._report(f"{self.name}: {what}{'' if link is None else f' (link {link.link_id})'} failed", exc)
        if link is not None:
            self._fail_open(link, None, f"internal error: {exc!r}")
            self._peer_closed(link, reset=True, why=f"internal error: {exc!r}")
            self._abandon(link)

    def _report(self, message: str, exc: BaseException) -> None:
        # Visible to the loop's exception handler (RunningModule re-raises at close) and in the log.
        self._loop.call_exception_handler({"message": message, "exception": exc})

    # -- helpers ----------------------------------------------------------------------------------------

    def _note_tls(self, link: _Link) -> None:
        """Hand the TLS steps not yet told to the observer (the trace), after each engine call."""
        if self.observer is not None and link.tls is not None:
            for step in link.tls.new_steps():
                self.observer(link.link_id, step)

    def _defer_write(self, link: _Link) -> None:
        """The link's output goes out at the end of the loop pass, with the other modules' output and lines
        (emulator.transports.end_of_pass: the server then wakes once for all of them)."""
        if not link.write_deferred:
            link.write_deferred = True
            self._end_of_pass.defer(partial(self._deferred_write, link))

    def _deferred_write(self, link: _Link) -> None:
        link.write_deferred = False
        with self._guard(link, "send"):
            self._write_out(link)

    def _write_out(self, link: _Link) -> None:
        """Hand the link's waiting output to its transport: TLS records from the engine, or plain bytes."""
        if link.tls is not None:
            self._write_tls(link)
            return
        data, link.unsent = bytes(link.unsent), bytearray()
        transport = cast(asyncio.Transport | None, link.transport)
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def _write_tls(self, link: _Link) -> None:
        if link.tls is None:
            return
        self._note_tls(link)
        data = link.tls.outgoing()
        # A TLS link's transport is a stream one (tested by duck type: uvloop's are no asyncio.WriteTransport).
        transport = cast(asyncio.Transport | None, link.transport)
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def _apply_pause(self, link: _Link) -> None:
        transport = link.transport
        if transport is None or link.lost or transport.is_closing():
            return
        reading = cast(asyncio.ReadTransport, transport)
        paused = link.paused or self._host_blocked
        if paused and reading.is_reading():
            reading.pause_reading()
        elif not paused and not reading.is_reading():
            reading.resume_reading()


class _Guard:
    """:meth:`PeerLinks._guard`: a plain class, not ``@contextmanager``, because it wraps every socket
    read and a generator-based manager costs a few microseconds each time (bench/scale.py)."""

    __slots__ = ("links", "link", "what")

    def __init__(self, links: PeerLinks, link: _Link | None, what: str) -> None:
        self.links = links
        self.link = link
        self.what = what

    def __enter__(self) -> None:
        self.links._depth += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        links = self.links
        contained = isinstance(exc, Exception)
        try:
            if contained:
                links._contain(self.link, self.what, cast(Exception, exc))
        finally:
            links._depth -= 1
        if not links._depth:
            links._flush()
        return contained


#: Bytes a socket read may bring. asyncio's default is 256 KiB, and a bytes object that size goes
#: to mmap and back for every read, even of a 37-byte TLS record (about 12 us a read measured here);
#: reading into a 64 KiB buffer of our own costs nothing extra and still takes 4 TLS records at once.
RECV_SIZE = 64 * 1024
_recv_buffers = threading.local()


def _recv_buffer() -> memoryview:
    """The loop thread's receive buffer: filled and copied out within one callback, so shared by all links."""
    try:
        return cast(memoryview, _recv_buffers.view)
    except AttributeError:
        _recv_buffers.view = memoryview(bytearray(RECV_SIZE))
        return cast(memoryview, _recv_buffers.view)


class _StreamLink(asyncio.BufferedProtocol):
    """TCP (and TLS over TCP) socket events, forwarded to :class:`PeerLinks` inside its guard."""

    def __init__(self, links: PeerLinks, link: _Link) -> None:
        self.links = links
        self.link = link
        link.protocol_made = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        with self.links._guard(self.link, "connection_made"):
            self.links._connected(self.link, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return _recv_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(_recv_buffer()[:nbytes])  # the same thread's buffer get_buffer just handed out
        with self.links._guard(self.link, "data_received"):
            self.links._received(self.link, data)

    def eof_received(self) -> bool:
        with self.links._guard(self.link, "eof_received"):
            self.links._eof(self.link)
        return False  # close our side too: the module's socket is gone

    def connection_lost(self, exc: Exception | None) -> None:
        with self.links._guard(self.link, "connection_lost"):
            self.links._lost(self.link, exc)


class _DatagramLink(asyncio.DatagramProtocol):
    """A connected UDP socket: open at once, datagrams in, ICMP errors only logged (as a module does)."""

    def __init__(self, links: PeerLinks, link: _Link) -> None:
        self.links = links
        self.link = link
        link.protocol_made = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        with self.links._guard(self.link, "connection_made"):
            self.links._connected(self.link, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        with self.links._guard(self.link, "datagram_received"):
            link = self.link
            if link.phase is _Phase.OPEN and not link.closing and not link.silenced:
                logger.debug("%s link %d: datagram of %d bytes", self.links.name, link.link_id, len(data))
                peer = (str(addr[0]), int(addr[1]))
                if peer == link.target and link.shown_peer is not None:
                    peer = link.shown_peer
                self.links._emit(link, PeerDataReceived(link_id=link.link_id, data=data, peer=peer))

    def error_received(self, exc: Exception) -> None:
        logger.info("%s link %d: udp: %s", self.links.name, self.link.link_id, describe_socket_error(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        with self.links._guard(self.link, "connection_lost"):
            self.links._lost(self.link, exc)


def _connected(sock: socket.socket) -> bool:
    """Whether a socket whose non-blocking connect said EINPROGRESS has in fact completed it."""
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


def describe_socket_error(exc: BaseException) -> str:
    """A short, stable text for a socket error (for ``why``)."""
    names = {
        ConnectionRefusedError: "connection refused",
        ConnectionResetError: "connection reset by the peer",
        ConnectionAbortedError: "connection aborted",
        BrokenPipeError: "broken pipe",
        TimeoutError: "timed out",
    }
    for kind, text in names.items():
        if isinstance(exc, kind):
            return text
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__

"""PeerLinks over real sockets on 127.0.0.1: TCP, UDP and TLS against the stdlib-ssl test servers.

Each test runs PeerLinks on a fresh asyncio loop (the "module" side) while the
servers run on their own shared loop thread, as in production. Events are
collected in an asyncio.Queue and awaited with timeouts; nothing sleeps.
Quiet periods ("nothing else arrives") are proven with
``PeerLinks.wait_closed``: once a link's resources are released, nothing more
can ever be delivered for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulator.core.actions import CloseLink, OpenLink, PauseReading, Protocol, ResolveName, SendToPeer
from emulator.core.codes import GtsslErr
from emulator.core.events import (
    Event,
    LinkClosed,
    LinkOpened,
    LinkOpenFailed,
    NameResolved,
    PeerClosed,
    PeerDataReceived,
)
from emulator.core.tls_request import TlsRequest
from emulator.runtime.links import PeerLinks
from emulator.runtime.resolve import Resolver
from emulator.servers.pki import cert_bytes
from emulator.servers.tls_servers import (
    ServerSettings,
    StallServer,
    TcpServer,
    TlsServer,
    UdpEchoServer,
    pattern,
)
from emulator.tls.context_factory import CLIENT_CONTEXTS

pytestmark = pytest.mark.integration

TIMEOUT = 10.0
E = TypeVar("E", bound=Event)


class Edge:
    """PeerLinks on the running loop, with every delivered event in a queue."""

    def __init__(self, resolve: tuple[str, ...] = (), close_grace: float = 2.0) -> None:
        self.loop = asyncio.get_running_loop()
        self.errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda loop, context: self.errors.append(context))
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.fail_next_delivery = False
        self.links = PeerLinks(self.loop, Resolver.from_specs(resolve), self.deliver, "test", close_grace=close_grace)

    def deliver(self, event: Event) -> None:
        self.events.put_nowait(event)
        if self.fail_next_delivery:
            self.fail_next_delivery = False
            raise RuntimeError("a core bug")

    def do(self, *actions: Any) -> None:
        for action in actions:
            self.links.perform(action)

    async def next(self, kind: type[E], timeout: float = TIMEOUT) -> E:
        event = await asyncio.wait_for(self.events.get(), timeout)
        assert isinstance(event, kind), f"expected {kind.__name__}, got {event!r}"
        return event

    async def payload(self, link_id: int, size: int) -> bytes:
        """Collect PeerDataReceived for ``link_id`` until ``size`` bytes arrived (other events are errors)."""
        data = bytearray()
        while len(data) < size:
            event = await self.next(PeerDataReceived)
            assert event.link_id == link_id
            data += event.data
        return bytes(data)

    def pending(self) -> list[Event]:
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out

    async def settled(self) -> list[Event]:
        """Wait until no socket is left, then return whatever was delivered meanwhile."""
        await asyncio.wait_for(self.links.wait_closed(), TIMEOUT)
        return self.pending()


@contextlib.asynccontextmanager
async def edge(*resolve: str, close_grace: float = 2.0) -> AsyncIterator[Edge]:
    e = Edge(resolve, close_grace)
    try:
        yield e
    finally:
        e.links.close_all()
        await asyncio.wait_for(e.links.wait_closed(), TIMEOUT)
    assert not e.errors, e.errors


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def in_thread(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Server-side waits block; run them off the module's loop."""
    return asyncio.to_thread(fn, *args)


def tcp(link_id: int, port: int, host: str = "127.0.0.1", **kw: Any) -> OpenLink:
    return OpenLink(link_id=link_id, host=host, port=port, protocol=Protocol.TCP, **kw)


def tls_request(
    *,
    server_name: str = "www.baidu.com",
    version: int = 4,
    cipher_ids: tuple[int, ...] = (9,),
    verify: bool = True,
    trust: tuple[str, ...] = ("root-ca.pem",),
) -> TlsRequest:
    return TlsRequest(
        version=version,
        cipher_ids=cipher_ids,
        verify=verify,
        trust_pems=tuple(cert_bytes(name) for name in trust),
        cert_pem=None,
        key_pem=None,
        server_name=server_name,
        module_time=datetime.now(timezone.utc),
    )


def ssl_link(link_id: int, port: int, host: str = "www.baidu.com", **kw: Any) -> OpenLink:
    request = kw.pop("tls", None) or tls_request(server_name=host)
    return OpenLink(link_id=link_id, host=host, port=port, protocol=Protocol.SSL, tls=request, **kw)


def resolve_to(server: Any, host: str = "www.baidu.com", port: int = 443) -> str:
    return f"{host}:{port}=127.0.0.1:{server.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- plain TCP and UDP -----------------------------------------------------------------------------------


def test_tcp_echo_open_send_receive_close() -> None:
    async def main() -> None:
        with TcpServer() as server:
            async with edge() as e:
                e.do(tcp(1, server.port))
                opened = await e.next(LinkOpened)
                assert opened.link_id == 1 and opened.detail == f"TCP 127.0.0.1:{server.port}"
                e.do(SendToPeer(link_id=1, data=b"hello"), SendToPeer(link_id=1, data=b" world"))
                assert await e.payload(1, 11) == b"hello world"
                e.do(CloseLink(link_id=1))
                assert await e.next(LinkClosed) == LinkClosed(link_id=1)
                assert await e.settled() == []
                assert e.links.link_ids == []
            assert await in_thread(server.wait_endings) == ["eof"]

    run(main)


def test_udp_echo() -> None:
    async def main() -> None:
        with UdpEchoServer() as server:
            async with edge() as e:
                e.do(OpenLink(link_id=2, host="127.0.0.1", port=server.port, protocol=Protocol.UDP))
                assert (await e.next(LinkOpened)).link_id == 2
                e.do(SendToPeer(link_id=2, data=b"ping"))
                event = await e.next(PeerDataReceived)
                assert event == PeerDataReceived(link_id=2, data=b"ping", peer=("127.0.0.1", server.port))
                e.do(CloseLink(link_id=2))
                assert await e.next(LinkClosed) == LinkClosed(link_id=2)
                assert await e.settled() == []

    run(main)


def test_connection_refused() -> None:
    async def main() -> None:
        async with edge() as e:
            e.do(tcp(1, free_port()))
            failed = await e.next(LinkOpenFailed)
            assert failed.link_id == 1 and failed.gtsslerr is None and "refused" in failed.why
            assert await e.settled() == []
            # The id is free again: no CloseLink needed.
            assert e.links.link_ids == []

    run(main)


def test_unresolvable_name() -> None:
    async def main() -> None:
        async with edge() as e:
            e.do(tcp(3, 80, host="no-such-host.invalid"))
            failed = await e.next(LinkOpenFailed)
            assert (failed.link_id, failed.gtsslerr) == (3, None)
            assert "no address" in failed.why

    run(main)


def test_src_port_is_used_and_reusable() -> None:
    async def main() -> None:
        with TcpServer() as server:
            async with edge() as e:
                port = free_port()
                for round_ in range(2):
                    e.do(tcp(1, server.port, src_port=port))
                    await e.next(LinkOpened)
                    e.do(SendToPeer(link_id=1, data=b"x"))
                    await e.payload(1, 1)
                    e.do(CloseLink(link_id=1))
                    await e.next(LinkClosed)
                    await in_thread(server.wait_endings, round_ + 1)
            assert [peer[1] for peer in server.peers] == [port, port]

    run(main)


def test_peer_fin_is_an_orderly_close() -> None:
    async def main() -> None:
        with TcpServer("close_after", close_after_bytes=5) as server:
            async with edge() as e:
                e.do(tcp(1, server.port))
                await e.next(LinkOpened)
                e.do(SendToPeer(link_id=1, data=b"hello, and more"))
                assert await e.payload(1, 5) == b"hello"
                closed = await e.next(PeerClosed)
                assert (closed.link_id, closed.reset, closed.gtsslerr) == (1, False, None)
                assert await e.settled() == []
                assert e.links.link_ids == []

    run(main)


def test_peer_reset_mid_transfer() -> None:
    async def main() -> None:
        with TcpServer("reset_after", reset_after_bytes=50_000) as server:
            async with edge() as e:
                e.do(tcp(1, server.port))
                await e.next(LinkOpened)
                e.do(SendToPeer(link_id=1, data=pattern(200_000)))
                received = bytearray()
                while True:
                    event = await e.events.get()
                    if isinstance(event, PeerDataReceived):
                        received += event.data
                        continue
                    assert isinstance(event, PeerClosed), event
                    assert (event.link_id, event.reset) == (1, True)
                    break
                # Whatever arrived before the RST is the echo, in order.
                assert bytes(received) == pattern(200_000)[: len(received)]
                assert await e.settled() == []
            assert await in_thread(server.wait_endings) == ["server_reset"]

    run(main)


def test_close_of_an_unknown_link_is_answered() -> None:
    async def main() -> None:
        async with edge() as e:
            e.do(CloseLink(link_id=5))
            assert await e.next(LinkClosed) == LinkClosed(link_id=5)
            assert await e.settled() == []

    run(main)


def test_close_right_after_open_gives_only_link_closed() -> None:
    async def main() -> None:
        with TcpServer("greet") as server:
            async with edge() as e:
                e.do(tcp(1, server.port), CloseLink(link_id=1))
                assert await e.next(LinkClosed) == LinkClosed(link_id=1)
                assert await e.settled() == []

    run(main)


def test_nothing_but_link_closed_after_close_link() -> None:
    async def main() -> None:
        # The greeting may already sit in the socket when CloseLink comes: it must not be delivered.
        with TcpServer("greet", greet_bytes=1_000_000) as server:
            async with edge() as e:
                e.do(tcp(1, server.port))
                await e.next(LinkOpened)
                before = e.pending()
                e.do(CloseLink(link_id=1))
                assert await e.next(LinkClosed) == LinkClosed(link_id=1)
                assert await e.settled() == []
                assert all(isinstance(ev, PeerDataReceived) for ev in before)

    run(main)


def test_pause_reading_holds_data_back() -> None:
    async def main() -> None:
        with TcpServer("greet") as server:
            async with edge() as e:
                # Paused before it opens: the greeting must wait for the resume.
                e.do(tcp(1, server.port), PauseReading(link_id=1, paused=True))
                assert (await e.next(LinkOpened)).link_id == 1
                # Link 2 is the clock: the server greets link 1 before it answers anything on link 2,
                # and loopback delivers in order, so after two round trips the greeting is in our socket.
                e.do(tcp(2, server.port))
                assert (await e.next(LinkOpened)).link_id == 2
                assert await e.payload(2, len(server.script.greeting)) == server.script.greeting
                for probe in (b"a", b"b"):
                    e.do(SendToPeer(link_id=2, data=probe))
                    assert await e.payload(2, 1) == probe
                assert e.pending() == []
                e.do(PauseReading(link_id=1, paused=False))
                assert await e.payload(1, len(server.script.greeting)) == server.script.greeting

    run(main)


def test_stall_server_then_close_while_opening() -> None:
    async def main() -> None:
        with StallServer() as server:
            async with edge(resolve_to(server)) as e:
                e.do(ssl_link(1, 443))  # the ClientHello is never answered
                await in_thread(server.wait_accepted)
                e.do(CloseLink(link_id=1))
                assert await e.next(LinkClosed) == LinkClosed(link_id=1)
                assert await e.settled() == []
            assert len(await in_thread(server.wait_endings)) == 1

    run(main)


def test_stalled_close_is_aborted_after_the_grace_time() -> None:
    async def main() -> None:
        # A peer that never reads (the kernel accepts, nobody calls accept()), and megabytes we
        # could not send: a graceful close cannot finish, so the grace timer aborts the socket.
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            async with edge(close_grace=0.2) as e:
                e.do(tcp(1, listener.getsockname()[1]))
                await e.next(LinkOpened)
                e.do(SendToPeer(link_id=1, data=bytes(20_000_000)))
                e.do(CloseLink(link_id=1))
                assert await e.next(LinkClosed) == LinkClosed(link_id=1)
                assert await e.settled() == []

    run(main)


def test_close_all_delivers_nothing_more() -> None:
    async def main() -> None:
        with TcpServer("greet", greet_bytes=2_000_000) as server, StallServer() as stall:
            async with edge(resolve_to(stall)) as e:
                e.do(tcp(1, server.port))
                await e.next(LinkOpened)
                e.do(ssl_link(2, 443), tcp(3, server.port), ResolveName(query=1, host="localhost"))
                e.do(CloseLink(link_id=9))
                e.links.close_all()
                assert await e.settled() == []
                assert e.links.link_ids == []
                # Usable again after a power cycle.
                e.do(tcp(1, server.port))
                assert (await e.next(LinkOpened)).link_id == 1

    run(main)


def test_six_links_at_once() -> None:
    async def main() -> None:
        with TlsServer() as tls_server, TcpServer() as tcp_server, UdpEchoServer() as udp_server:
            async with edge(resolve_to(tls_server)) as e:
                e.do(
                    ssl_link(1, 443),
                    ssl_link(2, 443),
                    ssl_link(3, 443),
                    tcp(4, tcp_server.port),
                    tcp(5, tcp_server.port),
                    OpenLink(link_id=6, host="127.0.0.1", port=udp_server.port, protocol=Protocol.UDP),
                )
                opened = {(await e.next(LinkOpened)).link_id for _ in range(6)}
                assert opened == {1, 2, 3, 4, 5, 6}
                for link_id in opened:
                    e.do(SendToPeer(link_id=link_id, data=f"link {link_id} says hi".encode()))
                got: dict[int, bytes] = {}
                while any(len(got.get(i, b"")) < len(b"link 1 says hi") for i in opened):
                    event = await e.next(PeerDataReceived)
                    got[event.link_id] = got.get(event.link_id, b"") + event.data
                assert got == {i: f"link {i} says hi".encode() for i in opened}
                e.do(*(CloseLink(link_id=i) for i in opened))
                assert {(await e.next(LinkClosed)).link_id for _ in range(6)} == opened
                assert await e.settled() == []
            assert len(await in_thread(tls_server.wait_handshakes, 3)) == 3

    run(main)


def test_a_failing_deliver_is_contained_and_reported() -> None:
    async def main() -> None:
        with TcpServer() as server:
            e = Edge()
            e.fail_next_delivery = True
            e.do(tcp(1, server.port))
            await e.next(LinkOpened)  # delivered, then the "core" raised
            e.do(SendToPeer(link_id=1, data=b"still works"))
            assert await e.payload(1, 11) == b"still works"
            e.links.close_all()
            await e.settled()
            assert len(e.errors) == 1 and isinstance(e.errors[0]["exception"], RuntimeError)

    run(main)


def test_resolve_name() -> None:
    async def main() -> None:
        async with edge("modem.test=10.1.2.3") as e:
            e.do(
                ResolveName(query=1, host="modem.test"),
                ResolveName(query=2, host="localhost"),
                ResolveName(query=3, host="no-such-host.invalid"),
            )
            answers = {}
            for _ in range(3):
                event = await e.next(NameResolved)
                answers[event.query] = event.addresses
            assert answers[1] == ("10.1.2.3",)
            assert "127.0.0.1" in answers[2]
            assert answers[3] == ()

    run(main)


# --- TLS -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "cipher_id", "wire_version", "suite"),
    [
        (2, 2, "TLSv1", "DHE-RSA-AES128-SHA"),
        (3, 3, "TLSv1.1", "AES128-SHA"),
        (4, 9, "TLSv1.2", "DHE-RSA-AES128-SHA256"),
        (4, 8, "TLSv1.2", "AES256-SHA256"),
    ],
)
def test_tls_handshake_as_the_server_saw_it(version: int, cipher_id: int, wire_version: str, suite: str) -> None:
    async def main() -> None:
        with TlsServer() as server:
            async with edge(resolve_to(server)) as e:
                request = tls_request(version=version, cipher_ids=(cipher_id,))
                e.do(ssl_link(1, 443, tls=request))
                opened = await e.next(LinkOpened)
                assert opened.detail == f"{wire_version} {suite}"
                e.do(SendToPeer(link_id=1, data=b"GET / HTTP/1.0\r\n\r\n"))
                assert await e.payload(1, 18) == b"GET / HTTP/1.0\r\n\r\n"
                e.do(CloseLink(link_id=1))
                assert await e.next(LinkClosed) == LinkClosed(link_id=1)
                assert await e.settled() == []
            (record,) = await in_thread(server.wait_handshakes)
            assert (record.version, record.cipher, record.sni) == (wire_version, suite, "www.baidu.com")
            assert record.error is None
            # CloseLink sent a close_notify before the FIN.
            assert await in_thread(server.wait_endings) == ["close_notify"]

    run(main)


@pytest.mark.parametrize(
    ("settings", "request_kw", "gtsslerr"),
    [
        (ServerSettings(), {"trust": ()}, 42),  # GTSSLMODE=1 without a TRUSTFILE (manual §2.6 example 2)
        (ServerSettings(cert="server-untrusted.pem", key="server-untrusted.key"), {}, 48),
        (ServerSettings(cert="@wrong-host-chain", key="server-wrong-host.key"), {}, 153),
        (ServerSettings(sni_reject=True), {}, 155),
        (ServerSettings(min_version=ssl.TLSVersion.TLSv1_2), {"version": 2, "cipher_ids": (2,)}, 70),
        (ServerSettings(ciphers="AES256-SHA"), {"cipher_ids": (9,)}, 40),
    ],
)
def test_tls_failure_codes(
    settings: ServerSettings, request_kw: dict[str, Any], gtsslerr: int, tmp_path: Path
) -> None:
    if settings.cert == "@wrong-host-chain":
        chain = tmp_path / "wrong-host-chain.pem"
        chain.write_bytes(cert_bytes("server-wrong-host.pem") + cert_bytes("intermediate-ca.pem"))
        settings = replace(settings, cert=str(chain))

    async def main() -> None:
        with TlsServer(settings) as server:
            async with edge(resolve_to(server)) as e:
                e.do(ssl_link(1, 443, tls=tls_request(**request_kw)))
                failed = await e.next(LinkOpenFailed)
                assert (failed.link_id, failed.gtsslerr) == (1, gtsslerr), failed.why
                assert await e.settled() == []
                assert e.links.link_ids == []
            (record,) = await in_thread(server.wait_handshakes)
            assert record.error is not None

    run(main)


def test_tls_peer_closes_during_the_handshake() -> None:
    async def main() -> None:
        with TcpServer("close_after", close_after_bytes=1) as server:  # reads the ClientHello, then FIN
            async with edge(resolve_to(server)) as e:
                e.do(ssl_link(1, 443))
                failed = await e.next(LinkOpenFailed)
                assert (failed.link_id, failed.gtsslerr) == (1, None)
                assert await e.settled() == []

    run(main)


def test_tls_close_notify_from_the_peer() -> None:
    async def main() -> None:
        with TlsServer(ServerSettings(behaviour="close_after", close_after_bytes=3)) as server:
            async with edge(resolve_to(server)) as e:
                e.do(ssl_link(1, 443))
                await e.next(LinkOpened)
                e.do(SendToPeer(link_id=1, data=b"abcdef"))
                assert await e.payload(1, 3) == b"abc"
                closed = await e.next(PeerClosed)
                assert (closed.link_id, closed.reset, closed.gtsslerr) == (1, False, None)
                assert await e.settled() == []

    run(main)


def test_tls_peer_reset_mid_transfer() -> None:
    async def main() -> None:
        with TlsServer(ServerSettings(behaviour="reset_after", reset_after_bytes=20_000)) as server:
            async with edge(resolve_to(server)) as e:
                e.do(ssl_link(1, 443))
                await e.next(LinkOpened)
                e.do(SendToPeer(link_id=1, data=pattern(100_000)))
                while isinstance(event := await e.events.get(), PeerDataReceived):
                    pass
                assert isinstance(event, PeerClosed) and (event.link_id, event.reset) == (1, True), event
                assert await e.settled() == []

    run(main)


def test_tls_record_failure_after_the_handshake() -> None:
    async def main() -> None:
        with TlsServer(ServerSettings(behaviour="corrupt")) as server:
            async with edge(resolve_to(server)) as e:
                e.do(ssl_link(1, 443))
                await e.next(LinkOpened)
                closed = await e.next(PeerClosed)
                assert (closed.link_id, closed.reset) == (1, True)
                assert closed.gtsslerr == 20, closed.why  # bad_record_mac
                assert await e.settled() == []

    run(main)


def test_one_megabyte_each_way_through_one_tls_link() -> None:
    async def main() -> None:
        size = 1_000_000
        with TlsServer(ServerSettings(behaviour="greet", greet_bytes=size)) as server:
            async with edge(resolve_to(server)) as e:
                e.do(ssl_link(1, 443))
                await e.next(LinkOpened)
                assert await e.payload(1, size) == pattern(size)  # server -> module
                data = pattern(size, offset=3)
                for start in range(0, size, 1460):  # as +MIPSEND would, in small pieces
                    e.do(SendToPeer(link_id=1, data=data[start : start + 1460]))
                assert await e.payload(1, size) == data  # module -> server -> module
                e.do(CloseLink(link_id=1))
                assert await e.next(LinkClosed) == LinkClosed(link_id=1)

    run(main)


# --- dialling: the connect done by callbacks, without a task ---------------------------------------------


class _Addresses(Resolver):
    """A resolver that answers every name with fixed addresses, as DNS with several A records would."""

    def __init__(self, targets: list[tuple[str, int]]) -> None:
        super().__init__()
        self.targets = targets

    def resolve_now(self, host: str, port: int) -> list[tuple[str, int]] | None:
        return list(self.targets)


@contextlib.contextmanager
def full_backlog() -> Any:
    """A listener that never accepts, its backlog filled: a further connect stays in SYN_SENT (EINPROGRESS)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(3):  # Linux queues backlog + 1; more than that so the SYNs are dropped
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        yield listener.getsockname()[1]
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_refused_first_address_then_the_next_one() -> None:
    async def main() -> None:
        with TcpServer() as server:
            async with edge() as e:
                refused = free_port()
                e.links = PeerLinks(
                    e.loop, _Addresses([("127.0.0.1", refused), ("127.0.0.1", server.port)]), e.deliver, "test"
                )
                e.do(tcp(1, 80, host="two.example"))
                assert (await e.next(LinkOpened)).link_id == 1
                e.do(SendToPeer(link_id=1, data=b"ping"))
                assert await e.payload(1, 4) == b"ping"
                e.do(CloseLink(link_id=1))
                assert await e.next(LinkClosed) == LinkClosed(link_id=1)

    run(main)


def test_every_address_refused_names_them_all() -> None:
    async def main() -> None:
        async with edge() as e:
            ports = [free_port(), free_port()]
            e.links = PeerLinks(e.loop, _Addresses([("127.0.0.1", p) for p in ports]), e.deliver, "test")
            e.do(tcp(1, 80, host="two.example"))
            failed = await e.next(LinkOpenFailed)
            assert failed.why.count("refused") == 2 and all(str(p) in failed.why for p in ports)
            assert await e.settled() == []

    run(main)


def test_a_dns_name_is_dialled_after_the_lookup() -> None:
    async def main() -> None:
        with TcpServer() as server:
            async with edge() as e:
                e.do(tcp(1, server.port, host="localhost"))
                assert (await e.next(LinkOpened)).link_id == 1
                e.do(CloseLink(link_id=1))
                assert await e.next(LinkClosed) == LinkClosed(link_id=1)

    run(main)


@pytest.mark.parametrize("how", ["close_link", "close_all"])
def test_a_connect_still_in_progress_is_abandoned(how: str) -> None:
    async def main() -> None:
        with full_backlog() as port:
            async with edge() as e:
                e.do(tcp(1, port))
                assert e.links._links[1].dialling is not None  # really waiting for the SYN's answer
                dialling = e.links._links[1].dialling
                if how == "close_link":
                    e.do(CloseLink(link_id=1))
                    assert await e.next(LinkClosed) == LinkClosed(link_id=1)
                else:
                    e.links.close_all()
                assert await e.settled() == []
                assert dialling.fileno() == -1  # the socket is closed, not left to the garbage collector

    run(main)



# --- the ClientHello, sent on the bare socket before it becomes a transport ------------------------------


def test_settings_openssl_refuses_fail_the_open_and_close_the_socket() -> None:
    """TLS 1.0 with only SHA-256 suites: OpenSSL refuses before any ClientHello ("no ciphers available")."""

    async def main() -> None:
        with TlsServer() as server:
            async with edge(resolve_to(server)) as e:
                e.do(ssl_link(1, 443, tls=tls_request(version=2, cipher_ids=(7, 8), verify=False)))
                failed = await e.next(LinkOpenFailed)
                assert (failed.link_id, failed.gtsslerr) == (1, 80)
                assert await e.settled() == []
            # No handshake: the server got the fatal alert OpenSSL queued instead of a ClientHello.
            (record,) = await in_thread(server.wait_handshakes, 1)
            assert record.version is None and record.error

    run(main)


def test_an_ssl_link_without_settings_fails_cleanly() -> None:
    async def main() -> None:
        with TcpServer() as server:
            async with edge() as e:
                e.do(OpenLink(link_id=1, host="127.0.0.1", port=server.port, protocol=Protocol.SSL, tls=None))
                failed = await e.next(LinkOpenFailed)
                assert failed.link_id == 1 and "without TLS settings" in failed.why
                assert await e.settled() == []

    run(main)


def test_three_tls_links_at_once_with_the_hello_sent_before_the_transport() -> None:
    """The ClientHello leaves on the bare socket; the server's flight is read once asyncio has adopted it."""

    async def main() -> None:
        with TlsServer() as server:
            async with edge(resolve_to(server)) as e:
                for link_id in (1, 2, 3):
                    e.do(ssl_link(link_id, 443, tls=tls_request(verify=False)))
                opened = sorted([(await e.next(LinkOpened)).link_id for _ in range(3)])
                assert opened == [1, 2, 3]
                e.do(*(CloseLink(link_id=i) for i in opened))
                assert sorted([(await e.next(LinkClosed)).link_id for _ in range(3)]) == [1, 2, 3]
            assert len(server.wait_handshakes(3)) == 3

    run(main)


def test_the_next_ssl_open_finds_its_connection_made() -> None:
    """Once a ClientHello is out, a spare SSL for the same settings and name, its ClientHello made, is ready
    (after the pass's writes); the next open on them takes it; an open to another name drops it and handshakes
    on a new one, refused by its own host check."""
    async def main() -> None:
        CLIENT_CONTEXTS.clear()
        with TlsServer() as server:
            async with edge(resolve_to(server)) as e:
                for link_id in (1, 2):
                    e.do(ssl_link(link_id, 443, tls=tls_request()))
                    await e.next(LinkOpened)
                    assert CLIENT_CONTEXTS.spares() == 1
                    e.do(CloseLink(link_id=link_id))
                    await e.next(LinkClosed)
                wrong = replace(tls_request(), server_name="wrong.example.test")
                e.do(ssl_link(3, 443, tls=wrong))  # the spare was made for the right name
                failed = await e.next(LinkOpenFailed)
                assert failed.gtsslerr == GtsslErr.HOST_MISMATCH
                assert CLIENT_CONTEXTS.spares() == 1  # dropped, and one made for the wrong name after its hello
        CLIENT_CONTEXTS.clear()

    run(main)

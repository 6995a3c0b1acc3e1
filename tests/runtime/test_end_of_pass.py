"""Writes at the end of the loop pass (emulator/transports/end_of_pass.py): when they run, in what order, what a
failing one does to the others, and the two places where "later in the pass" would change what a host or
a server sees: the power-on URCs (on the line before a host can open it) and a TLS record sent just before
the socket is closed (it goes before the FIN)."""

from __future__ import annotations

import asyncio
import gc
import os
import select
import weakref
from typing import Any

import pytest

from emulator.core.actions import CloseLink, SendToPeer
from emulator.core.events import LinkClosed, LinkOpened, PeerClosed
from emulator.profiles import load_profile
from emulator.runtime.clocks import SystemClock
from emulator.runtime.driver import AsyncioScheduler
from emulator.runtime.resolve import Resolver
from emulator.runtime.station import build_station
from emulator.servers.tls_servers import ServerSettings, TcpServer, TlsServer
from emulator.transports.end_of_pass import end_of_pass
from emulator.transports.pty import PtyTransport
from tests.runtime.test_links import edge, resolve_to, run, ssl_link, tcp


def test_jobs_run_after_the_pass_in_the_order_they_were_deferred() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []
        batch = end_of_pass(loop)
        assert end_of_pass(loop) is batch  # one per loop

        def io_callback(name: str) -> None:  # as the loop runs the ready I/O callbacks of one pass
            seen.append(name)
            batch.defer(lambda: seen.append(f"write {name}"))

        for name in ("a", "b", "c"):
            loop.call_soon(io_callback, name)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return seen

    assert asyncio.run(main()) == ["a", "b", "c", "write a", "write b", "write c"]


def test_a_failing_job_is_reported_and_the_others_still_run() -> None:
    async def main() -> tuple[list[str], list[dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        seen: list[str] = []

        def broken() -> None:
            raise OSError("EIO")

        batch = end_of_pass(loop)
        batch.defer(lambda: seen.append("first"))
        batch.defer(broken)
        batch.defer(lambda: seen.append("third"))
        await asyncio.sleep(0)
        return seen, reported

    seen, reported = asyncio.run(main())
    assert seen == ["first", "third"]
    assert [str(c["exception"]) for c in reported] == ["EIO"]


def test_a_finished_loop_is_not_kept_alive_by_its_batch() -> None:
    async def main() -> None:
        end_of_pass(asyncio.get_running_loop()).defer(lambda: None)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    freed = weakref.ref(loop)
    del loop
    gc.collect()
    assert freed() is None


def test_pty_writes_of_one_pass_reach_the_host_together_and_in_order() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        transport = PtyTransport(loop)
        host = os.open(transport.device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            transport.start(lambda data: None)
            for piece in (b"\r\nOK\r\n", b"\r\n+MIPRTCP: 1,0,41\r\n", b"\r\n> "):
                transport.write(piece)
            assert select.select([host], [], [], 0)[0] == []  # nothing before the pass ends
            await asyncio.sleep(0)
            assert select.select([host], [], [], 5)[0] == [host]
            return os.read(host, 4096)
        finally:
            os.close(host)
            transport.close()

    assert asyncio.run(main()) == b"\r\nOK\r\n\r\n+MIPRTCP: 1,0,41\r\n\r\n> "


def test_the_power_on_urcs_are_on_the_line_when_the_module_is_built() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        clock = SystemClock()
        transport = PtyTransport(loop)
        host = os.open(transport.device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            station = build_station(loop, AsyncioScheduler(loop, clock), load_profile("NL668_AM_00"), transport,
                                    clock=clock, resolver=Resolver(), name="m0")
            try:
                # Still inside the same pass: a host opening the port the moment the module is built finds them.
                assert select.select([host], [], [], 0)[0] == [host]
                return os.read(host, 4096)
            finally:
                station.close()
        finally:
            os.close(host)
            transport.close()  # idempotent: already closed by the station unless building it failed

    assert asyncio.run(main()) == b"\r\n+SIM READY\r\n"


@pytest.mark.integration
@pytest.mark.parametrize("ending", ["network drop (FIN)", "module close (AT+MIPCLOSE: close_notify)"])
def test_a_record_sent_just_before_the_socket_ends_goes_first(ending: str) -> None:
    # The server closes in order once 5 bytes have arrived ("server_close"); a FIN or close_notify ahead of
    # the record would end it as "eof" or "close_notify".
    settings = ServerSettings(behaviour="close_after", close_after_bytes=5)

    async def main() -> None:
        with TlsServer(settings) as server:
            async with edge(resolve_to(server)) as e:
                e.do(ssl_link(1, 443))
                await e.next(LinkOpened)
                e.do(SendToPeer(link_id=1, data=b"hello"))  # deferred to the end of this pass...
                if ending.startswith("network"):  # ...and the end asked for in the same pass
                    assert e.links.drop(1, reset=False)
                    await e.next(PeerClosed)
                else:
                    e.do(CloseLink(link_id=1))
                    await e.next(LinkClosed)
                await e.settled()
                assert await asyncio.to_thread(server.wait_endings) == ["server_close"]

    run(main)


@pytest.mark.integration
def test_plain_tcp_bytes_sent_just_before_a_drop_go_first() -> None:
    async def main() -> None:
        with TcpServer("close_after", close_after_bytes=5) as server:
            async with edge() as e:
                e.do(tcp(1, server.port))
                await e.next(LinkOpened)
                e.do(SendToPeer(link_id=1, data=b"hel"), SendToPeer(link_id=1, data=b"lo"))  # one pass, one write
                assert e.links.drop(1, reset=False)
                await e.next(PeerClosed)
                await e.settled()
                assert await asyncio.to_thread(server.wait_endings) == ["server_close"]

    run(main)

"""A TLS link's engine (and its OpenSSL connection) is freed when the link ends, by reference counting alone.

Before: the engine sat in a reference cycle (a bound method kept by its own step log, and a kept failure whose
traceback held the engine's frames), so every ended link's OpenSSL objects waited for the cyclic collector,
which then freed them about ten at a time in ~0.4 ms pauses on whatever event a module was serving (measured
in a handshake loop: 11 such collections in 120 handshakes). The collector is switched off here, so anything
left is a cycle.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from emulator.core.actions import CloseLink
from emulator.core.events import LinkClosed, LinkOpened, LinkOpenFailed
from emulator.servers.tls_servers import ServerSettings, TlsServer
from emulator.tls.legacy import LegacyTlsClient
from emulator.tls.session import TlsClient
from tests.runtime.test_links import edge, resolve_to, run, ssl_link, tls_request

pytestmark = pytest.mark.integration


def engines() -> int:
    return sum(isinstance(obj, (TlsClient, LegacyTlsClient)) for obj in gc.get_objects())


@pytest.fixture
def no_cyclic_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize(("settings", "request_kw", "opens"), [
    (ServerSettings(), {}, True),  # verified, opened, closed by the module
    (ServerSettings(), {"trust": ()}, False),  # verification on, no TRUSTFILE: 42, the engine keeps the failure
    (ServerSettings(ciphers="AES256-SHA"), {"cipher_ids": (9,)}, False),  # no shared suite: the server's alert
    (ServerSettings(), {"version": 1, "cipher_ids": (1,), "verify": False}, False),  # SSL 3.0: tlslite, refused
], ids=["opened", "verify-failed", "server-alert", "legacy-engine"])
def test_ended_links_leave_no_engine_behind(settings: ServerSettings, request_kw: dict[str, object], opens: bool,
                                            no_cyclic_collector: None) -> None:
    async def main() -> None:
        with TlsServer(settings) as server:
            async with edge(resolve_to(server)) as e:
                before = engines()
                for link_id in (1, 2, 3):
                    e.do(ssl_link(link_id, 443, tls=tls_request(**request_kw)))
                    if opens:
                        await e.next(LinkOpened)
                        e.do(CloseLink(link_id=link_id))
                        await e.next(LinkClosed)
                    else:
                        await e.next(LinkOpenFailed)
                await e.settled()
                assert engines() == before

    run(main)

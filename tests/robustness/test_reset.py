"""A reset (``AT+CFUN=1,1``) during a handshake or a transfer closes every socket and leaves a clean module.

Why through real sockets: "closes" means the *server* sees the connection end, not just that the
module's table is empty; "clean" means a fresh power-on state (no file, no socket, no context) that
works: a new socket opens afterwards.
"""

from __future__ import annotations

import asyncio

import pytest

from emulator.at_client import AtClient
from emulator.servers.pki import cert_bytes
from emulator.runtime.running import RunningModule
from emulator.servers.tls_servers import ServerSettings, StallServer, TcpServer, TlsServer
from tests.lab_session import online_module

pytestmark = pytest.mark.integration

ROOT = cert_bytes("root-ca.pem")


def reset_and_check_clean(running: RunningModule, at: AtClient) -> None:
    assert at.command("AT+CFUN=1,1") == []
    at.wait_urc("+SIM READY")  # the boot URC: the module is back after boot.reboot_s
    at.command("ATE0")  # echo is back on after a reset (factory settings)
    assert at.command("AT+MIPCALL?") == ["+MIPCALL: 0"]
    assert at.command("AT+MIPOPEN?") == ["+MIPOPEN: 1,2,3,4,5,6"]
    assert at.command("AT+GTSSLFILE?") == ["+GTSSLFILE: CERTFILE,0", "+GTSSLFILE: KEYFILE,0", "+GTSSLFILE: TRUSTFILE,0"]
    assert running.call(lambda: running.module.state.links) == {}
    # The edge holds no socket either, once its aborts are through (awaited on the loop, not slept for).
    asyncio.run_coroutine_threadsafe(running.links.wait_closed(), running.loop).result(5)
    assert running.call(lambda: list(running.links.link_ids)) == []


def test_reset_during_a_handshake() -> None:
    with StallServer() as stall, TlsServer() as good, online_module(
        "NL668_AM_00", [f"stall.test:443=127.0.0.1:{stall.port}", f"good.test:443=127.0.0.1:{good.port}"], strict=True
    ) as (running, at):
        at.command_with_data(f'AT+GTSSLFILE="TRUSTFILE",{len(ROOT)}', ROOT)
        at.command('AT+MIPOPEN=1,,"stall.test",443,2')
        at.command('AT+MIPOPEN=2,,"stall.test",443,2')
        stall.wait_accepted(2)  # both handshakes hang at the ClientHello
        reset_and_check_clean(running, at)
        assert len(stall.wait_endings(2)) == 2  # the server saw both connections end
        assert not [u for u in at.urcs if u.startswith("+MIPOPEN: ")]  # no late result for a dead socket
        at.command("AT+MIPCALL=1")
        at.wait_urc("+MIPCALL: ")
        at.command('AT+MIPOPEN=1,,"good.test",443,2')
        assert at.wait_urc("+MIPOPEN: 1,") == "+MIPOPEN: 1,1"  # a clean module works


def test_reset_during_transfers_both_ways() -> None:
    """A TLS socket receiving 1 MB (IPRFMT 5, so the module is pausing the peer) and a TCP socket sending."""
    flooding = ServerSettings(behaviour="greet", greet_bytes=1 << 20)
    with TlsServer(flooding) as flood, TcpServer("stall") as sink, online_module(
        "NL668_AM_00", [f"flood.test:443=127.0.0.1:{flood.port}", f"sink.test:80=127.0.0.1:{sink.port}"], strict=True
    ) as (running, at):
        at.command('AT+GTSET="IPRFMT",5')
        at.command('AT+MIPOPEN=1,,"flood.test",443,2')
        assert at.wait_urc("+MIPOPEN: 1,") == "+MIPOPEN: 1,1"
        at.command('AT+MIPOPEN=2,,"sink.test",80,0')
        assert at.wait_urc("+MIPOPEN: 2,") == "+MIPOPEN: 2,1"
        at.wait_urc("+MIPREAD: 1,")  # data is arriving
        for _ in range(8):
            at.command_with_data("AT+MIPSEND=2,2048", bytes(2048))
        reset_and_check_clean(running, at)
        assert len(flood.wait_endings(1)) == 1 and len(sink.wait_endings(1)) == 1
        assert at.command('AT+GTSET?') == ['+GTSET: "IPRFMT",5']  # kept across resets (chosen)

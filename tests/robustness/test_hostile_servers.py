"""Hostile and broken TLS servers through the AT interface (PTY + pyserial + real sockets + OpenSSL).

For every fault at every handshake stage the servers allow (emulator/servers/hostile_servers.py), the
host sees the documented result (docs/ROBUSTNESS.md §Hostile servers): ``+MIPOPEN: 1,0``, the
``+GTSSLERR`` code (none when the TCP peer simply went away), the socket id free again, and the module
still serving: a plain TCP socket opened *before* the fault still echoes, and ``AT`` answers ``OK``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from emulator.profiles import load_profile
from emulator.at_client import AtClient
from emulator.servers.hostile_servers import Fault, HostileServer, Stage
from emulator.servers.tls_servers import TcpServer, TlsServer, ServerSettings
from tests.lab_session import online_module

pytestmark = pytest.mark.integration

BASE = load_profile("NL668_AM_00")
QUICK = replace(BASE, sockets=replace(BASE.sockets, open_timeout_s=1.0))  # the stalls give up in 1 s


@contextmanager
def module_with_bystander(*rules: str) -> Iterator[AtClient]:
    """A module with socket 2 open to a TCP echo server: the bystander that must survive each fault."""
    with TcpServer() as echo, online_module(
        QUICK, [*rules, f"echo.test:7=127.0.0.1:{echo.port}"], strict=True
    ) as (_running, at):
        at.command('AT+MIPOPEN=2,,"echo.test",7,0')
        assert at.wait_urc("+MIPOPEN: 2,") == "+MIPOPEN: 2,1"
        yield at
        # The bystander still works, the AT interface still answers, the ids are as expected.
        at.command('AT+MIPSEND=2,"6f6b"')
        at.command("AT+MIPPUSH=2")
        assert at.wait_urc("+MIPRTCP: 2,") == "+MIPRTCP: 2,0,6F6B"
        assert at.command("AT") == []


def open_ssl(at: AtClient) -> tuple[str, list[str]]:
    at.command('AT+MIPOPEN=1,,"hostile.test",443,2')
    result = at.wait_urc("+MIPOPEN: 1,", timeout=20)
    return result, at.command("AT+GTSSLERR?")


#: (stage, fault, alert) -> the +GTSSLERR line (None: no TLS error, the TCP peer went away)
CASES: list[tuple[Stage, Fault, int, int | None]] = [
    ("client_hello", "alert", 40, 40),
    ("client_hello", "garbage", 0, 80),  # not TLS at all: OpenSSL fails without an alert
    ("client_hello", "truncate", 0, None),  # half a record, then FIN: the peer left
    ("client_hello", "truncate_stall", 0, 90),  # half a record, then silence: the open timer
    ("client_hello", "oversize", 0, 22),  # record_overflow
    ("client_hello", "reset", 0, None),
    ("client_hello", "close", 0, None),
    ("client_hello", "stall", 0, 90),
    ("server_hello", "alert", 49, 49),
    ("server_hello", "garbage", 0, 70),  # a record whose version is not the one agreed
    ("server_hello", "truncate", 0, None),
    ("server_hello", "oversize", 0, 22),
    ("server_hello", "reset", 0, None),
    ("server_hello", "endless_chain", 0, 47),  # a Certificate message over OpenSSL's size limit
    ("certificate", "alert", 42, 42),
    ("certificate", "oversize", 0, 22),
    ("certificate", "truncate_stall", 0, 90),
    ("server_key_exchange", "alert", 71, 71),
    ("server_key_exchange", "reset", 0, None),
    ("server_hello_done", "alert", 80, 80),
    ("server_hello_done", "garbage", 0, 70),
    ("server_hello_done", "stall", 0, 90),  # waits for our Finished that never comes
    ("change_cipher_spec", "alert", 40, 50),  # a plaintext alert after CCS is a bad encrypted record
    ("change_cipher_spec", "oversize", 0, 22),
    ("change_cipher_spec", "reset", 0, None),
]


@pytest.mark.parametrize(("stage", "fault", "alert", "code"), CASES, ids=[f"{s}-{f}" for s, f, _, _ in CASES])
def test_each_fault_fails_the_open_frees_the_socket_and_spares_the_rest(
    stage: Stage, fault: Fault, alert: int, code: int | None
) -> None:
    with HostileServer(stage, fault, alert=alert or 40) as server:
        with module_with_bystander(f"hostile.test:443=127.0.0.1:{server.port}") as at:
            result, err = open_ssl(at)
            assert result == "+MIPOPEN: 1,0"
            assert err == ([] if code is None else [f"+GTSSLERR: {code}"])
            assert at.command("AT+MIPOPEN?") == ["+MIPOPEN: 1,3,4,5,6"]  # 1 is free again, 2 is the bystander
        assert server.wait_endings(1) != []  # the module hung up on it (or it on the module)
        if fault == "endless_chain":
            # The module hung up long before the announced 16 MB (what was written includes the socket buffers).
            assert 0 < sum(server.streamed) < 2**24 - 1
            assert server.endings[0] in ("eof", "reset")


def test_a_good_handshake_through_the_relay_connects() -> None:
    """Control: the man in the middle alone changes nothing (one record a message is legal TLS)."""
    with TlsServer(ServerSettings()) as real:
        with module_with_bystander(f"hostile.test:443=127.0.0.1:{real.port}") as at:
            result, err = open_ssl(at)
            assert (result, err) == ("+MIPOPEN: 1,1", [])


@pytest.mark.parametrize("behaviour", ["reset_after", "close_after", "corrupt"])
def test_a_server_that_breaks_after_the_handshake(behaviour: str) -> None:
    """After the handshake: the peer's reset, close or a corrupt record closes socket 1 alone."""
    settings = ServerSettings(behaviour=behaviour, reset_after_bytes=1, close_after_bytes=1)  # type: ignore[arg-type]
    with TlsServer(settings) as server:
        with module_with_bystander(f"hostile.test:443=127.0.0.1:{server.port}") as at:
            at.command("AT+GTSSLVER=4")  # the corrupt record claims TLS 1.2 (under 1.0 its version is wrong: 70)
            result, _ = open_ssl(at)
            assert result == "+MIPOPEN: 1,1"
            if behaviour != "corrupt":
                at.command('AT+MIPSEND=1,"41"')
                at.command("AT+MIPPUSH=1")
            ended = at.wait_urc("+MIPSTAT: 1,")
            assert ended == ("+MIPSTAT: 1,2" if behaviour == "close_after" else "+MIPSTAT: 1,1")
            assert at.command("AT+MIPOPEN?") == ["+MIPOPEN: 1,3,4,5,6"]
            if behaviour == "corrupt":
                assert at.command("AT+GTSSLERR?") == ["+GTSSLERR: 20"]  # bad_record_mac

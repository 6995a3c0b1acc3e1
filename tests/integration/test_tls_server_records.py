"""The test TLS server's wait for handshakes that satisfy a condition (completed ones, when failed ones are recorded
too), with the stdlib ssl client (system OpenSSL) on 127.0.0.1 as the peer."""

from __future__ import annotations

import socket
import ssl
from concurrent.futures import ThreadPoolExecutor

import pytest

from emulator.servers.tls_servers import HandshakeRecord, TlsServer

pytestmark = pytest.mark.integration


def completed(h: HandshakeRecord) -> bool:
    return h.version is not None


def handshake(port: int) -> bool:
    """One full handshake and an echoed byte."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        tls.sendall(b"x")
        return tls.recv(1) == b"x"  # the server's echo: its side of the handshake is done and recorded


def not_tls(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.0\r\n\r\n")  # no ClientHello: a failed handshake, recorded with its error
        raw.recv(100)


def test_waits_for_the_records_that_satisfy_where() -> None:
    with TlsServer() as server:
        not_tls(server.port)
        assert server.wait_handshakes(1)[0].error is not None  # recorded, but no handshake to count
        # the completed ones arrive from another thread while this one waits on the condition
        with ThreadPoolExecutor(1) as pool:
            clients = pool.submit(lambda: [handshake(server.port) for _ in range(2)])
            done = server.wait_handshakes(2, 10, where=completed)
            assert clients.result(10) == [True, True]  # the clients' side too: both echoed
        assert len(done) == 2 and all(h.error is None and h.version for h in done)
        assert len(server.wait_handshakes(3)) == 3  # without where: every record, as before


def test_too_few_in_time_says_what_there_was() -> None:
    with TlsServer() as server:
        not_tls(server.port)
        assert handshake(server.port)
        with pytest.raises(TimeoutError) as late:
            server.wait_handshakes(2, 0.3, where=completed)
    assert "1 counted of 2 recorded" in str(late.value) and "errors [" in str(late.value)

"""TlsClient against real OpenSSL servers over memory BIOs: codes, data, closing.

Each failure case names the +GTSSLERR code the module reports (manual §1.3.4)
and checks the wire alert behind it; each has a positive control next to it.
"""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from emulator.core.codes import GtsslErr
from emulator.servers.pki import cert_bytes
from emulator.tls import TlsClient, TlsFailure, TlsPeerClosed
from tests.tls.conftest import (
    ROOT,
    UTC,
    Server,
    connect,
    load_cert,
    load_key,
    new_server,
    pump,
    request,
    server_context,
)

MANUAL_ALERTS = [10, 20, 21, 22, 30, 40, 41, *range(42, 52), 60, 70, 71, 80, 90, 100]


def fails(req: object, server_ctx: SSL.Context) -> tuple[TlsFailure, TlsClient]:
    """Run a handshake that must fail; return the failure and the client."""
    client = TlsClient(req)  # type: ignore[arg-type]
    server = new_server(server_ctx)
    client.initiate()
    with pytest.raises(TlsFailure) as info:
        pump(client, server)
    assert not client.handshake_done
    return info.value, client


def first_fatal(client: TlsClient) -> tuple[str, int]:
    return next((d, desc) for d, level, desc in client.alerts if level == 2)


class TestCertificateVerification:
    """GTSSLMODE=1: the server chain is checked against the TRUSTFILEs at the module clock."""

    def test_valid_chain(self) -> None:
        client, _ = connect(request(), server_context())
        assert client.handshake_done
        assert client.verify_errors == [(2, 0), (1, 0), (0, 0)]
        assert client.alerts == []

    def test_no_trust_file_is_42(self) -> None:
        # Manual §2.6 example 2; OpenSSL itself sends 48 (issuer unknown, error 20).
        failure, client = fails(request(trust_pems=()), server_context())
        assert failure.gtsslerr == GtsslErr.BAD_CERTIFICATE
        assert first_fatal(client) == ("sent", 48)

    def test_not_yet_valid_is_42(self) -> None:
        failure, client = fails(request(), server_context("server-not-yet-valid.pem", "server-not-yet-valid.key"))
        assert failure.gtsslerr == 42
        assert (0, 9) in client.verify_errors
        assert first_fatal(client) == ("sent", 42)

    def test_expired_is_45(self) -> None:
        failure, client = fails(request(), server_context("server-expired.pem", "server-expired.key"))
        assert failure.gtsslerr == GtsslErr.CERTIFICATE_EXPIRED
        assert (0, 10) in client.verify_errors
        assert first_fatal(client) == ("sent", 45)

    def test_expired_is_fine_when_the_module_clock_is_inside_its_validity(self) -> None:
        # Manual §2.6 example 3 note: "depends on the time of the module". The
        # committed CAs span 2010-2050, so only the leaf's own dates matter.
        req = request(module_time=dt.datetime(2019, 6, 1, tzinfo=UTC))
        client, _ = connect(req, server_context("server-expired.pem", "server-expired.key"))
        assert client.handshake_done
        # Negative control: the same chain with today's module clock.
        failure, _ = fails(request(), server_context("server-expired.pem", "server-expired.key"))
        assert failure.gtsslerr == 45

    @pytest.mark.parametrize(
        ("when", "code"),
        [(dt.datetime(2046, 1, 1, tzinfo=UTC), 45), (dt.datetime(2024, 6, 1, tzinfo=UTC), 42)],
    )
    def test_module_clock_outside_the_chain(self, when: dt.datetime, code: int) -> None:
        # One cached context serves both clients: each clock is the connection's own.
        failure, _ = fails(request(module_time=when), server_context())
        assert failure.gtsslerr == code
        assert connect(request(), server_context())[0].handshake_done

    def test_verify_off_accepts_expired(self) -> None:
        client, _ = connect(request(verify=False), server_context("server-expired.pem", "server-expired.key"))
        assert client.handshake_done
        assert client.verify_errors == []

    def test_untrusted_root_is_48(self) -> None:
        failure, client = fails(request(), server_context("server-untrusted.pem", "server-untrusted.key", ()))
        assert failure.gtsslerr == GtsslErr.UNKNOWN_CA
        assert first_fatal(client) == ("sent", 48)

    def test_self_signed_is_48(self) -> None:
        failure, client = fails(request(), server_context("server-self-signed.pem", "server-self-signed.key", ()))
        assert failure.gtsslerr == 48
        assert (0, 18) in client.verify_errors

    def test_incomplete_chain_is_48(self) -> None:
        failure, _ = fails(request(), server_context(chain=()))
        assert failure.gtsslerr == 48

    def test_a_trust_file_with_several_certificates(self) -> None:
        bundle = cert_bytes("other-root-ca.pem") + cert_bytes("root-ca.pem")
        client, _ = connect(request(trust_pems=(bundle,)), server_context())
        assert client.handshake_done

    def test_every_trust_file_counts(self) -> None:
        req = request(trust_pems=(cert_bytes("other-root-ca.pem"), cert_bytes("big-trust.pem"), ROOT))
        assert connect(req, server_context())[0].handshake_done


def echo(server: Server) -> None:
    """Send back everything the server has received."""
    data = bytes(server.received)
    server.received.clear()
    server.conn.sendall(data)


class TestData:
    PAYLOAD = bytes(range(256)) * 256  # 64 KiB

    @pytest.mark.parametrize("version", [2, 3, 4])
    def test_64k_each_way(self, version: int) -> None:
        client, server = connect(request(version=version, cipher_ids=(2, 4)), server_context())
        client.send(self.PAYLOAD)
        pump(client, server)
        assert bytes(server.received) == self.PAYLOAD
        echo(server)
        pump(client, server)
        assert client.read() == self.PAYLOAD
        assert client.read() == b""

    def test_server_bytes_one_at_a_time(self) -> None:
        client = TlsClient(request(cipher_ids=(9,)))
        server = new_server(server_context())
        client.initiate()
        pump(client, server, split=lambda data: [data[i : i + 1] for i in range(len(data))])
        assert client.handshake_done
        server.conn.sendall(b"hello module")
        pump(client, server, split=lambda data: [data[i : i + 1] for i in range(len(data))])
        assert client.read() == b"hello module"

    def test_payload_right_behind_the_finished(self) -> None:
        # The server's first records can arrive in the same chunk as its Finished.
        client = TlsClient(request(version=2))
        server = new_server(server_context())
        client.initiate()
        server.conn.bio_write(client.outgoing())
        server.step()
        client.feed(server.drain())
        server.conn.bio_write(client.outgoing())
        server.step()
        assert server.handshake_done
        server.conn.sendall(b"early")
        client.feed(server.drain())
        assert client.handshake_done
        assert client.read() == b"early"

    def test_send_before_the_handshake_is_a_bug(self) -> None:
        client = TlsClient(request())
        client.initiate()
        with pytest.raises(RuntimeError):
            client.send(b"x")


class TestClosing:
    def test_client_close_notify(self) -> None:
        client, server = connect(request(), server_context())
        client.close()
        client.close()  # idempotent
        pump(client, server)
        assert server.closed_by_peer
        with pytest.raises(RuntimeError):
            client.send(b"after close")

    def test_server_close_notify(self) -> None:
        client, server = connect(request(), server_context())
        server.conn.sendall(b"bye")
        server.conn.shutdown()
        pump(client, server)
        assert client.closed_by_peer
        assert client.read() == b"bye"
        assert ("recv", 1, 0) in client.alerts
        client.peer_eof()
        assert not client.eof_without_close_notify

    def test_peer_eof_without_close_notify_after_the_handshake(self) -> None:
        client, _ = connect(request(), server_context())
        client.peer_eof()
        assert client.eof_without_close_notify
        assert not client.closed_by_peer

    @pytest.mark.parametrize("after_hello", [False, True])
    def test_peer_eof_during_the_handshake_is_not_a_tls_error(self, after_hello: bool) -> None:
        client = TlsClient(request())
        client.initiate()
        if after_hello:
            server = new_server(server_context())
            server.conn.bio_write(client.outgoing())
            server.step()
            client.feed(server.drain()[:40])  # part of the ServerHello
        with pytest.raises(TlsPeerClosed):
            client.peer_eof()
        assert not isinstance(TlsPeerClosed("x"), TlsFailure)

    def test_close_before_the_handshake_sends_nothing(self) -> None:
        client = TlsClient(request())
        client.initiate()
        client.outgoing()
        client.close()
        assert client.outgoing() == b""

    def test_close_after_a_failure_sends_only_the_alert(self) -> None:
        _, client = fails(request(), server_context("server-expired.pem", "server-expired.key"))
        client.close()
        assert client.outgoing() == bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 45])


def first_reply(req: object) -> tuple[TlsClient, bytes]:
    """Start a handshake with the default server; return the client and the server's first flight."""
    client = TlsClient(req)  # type: ignore[arg-type]
    server = new_server(server_context())
    client.initiate()
    server.conn.bio_write(client.outgoing())
    server.step()
    return client, server.drain()


@functools.cache
def bad_signature_server() -> SSL.Context:
    """server.pem with one byte of its signature flipped (X509 error 7)."""
    der = bytearray(load_cert("server.pem").public_bytes(Encoding.DER))
    der[-5] ^= 0x01  # inside the signature BIT STRING, the last field of the DER
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.use_certificate(x509.load_der_x509_certificate(bytes(der)))
    ctx.add_extra_chain_cert(load_cert("intermediate-ca.pem"))
    ctx.use_privatekey(load_key("server.key"))
    return ctx


class TestMisbehavingServer:
    """Alerts the module sends itself, produced by rewriting the server's bytes (tls-engine.md §1.5)."""

    @staticmethod
    def server_hello_offsets(flight: bytes) -> int:
        assert flight[0] == 0x16 and flight[5] == 2  # a handshake record holding the ServerHello
        return 5 + 4 + 2 + 32 + 1 + flight[43]  # header, hs header, version, random, session id

    def test_unoffered_suite_is_47(self) -> None:
        client, flight = first_reply(request(cipher_ids=(3,)))
        at = self.server_hello_offsets(flight)
        with pytest.raises(TlsFailure) as info:
            client.feed(flight[:at] + b"\x00\x35" + flight[at + 2 :])  # AES256-SHA, not offered
        assert info.value.gtsslerr == GtsslErr.ILLEGAL_PARAMETER
        assert first_fatal(client) == ("sent", 47)

    def test_bad_server_hello_length_is_50(self) -> None:
        client, flight = first_reply(request())
        with pytest.raises(TlsFailure) as info:
            client.feed(flight[:6] + b"\x00\x00\x10" + flight[9:])
        assert info.value.gtsslerr == GtsslErr.DECODE_ERROR

    def test_flipped_application_data_is_20(self) -> None:
        client, server = connect(request(), server_context())
        server.conn.sendall(b"x" * 100)
        record = bytearray(server.drain())
        record[-1] ^= 0x01
        with pytest.raises(TlsFailure) as info:
            client.feed(bytes(record))
        assert info.value.gtsslerr == GtsslErr.BAD_RECORD_MAC
        assert first_fatal(client) == ("sent", 20)

    def test_server_leaf_for_client_auth_only_is_43(self) -> None:
        # client.pem: EKU clientAuth, issued by the trusted root (X509 error 26).
        failure, client = fails(request(), server_context("client.pem", "client.key", ()))
        assert failure.gtsslerr == GtsslErr.UNSUPPORTED_CERTIFICATE
        assert (0, 26) in client.verify_errors

    def test_bad_certificate_signature_is_51(self) -> None:
        failure, client = fails(request(), bad_signature_server())
        assert failure.gtsslerr == GtsslErr.DECRYPT_ERROR
        assert (0, 7) in client.verify_errors

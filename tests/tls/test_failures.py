"""TlsClient failures against real OpenSSL servers over memory BIOs (docs/GTSSLERR.md).

Host names, protocol versions and suites, client certificates, the server's
own alerts, and unusable files. Each failure names the +GTSSLERR code the
module reports and the wire alert behind it; each has a positive control.
The helpers come from conftest.py and test_session_in_memory.py.
"""

from __future__ import annotations

import functools
import sys
from types import TracebackType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from emulator.core.codes import GtsslErr
from emulator.servers.pki import cert_bytes
from emulator.tls import TlsClient, TlsFailure, context_factory
from tests.tls.conftest import ROOT, connect, load_key, new_server, pump, request, server_context
from tests.tls.test_session_in_memory import MANUAL_ALERTS, fails, first_fatal, first_reply

WRONG_HOST = ("server-wrong-host.pem", "server-wrong-host.key")
EXPIRED = ("server-expired.pem", "server-expired.key")
SHA256_IDS = (7, 8, 9, 10)
CLIENT_PEM = cert_bytes("client.pem")
CLIENT_KEY = cert_bytes("client.key")


def alert_record(level: int, description: int) -> bytes:
    """A plaintext alert record as a server's first reply: ``15 03 01 00 02 <level> <description>``."""
    return bytes([0x15, 0x03, 0x01, 0x00, 0x02, level, description])


def records(flight: bytes) -> list[bytes]:
    """Split a server flight into its TLS records (5-byte header + body)."""
    out = []
    while flight:
        end = 5 + int.from_bytes(flight[3:5], "big")
        out.append(flight[:end])
        flight = flight[end:]
    return out


class TestHostName:
    """The name given to +MIPOPEN is checked against the server leaf (X509 error 62 / 64 -> 153)."""

    def test_a_name_in_the_dns_sans(self) -> None:
        # server_context() sends server.pem + intermediate-ca.pem (server-chain.pem).
        client, _ = connect(request(server_name="www.example.test"), server_context())
        assert client.handshake_done
        assert client.verify_errors == [(2, 0), (1, 0), (0, 0)]

    def test_wrong_host_is_153(self) -> None:
        failure, client = fails(request(server_name="www.example.test"), server_context(*WRONG_HOST))
        assert failure.gtsslerr == GtsslErr.HOST_MISMATCH
        assert (0, 62) in client.verify_errors
        assert first_fatal(client) == ("sent", 42)  # OpenSSL's wire alert; the module says 153

    def test_an_ip_literal_in_the_ip_sans(self) -> None:
        client, _ = connect(request(server_name="127.0.0.1"), server_context())
        assert client.handshake_done
        assert client.alerts == []

    def test_an_ip_literal_not_in_the_ip_sans_is_153(self) -> None:
        failure, client = fails(request(server_name="10.0.0.1"), server_context())
        assert failure.gtsslerr == GtsslErr.HOST_MISMATCH
        assert (0, 64) in client.verify_errors
        assert first_fatal(client) == ("sent", 42)

    def test_without_verification_the_host_is_not_checked(self) -> None:
        client, _ = connect(request(verify=False), server_context(*WRONG_HOST))
        assert client.handshake_done
        assert client.verify_errors == []

    def test_expired_and_wrong_host_is_153(self) -> None:
        # OpenSSL checks the host (check_id) before the dates: the first error
        # stops verification, so error 10 / alert 45 never shows.
        failure, client = fails(request(server_name="wrong.example.test"), server_context(*EXPIRED))
        assert failure.gtsslerr == GtsslErr.HOST_MISMATCH
        assert client.verify_errors == [(0, 62)]
        assert first_fatal(client) == ("sent", 42)
        # Control: the same leaf with its own name is just expired.
        assert fails(request(), server_context(*EXPIRED))[0].gtsslerr == 45

    def test_ip_check_without_set1_ip_is_still_153(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The fallback path of a binding without X509_VERIFY_PARAM_set1_ip
        # (docs/GTSSLERR.md "Fallback IP check"): the IP SANs are checked in
        # Python; the code stays 153, the wire alert becomes 80.
        monkeypatch.setattr(context_factory, "_HAS_SET1_IP", False)
        failure, client = fails(request(server_name="10.0.0.1"), server_context())
        assert failure.gtsslerr == GtsslErr.HOST_MISMATCH
        assert (0, 64) in client.verify_errors
        assert first_fatal(client) == ("sent", 80)
        assert connect(request(server_name="127.0.0.1"), server_context())[0].handshake_done

    def test_server_rejects_the_sni_is_155(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # pyOpenSSL hands the callback's exception to sys.excepthook (which
        # would print a traceback) and answers a fatal unrecognized_name (112).
        seen: list[type[BaseException]] = []

        def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
            seen.append(kind)

        monkeypatch.setattr(sys, "excepthook", hook)
        failure, client = fails(request(), server_context(reject_sni=True))
        assert failure.gtsslerr == GtsslErr.UNRECOGNIZED_SERVER_NAME
        assert first_fatal(client) == ("recv", 112)
        assert seen == [LookupError]


class TestProtocolFailures:
    """Versions, suites and what a server may answer instead of a ServerHello."""

    def test_server_needs_a_newer_version_is_70_received(self) -> None:
        tls12_only = server_context(min_version=SSL.TLS1_2_VERSION)
        failure, client = fails(request(version=2), tls12_only)
        assert failure.gtsslerr == GtsslErr.PROTOCOL_VERSION
        assert first_fatal(client) == ("recv", 70)
        assert connect(request(version=4), tls12_only)[0].handshake_done

    @pytest.mark.parametrize("version", [3, 4])
    def test_server_answers_an_older_version_is_70_sent(self, version: int) -> None:
        # TLS 1.1 runs at @SECLEVEL=0, so only the pinned minimum refuses TLS 1.0 there.
        tls10_only = server_context(max_version=SSL.TLS1_VERSION)
        failure, client = fails(request(version=version), tls10_only)
        assert failure.gtsslerr == GtsslErr.PROTOCOL_VERSION
        assert first_fatal(client) == ("sent", 70)
        assert connect(request(version=2), tls10_only)[0].handshake_done

    def test_no_shared_cipher_is_40(self) -> None:
        aes256_sha256 = server_context(min_version=SSL.TLS1_2_VERSION, ciphers="AES256-SHA256")
        failure, client = fails(request(version=4, cipher_ids=(3,)), aes256_sha256)
        assert failure.gtsslerr == GtsslErr.HANDSHAKE_FAILURE
        assert first_fatal(client) == ("recv", 40)
        assert connect(request(version=4, cipher_ids=(8,)), aes256_sha256)[0].handshake_done

    @pytest.mark.parametrize("version", [2, 3])
    def test_tls10_with_only_sha256_suites_is_80(self, version: int) -> None:
        # The SHA-256 suites exist only in TLS 1.2: "no ciphers available" at
        # initiate(), before any ClientHello; OpenSSL queues a fatal 80.
        client = TlsClient(request(version=version, cipher_ids=SHA256_IDS))
        with pytest.raises(TlsFailure) as info:
            client.initiate()
        assert info.value.gtsslerr == GtsslErr.INTERNAL_ERROR
        assert first_fatal(client) == ("sent", 80)
        assert client.outgoing() == alert_record(2, 80)  # the alert, and no ClientHello
        assert connect(request(version=4, cipher_ids=SHA256_IDS), server_context())[0].handshake_done

    def test_a_non_tls_reply_is_80_without_an_alert(self) -> None:
        client, _ = first_reply(request())
        with pytest.raises(TlsFailure) as info:
            client.feed(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        assert info.value.gtsslerr == GtsslErr.INTERNAL_ERROR
        assert client.alerts == []

    @pytest.mark.parametrize("how", ["server_hello_retyped_as_finished", "certificate_before_server_hello"])
    def test_a_malformed_handshake_record_is_10_sent(self, how: str) -> None:
        client, flight = first_reply(request())
        hello, *rest = records(flight)
        assert hello[0] == 0x16 and hello[5] == 2 and rest  # ServerHello, then Certificate ...
        if how == "server_hello_retyped_as_finished":
            flight = hello[:5] + b"\x14" + hello[6:] + b"".join(rest)
        else:
            flight = b"".join(rest)
        with pytest.raises(TlsFailure) as info:
            client.feed(flight)
        assert info.value.gtsslerr == GtsslErr.UNEXPECTED_MESSAGE
        assert first_fatal(client) == ("sent", 10)

    @pytest.mark.parametrize("alert", MANUAL_ALERTS)
    def test_a_fatal_alert_as_first_reply_is_reported_as_is(self, alert: int) -> None:
        client, _ = first_reply(request())
        with pytest.raises(TlsFailure) as info:
            client.feed(alert_record(2, alert))
        assert info.value.gtsslerr == alert
        assert client.alerts == [("recv", 2, alert)]
        assert client.outgoing() == b""  # nothing is owed after a received fatal alert

    @pytest.mark.parametrize("alert", [86, 109, 116])
    def test_a_fatal_alert_outside_the_manual_is_40(self, alert: int) -> None:
        client, _ = first_reply(request())
        with pytest.raises(TlsFailure) as info:
            client.feed(alert_record(2, alert))
        assert info.value.gtsslerr == GtsslErr.HANDSHAKE_FAILURE
        assert client.alerts == [("recv", 2, alert)]

    def test_a_warning_no_renegotiation_in_the_handshake_is_40_sent(self) -> None:
        # A warning never counts; OpenSSL answers this one with a fatal 40.
        client, _ = first_reply(request())
        with pytest.raises(TlsFailure) as info:
            client.feed(alert_record(1, 100))
        assert info.value.gtsslerr == GtsslErr.HANDSHAKE_FAILURE
        assert client.alerts == [("recv", 1, 100), ("sent", 2, 40)]


def client_subject_cn(name: x509.Name) -> str:
    value = name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(value, str)
    return value


class TestClientCertificate:
    """CERTFILE / KEYFILE against a server that requires a client certificate issued by root-ca."""

    @staticmethod
    def requiring() -> SSL.Context:
        return server_context(client_ca="root-ca.pem")

    def test_server_requires_one_and_none_is_loaded_is_40(self) -> None:
        failure, client = fails(request(), self.requiring())
        assert failure.gtsslerr == GtsslErr.HANDSHAKE_FAILURE
        assert first_fatal(client) == ("recv", 40)
        assert client.verify_errors == [(2, 0), (1, 0), (0, 0)]  # the server itself was fine

    @pytest.mark.parametrize("key", ["client.key", "client-pkcs8.key"])
    def test_mutual_tls(self, key: str) -> None:
        req = request(cert_pem=CLIENT_PEM, key_pem=cert_bytes(key))
        client, server = connect(req, self.requiring())
        assert client.handshake_done and server.handshake_done
        seen = server.conn.get_peer_certificate(as_cryptography=True)
        assert seen is not None
        assert client_subject_cn(seen.subject) == "nl668-emulator-client"

    def test_client_cert_from_another_ca_is_48_received(self) -> None:
        req = request(cert_pem=cert_bytes("client-other-ca.pem"), key_pem=cert_bytes("client-other-ca.key"))
        failure, client = fails(req, self.requiring())
        assert failure.gtsslerr == GtsslErr.UNKNOWN_CA
        assert first_fatal(client) == ("recv", 48)
        assert client.verify_errors == [(2, 0), (1, 0), (0, 0)]

    @pytest.mark.parametrize("missing", ["key_pem", "cert_pem"])
    def test_a_cert_or_key_alone_sends_no_client_certificate(self, missing: str) -> None:
        loaded: dict[str, bytes | None] = {"cert_pem": CLIENT_PEM, "key_pem": CLIENT_KEY}
        loaded[missing] = None
        client = TlsClient(request(**loaded))
        server = new_server(self.requiring())
        client.initiate()
        with pytest.raises(TlsFailure) as info:
            pump(client, server)
        assert info.value.gtsslerr == GtsslErr.HANDSHAKE_FAILURE
        assert first_fatal(client) == ("recv", 40)
        assert server.failed is not None
        assert server.conn.get_peer_certificate(as_cryptography=True) is None


def bare_base64(pem: bytes) -> bytes:
    """The PEM body without its BEGIN / END lines."""
    return b"".join(line + b"\n" for line in pem.splitlines() if not line.startswith(b"-----"))


@functools.cache
def encrypted_client_key(fmt: serialization.PrivateFormat) -> bytes:
    """client.key under a passphrase (the module has no passphrase command)."""
    key = load_key("client.key")
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.BestAvailableEncryption(b"passphrase"))


def unusable(**changes: object) -> TlsFailure:
    """Build a client that must fail at construction; return the failure."""
    with pytest.raises(TlsFailure) as info:
        TlsClient(request(**changes))
    return info.value


class TestUnusableFiles:
    """Files that cannot be used are TlsFailure(152) at construction, before any TLS byte."""

    BAD_CERTIFICATES = {
        "bare_base64": bare_base64(ROOT),
        "empty": b"",
        "garbage": b"not a certificate\n",
        "truncated": ROOT[: len(ROOT) // 2],
        "a_key": cert_bytes("root-ca.key"),
    }

    @pytest.mark.parametrize("body", BAD_CERTIFICATES.values(), ids=BAD_CERTIFICATES.keys())
    def test_a_trust_file_that_is_not_a_certificate_is_152(self, body: bytes) -> None:
        failure = unusable(trust_pems=(body,))
        assert failure.gtsslerr == GtsslErr.INVALID
        assert "TRUSTFILE 1" in failure.why

    def test_the_message_names_the_file_not_its_content(self) -> None:
        body = bare_base64(ROOT)
        failure = unusable(trust_pems=(ROOT, body))
        assert "TRUSTFILE 2" in failure.why
        assert body.splitlines()[0].decode() not in str(failure)
        TlsClient(request(trust_pems=(ROOT, ROOT)))  # control: two good files construct

    def test_trust_files_are_parsed_even_without_verification(self) -> None:
        failure = unusable(verify=False, trust_pems=(bare_base64(ROOT),))
        assert failure.gtsslerr == GtsslErr.INVALID

    @pytest.mark.parametrize(
        "body", [bare_base64(CLIENT_PEM), cert_bytes("client.key")], ids=["bare_base64", "a_key"]
    )
    def test_a_cert_file_that_is_not_a_certificate_is_152(self, body: bytes) -> None:
        failure = unusable(cert_pem=body, key_pem=CLIENT_KEY)
        assert failure.gtsslerr == GtsslErr.INVALID
        assert "CERTFILE" in failure.why

    @pytest.mark.parametrize(
        "body", [bare_base64(CLIENT_KEY), CLIENT_PEM, b""], ids=["bare_base64", "a_certificate", "empty"]
    )
    def test_a_key_file_that_is_not_a_key_is_152(self, body: bytes) -> None:
        failure = unusable(cert_pem=CLIENT_PEM, key_pem=body)
        assert failure.gtsslerr == GtsslErr.INVALID
        assert "KEYFILE" in failure.why

    def test_cert_and_key_that_do_not_match_is_152(self) -> None:
        failure = unusable(cert_pem=CLIENT_PEM, key_pem=cert_bytes("server.key"))
        assert failure.gtsslerr == GtsslErr.INVALID
        assert "do not match" in failure.why
        TlsClient(request(cert_pem=CLIENT_PEM, key_pem=CLIENT_KEY))  # control: the matching pair constructs

    @pytest.mark.parametrize(
        "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8], ids=["pkcs1", "pkcs8"]
    )
    def test_an_encrypted_key_is_152(self, fmt: serialization.PrivateFormat) -> None:
        key_pem = encrypted_client_key(fmt)
        assert b"ENCRYPTED" in key_pem
        failure = unusable(cert_pem=CLIENT_PEM, key_pem=key_pem)
        assert failure.gtsslerr == GtsslErr.INVALID
        assert "KEYFILE" in failure.why

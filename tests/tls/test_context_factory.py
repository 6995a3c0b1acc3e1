"""The settings tables and what the module puts on the wire (manual §1.4, §1.5).

Every negotiation runs a real OpenSSL handshake over memory BIOs; the
ClientHello checks parse the client's first flight as a server would read it.
"""

from __future__ import annotations

import pytest
from OpenSSL import SSL

from emulator.core.codes import CipherId, GtsslErr, SslVersion
from emulator.tls import TlsClient, TlsFailure
from emulator.tls.context_factory import (
    CIPHER_NAMES,
    SECURITY_LEVELS,
    SSL_VERSIONS,
    build_context,
    is_ip_literal,
)
from tests.tls.clienthello import (
    EXT_KEY_SHARE,
    EXT_SERVER_NAME,
    EXT_SESSION_TICKET,
    EXT_SUPPORTED_VERSIONS,
    SCSV,
    parse_client_hello,
)
from tests.tls.conftest import connect, request, server_context

#: IANA cipher suite numbers of the manual's ids (RFC 5246 App. A.5, RFC 5246/4346).
IANA = {1: 0x0016, 2: 0x0033, 3: 0x002F, 4: 0x0039, 5: 0x0035, 6: 0x000A, 7: 0x003C, 8: 0x003D, 9: 0x0067, 10: 0x006B}
#: The protocol a +GTSSLVER value pins: (ClientHello legacy_version, OpenSSL's name).
WIRE_VERSION = {2: (0x0301, "TLSv1"), 3: (0x0302, "TLSv1.1"), 4: (0x0303, "TLSv1.2")}
SHA256_IDS = (7, 8, 9, 10)
OPENSSL_IDS = (2, 3, 4, 5, 7, 8, 9, 10)


class TestTables:
    def test_every_manual_id_and_version_has_an_entry(self) -> None:
        assert set(CIPHER_NAMES) == {c for c in CipherId if 1 <= c <= 10}
        assert set(SSL_VERSIONS) == set(SslVersion)
        assert set(SECURITY_LEVELS) == {v for v, p in SSL_VERSIONS.items() if p is not None}

    @pytest.mark.parametrize("cid", OPENSSL_IDS)
    def test_each_name_is_exactly_one_suite_of_this_openssl(self, cid: int) -> None:
        name = CIPHER_NAMES[cid]
        assert name is not None
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        ctx.set_cipher_list(f"{name}:@SECLEVEL=0".encode())
        tls12 = [n for n in SSL.Connection(ctx, None).get_cipher_list() if not n.startswith("TLS_")]
        assert tls12 == [name]

    @pytest.mark.parametrize("cid", [1, 6])
    def test_3des_ids_are_absent_from_this_openssl(self, cid: int) -> None:
        assert CIPHER_NAMES[cid] is None
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        legacy = {1: "EDH-RSA-DES-CBC3-SHA", 6: "DES-CBC3-SHA"}[cid]
        with pytest.raises(SSL.Error, match="no cipher match"):
            ctx.set_cipher_list(f"{legacy}:@SECLEVEL=0".encode())

    def test_ssl3_is_absent_from_this_openssl(self) -> None:
        assert SSL_VERSIONS[SslVersion.SSL3_0] is None
        with pytest.raises(SSL.Error):
            SSL.Context(SSL.TLS_CLIENT_METHOD).set_min_proto_version(SSL.SSL3_VERSION)

    @pytest.mark.parametrize("name", ["127.0.0.1", "10.0.0.1", "::1", "2001:db8::7"])
    def test_ip_literals(self, name: str) -> None:
        assert is_ip_literal(name)

    @pytest.mark.parametrize("name", ["www.example.test", "localhost", "1.2.3", "127.0.0.1.example"])
    def test_names(self, name: str) -> None:
        assert not is_ip_literal(name)


class TestSecurityLevel:
    """The measurement behind SECURITY_LEVELS, kept as a test so an OpenSSL update shows."""

    @pytest.mark.parametrize("version", [2, 3])
    def test_tls10_and_11_fail_above_level_0(self, version: int) -> None:
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        pinned = SSL_VERSIONS[version]
        assert pinned is not None
        ctx.set_min_proto_version(pinned)
        ctx.set_max_proto_version(pinned)
        ctx.set_cipher_list(b"AES128-SHA:@SECLEVEL=1")
        conn = SSL.Connection(ctx, None)
        conn.set_connect_state()
        with pytest.raises(SSL.Error, match="no protocols available"):
            conn.do_handshake()

    def test_tls12_works_at_the_default_level(self) -> None:
        assert SECURITY_LEVELS[SslVersion.TLS1_2] is None
        client, _ = connect(request(version=4, cipher_ids=OPENSSL_IDS), server_context())
        assert client.handshake_done


class TestNegotiation:
    """Each id negotiates exactly its suite, each version exactly itself (manual §1.4.4, §1.5.4)."""

    @pytest.mark.parametrize(
        ("cid", "version"),
        [(cid, v) for cid in (2, 3, 4, 5) for v in (2, 3, 4)] + [(cid, 4) for cid in SHA256_IDS],
    )
    def test_cipher_id(self, cid: int, version: int) -> None:
        client, server = connect(request(version=version, cipher_ids=(cid,)), server_context())
        assert server.conn.get_cipher_name() == CIPHER_NAMES[cid]
        assert server.conn.get_protocol_version_name() == WIRE_VERSION[version][1]
        assert client.negotiated == f"{WIRE_VERSION[version][1]} {CIPHER_NAMES[cid]}"

    @pytest.mark.parametrize("version", [2, 3, 4])
    def test_version(self, version: int) -> None:
        client, server = connect(request(version=version, cipher_ids=(2, 3, 4, 5)), server_context())
        assert server.conn.get_protocol_version_name() == WIRE_VERSION[version][1]
        assert client.negotiated.split()[0] == WIRE_VERSION[version][1]

    def test_negotiated_is_empty_before_the_handshake(self) -> None:
        assert TlsClient(request()).negotiated == ""


def first_flight(**changes: object) -> bytes:
    client = TlsClient(request(**changes))
    client.initiate()
    return client.outgoing()


class TestClientHello:
    """The first flight offers exactly what the settings say, and no more."""

    @pytest.mark.parametrize(
        ("version", "ids"),
        [
            (4, (3,)),
            (4, (10, 3)),
            (4, OPENSSL_IDS),
            (4, tuple(range(1, 11))),  # 3DES ids are skipped, not fatal, when others remain
            (2, (2, 3, 4, 5)),
            (3, (5, 2)),
            (2, (3, 7, 8, 9, 10)),  # SHA-256 suites drop out below TLS 1.2
        ],
    )
    def test_offers_exactly_the_enabled_suites(self, version: int, ids: tuple[int, ...]) -> None:
        hello = parse_client_hello(first_flight(version=version, cipher_ids=ids))
        usable = [i for i in ids if CIPHER_NAMES[i] is not None and (version == 4 or i not in SHA256_IDS)]
        offered = [s for s in hello.cipher_suites if s != SCSV]
        # OpenSSL may order suites its own way (strength); the set is what matters.
        assert sorted(offered) == sorted(IANA[i] for i in usable)
        assert len(offered) == len(set(offered))
        # RFC 5746 SCSV: OpenSSL's way of saying "secure renegotiation" in an
        # initial TLS <= 1.2 hello. Acceptable: the real module's stack is unknown.
        assert set(hello.cipher_suites) - set(offered) <= {SCSV}

    @pytest.mark.parametrize("version", [2, 3, 4])
    def test_version_is_pinned_and_there_is_no_tls13(self, version: int) -> None:
        hello = parse_client_hello(first_flight(version=version, cipher_ids=(2, 3)))
        assert hello.legacy_version == WIRE_VERSION[version][0]
        assert EXT_SUPPORTED_VERSIONS not in hello.extensions
        assert EXT_KEY_SHARE not in hello.extensions
        assert not any(0x1301 <= s <= 0x1305 for s in hello.cipher_suites)

    @pytest.mark.parametrize("version", [2, 3, 4])
    def test_no_ticket_no_compression_no_ecdhe(self, version: int) -> None:
        hello = parse_client_hello(first_flight(version=version, cipher_ids=OPENSSL_IDS))
        assert EXT_SESSION_TICKET not in hello.extensions
        assert hello.compression_methods == b"\x00"
        assert hello.session_id == b""  # no session is ever set: nothing to resume, even from a shared context
        # Every ECDHE suite lives at 0xC0xx / 0xCCxx (IANA registry).
        assert not any(s >> 8 in (0xC0, 0xCC) for s in hello.cipher_suites)

    def test_sni_carries_the_host_name(self) -> None:
        hello = parse_client_hello(first_flight(server_name="www.baidu.com"))
        assert hello.server_name == "www.baidu.com"

    @pytest.mark.parametrize("verify", [True, False])
    @pytest.mark.parametrize("ip", ["114.255.225.39", "::1"])
    def test_no_sni_for_ip_literals(self, ip: str, verify: bool) -> None:
        hello = parse_client_hello(first_flight(server_name=ip, verify=verify))
        assert EXT_SERVER_NAME not in hello.extensions

    def test_sni_also_without_verification(self) -> None:
        hello = parse_client_hello(first_flight(server_name="localhost", verify=False))
        assert hello.server_name == "localhost"


class TestUnusableSettings:
    """Settings this OpenSSL cannot honour fail at construction, before any byte is sent."""

    @pytest.mark.parametrize("ids", [(1,), (6,), (1, 6)])
    def test_only_3des_ids(self, ids: tuple[int, ...]) -> None:
        with pytest.raises(TlsFailure) as info:
            TlsClient(request(cipher_ids=ids))
        assert info.value.gtsslerr == GtsslErr.HANDSHAKE_FAILURE
        assert "legacy engine" in info.value.why

    def test_ssl3(self) -> None:
        with pytest.raises(TlsFailure) as info:
            build_context(request(version=1, cipher_ids=(3,)))
        assert info.value.gtsslerr == 40
        assert "legacy engine" in info.value.why

    def test_unknown_ids_count_as_absent(self) -> None:
        with pytest.raises(TlsFailure) as info:
            TlsClient(request(cipher_ids=(11, 31)))
        assert info.value.gtsslerr == 40

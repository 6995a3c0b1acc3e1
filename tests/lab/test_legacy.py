"""SSL 3.0 and 3DES: negotiated on M910 by the legacy engine, refused where the variant lacks them.

Through the AT interface against the lab's tlslite-ng endpoints (which record
what was negotiated), plus the engine choice and the legacy engine's
ClientHello and verification in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from emulator.core.tls_request import TlsRequest
from emulator.lab.scenarios import HOST
from emulator.lab.server import Lab, LiteServer
from emulator.at_client import AtClient, AtError
from emulator.servers.pki import cert_bytes
from emulator.tls.engine import make_tls_client, needs_legacy
from emulator.tls.legacy import IANA_SUITES, LegacyTlsClient
from emulator.tls.session import TlsClient, TlsFailure
from tests.lab_session import lab_rules, verifying_module

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(["sslv3-only", "3des-only"]) as running:
        yield running


@pytest.fixture
def m910(lab: Lab) -> Iterator[AtClient]:
    with verifying_module("M910", lab_rules(lab), strict=True) as (_running, at):
        yield at


def open_ssl(at: AtClient, port: int) -> str:
    at.command(f'AT+MIPOPEN=1,,"{HOST}",{port},2')
    result = at.wait_urc("+MIPOPEN: 1,", timeout=20)
    if result.endswith(",1"):
        at.command('AT+MIPSEND=1,"68656C6C6F"')
        at.command("AT+MIPPUSH=1")
        assert at.wait_urc("+MIPRTCP: 1,") == "+MIPRTCP: 1,0,68656C6C6F"  # the echo came back decrypted
        at.command("AT+MIPCLOSE=1")
        at.wait_urc("+MIPCLOSE: 1,")
    return result


def server(lab: Lab, name: str) -> LiteServer:
    srv = lab.endpoint(name).server
    assert isinstance(srv, LiteServer)
    return srv


@pytest.mark.parametrize(("cipher", "suite"), [(1, 0x0016), (6, 0x000A)])
def test_ssl3_with_each_3des_id_negotiates_on_m910(lab: Lab, m910: AtClient, cipher: int, suite: int) -> None:
    m910.command(f"AT+GTSSLVER=1;+GTSSLCIPHER={cipher},1")
    srv = server(lab, "sslv3-only")
    before = len(srv.negotiated)
    assert open_ssl(m910, lab.endpoint("sslv3-only").port) == "+MIPOPEN: 1,1"
    assert srv.negotiated[before:] == [((3, 0), suite)]


@pytest.mark.parametrize(("cipher", "suite"), [(1, 0x0016), (6, 0x000A)])
def test_each_3des_id_negotiates_at_tls12_on_m910(lab: Lab, m910: AtClient, cipher: int, suite: int) -> None:
    m910.command(f"AT+GTSSLVER=4;+GTSSLCIPHER={cipher},1")
    srv = server(lab, "3des-only")
    before = len(srv.negotiated)
    assert open_ssl(m910, lab.endpoint("3des-only").port) == "+MIPOPEN: 1,1"
    assert srv.negotiated[before:] == [((3, 3), suite)]


@pytest.mark.parametrize("command", ["AT+GTSSLVER=1", "AT+GTSSLCIPHER=1,1", "AT+GTSSLCIPHER=6,1"])
def test_refused_on_a_variant_without_them(lab: Lab, command: str) -> None:
    with verifying_module("NL668_AM_00", lab_rules(lab), strict=True) as (_running, at):
        with pytest.raises(AtError):
            at.command(command)
        assert open_ssl(at, lab.endpoint("3des-only").port) == "+MIPOPEN: 1,0"  # its defaults offer no 3DES


# --- in memory: the engine choice and the legacy engine itself -------------------------------------------


def request(version: int = 4, ids: tuple[int, ...] = (2, 3), **kw: object) -> TlsRequest:
    fields: dict[str, object] = dict(
        version=version, cipher_ids=ids, verify=True, trust_pems=(cert_bytes("root-ca.pem"),), cert_pem=None,
        key_pem=None, server_name=HOST, module_time=datetime(2030, 1, 1, tzinfo=timezone.utc),
    )
    fields.update(kw)
    return TlsRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "ids", "legacy"),
    [(1, (2,), True), (4, (1, 2, 3), True), (4, (6,), True), (2, (2, 3, 4), False), (4, (7, 8), False)],
)
def test_engine_choice_is_any_3des_id_or_ssl3(version: int, ids: tuple[int, ...], legacy: bool) -> None:
    assert needs_legacy(request(version, ids)) is legacy
    client = make_tls_client(request(version, ids))
    assert isinstance(client, LegacyTlsClient if legacy else TlsClient)


def client_hello_suites(hello: bytes) -> list[int]:
    # record(5) + handshake header(4) + version(2) + random(32), then session id, then the suite list.
    at = 5 + 4 + 2 + 32
    at += 1 + hello[at]
    length = int.from_bytes(hello[at : at + 2], "big")
    return [int.from_bytes(hello[i : i + 2], "big") for i in range(at + 2, at + 2 + length, 2)]


@pytest.mark.parametrize(("version", "ids"), [(1, (1, 6)), (4, (1, 3, 10)), (2, (6, 2))])
def test_the_hello_offers_exactly_the_enabled_suites(version: int, ids: tuple[int, ...]) -> None:
    client = LegacyTlsClient(request(version, ids))
    client.initiate()
    offered = client_hello_suites(client.outgoing())
    assert offered[0] == 0x00FF  # the renegotiation SCSV, as OpenSSL sends it
    assert sorted(offered[1:]) == sorted(IANA_SUITES[i] for i in ids)


def test_unusable_files_are_152_as_on_openssl() -> None:
    with pytest.raises(TlsFailure) as info:
        LegacyTlsClient(request(1, (1,), trust_pems=(b"not a certificate",)))
    assert info.value.gtsslerr == 152
    with pytest.raises(TlsFailure) as info:
        LegacyTlsClient(request(1, (1,), cert_pem=cert_bytes("client.pem"), key_pem=cert_bytes("server.key")))
    assert info.value.gtsslerr == 152

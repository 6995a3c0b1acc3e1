"""TLS sockets through the AT interface: PTY + pyserial -> emulator -> real OpenSSL -> local servers.

What a host program sees on the wire (+MIPOPEN result, +GTSSLERR code, data URCs),
against servers the tests start on 127.0.0.1; the servers record what was negotiated.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from emulator.core.profile import Profile
from emulator.profiles import load_profile
from emulator.at_client import AtClient, AtError
from emulator.servers.pki import cert_bytes
from emulator.servers.tls_servers import ServerSettings, StallServer, TcpServer, TlsServer, UdpEchoServer, pattern
from tests.lab_session import online_module

pytestmark = pytest.mark.integration

HOST = "www.example.test"


@contextmanager
def module(
    profile: str | Profile = "NL668_AM_00",
    *,
    resolve: list[str],
    initial_clock: datetime | None = None,
    trace_path: Path | None = None,
) -> Iterator[AtClient]:
    with online_module(profile, resolve, trace_path, strict=True, initial_clock=initial_clock) as (_, at):
        yield at


def upload(at: AtClient, kind: str, name: str) -> None:
    data = cert_bytes(name)
    at.command_with_data(f'AT+GTSSLFILE="{kind}",{len(data)}', data)


def open_ssl(at: AtClient, link: int = 1, host: str = HOST, port: int = 443) -> str:
    at.command(f'AT+MIPOPEN={link},,"{host}",{port},2')
    return at.wait_urc(f"+MIPOPEN: {link},", timeout=20)


def gtsslerr(at: AtClient) -> int | None:
    lines = at.command("AT+GTSSLERR?")
    return int(lines[0].split(": ")[1]) if lines else None


def rule(server: TlsServer | TcpServer, host: str = HOST, port: int = 443) -> list[str]:
    return [f"{host}:{port}=127.0.0.1:{server.port}"]


CIPHERS = {2: "DHE-RSA-AES128-SHA", 3: "AES128-SHA", 4: "DHE-RSA-AES256-SHA", 5: "AES256-SHA",
           7: "AES128-SHA256", 8: "AES256-SHA256", 9: "DHE-RSA-AES128-SHA256", 10: "DHE-RSA-AES256-SHA256"}
VERSIONS = {2: "TLSv1", 3: "TLSv1.1", 4: "TLSv1.2"}


class TestNegotiation:
    @pytest.mark.parametrize(("profile", "cipher"), [("NL668_AM_00", c) for c in (2, 3, 4, 7, 8, 9, 10)] + [("M910", 5)])
    def test_each_cipher_id_negotiates_its_suite(self, profile: str, cipher: int) -> None:
        with TlsServer() as server, module(profile, resolve=rule(server)) as at:
            at.command(f"AT+GTSSLVER=4;+GTSSLCIPHER={cipher},1")
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            (record,) = server.wait_handshakes(1)
            assert (record.version, record.cipher) == ("TLSv1.2", CIPHERS[cipher])

    @pytest.mark.parametrize("version", [2, 3, 4])
    def test_each_version_negotiates_exactly(self, version: int) -> None:
        with TlsServer() as server, module(resolve=rule(server)) as at:
            at.command(f"AT+GTSSLVER={version}")
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            assert server.wait_handshakes(1)[0].version == VERSIONS[version]

    def test_sni_is_the_host_given_to_mipopen(self) -> None:
        with TlsServer() as server, module(resolve=rule(server, "www.baidu.com")) as at:
            assert open_ssl(at, host="www.baidu.com") == "+MIPOPEN: 1,1"
            assert server.wait_handshakes(1)[0].sni == "www.baidu.com"


class TestFailures:
    """Each failure gives +MIPOPEN: 1,0 and the code; a negative control connects."""

    def test_verify_without_trust_is_42(self) -> None:
        with TlsServer() as server, module(resolve=rule(server)) as at:
            at.command("AT+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == 42

    def test_expired_is_45_then_fine_after_cclk(self, tmp_path: object) -> None:
        chain = tmp_path / "chain.pem"  # type: ignore[operator]
        chain.write_bytes(cert_bytes("server-expired.pem") + cert_bytes("intermediate-ca.pem"))
        with TlsServer(ServerSettings(cert=str(chain), key="server-expired.key")) as server, module(
            resolve=rule(server)
        ) as at:
            upload(at, "TRUSTFILE", "root-ca.pem")
            at.command("AT+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == 45
            at.command('AT+CCLK="19/07/01,08:00:00+00"')
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            assert gtsslerr(at) is None

    def test_module_clock_from_the_command_line(self) -> None:
        with TlsServer() as server, module(
            resolve=rule(server), initial_clock=datetime(2046, 1, 1, tzinfo=timezone.utc)
        ) as at:
            upload(at, "TRUSTFILE", "root-ca.pem")
            at.command("AT+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == 45  # valid today, expired by the module's clock

    def test_unknown_ca_is_48(self) -> None:
        with TlsServer(ServerSettings(cert="server-untrusted.pem", key="server-untrusted.key")) as server, module(
            resolve=rule(server)
        ) as at:
            upload(at, "TRUSTFILE", "root-ca.pem")
            at.command("AT+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == 48
            upload(at, "TRUSTFILE", "other-root-ca.pem")  # control: trust it, and it connects
            assert open_ssl(at) == "+MIPOPEN: 1,1"

    def test_wrong_host_is_153(self) -> None:
        with TlsServer() as server, module(resolve=rule(server, "wrong.example.test") + rule(server)) as at:
            upload(at, "TRUSTFILE", "root-ca.pem")
            at.command("AT+GTSSLMODE=1")
            assert open_ssl(at, host="wrong.example.test") == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == 153
            assert open_ssl(at) == "+MIPOPEN: 1,1"

    @pytest.mark.parametrize(
        ("server_version", "module_version"),
        [((ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2), 2), ((ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1), 4)],
    )
    def test_version_mismatch_is_70(self, server_version: tuple[ssl.TLSVersion, ssl.TLSVersion], module_version: int) -> None:
        low, high = server_version
        with TlsServer(ServerSettings(min_version=low, max_version=high)) as server, module(resolve=rule(server)) as at:
            at.command(f"AT+GTSSLVER={module_version}")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == 70

    def test_no_shared_cipher_is_40(self) -> None:
        with TlsServer(ServerSettings(ciphers="AES256-SHA256")) as server, module(resolve=rule(server)) as at:
            at.command("AT+GTSSLVER=4;+GTSSLCIPHER=3,1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == 40
            at.command("AT+GTSSLCIPHER=8,1")
            assert open_ssl(at) == "+MIPOPEN: 1,1"

    def test_client_certificate_required(self) -> None:
        with TlsServer(ServerSettings(client_ca="root-ca.pem")) as server, module(resolve=rule(server)) as at:
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == 40
            upload(at, "CERTFILE", "client.pem")
            upload(at, "KEYFILE", "client.key")
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            assert "nl668-emulator-client" in (server.wait_handshakes(2)[-1].client_cert_subject or "")

    def test_refused_connection_is_not_a_tls_error(self) -> None:
        with TcpServer() as server:
            port = server.port
        with module(resolve=[f"{HOST}:443=127.0.0.1:{port}"]) as at:  # nothing listens there any more
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) is None

    def test_a_server_that_never_answers_times_out_and_frees_the_socket(self) -> None:
        base = load_profile("NL668_AM_00")
        quick = replace(base, sockets=replace(base.sockets, open_timeout_s=1.0))
        with StallServer() as server, module(quick, resolve=rule(server)) as at:
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == 90
            assert at.command("AT+MIPOPEN?") == ["+MIPOPEN: 1,2,3,4,5,6"]
            assert at.command("AT") == []  # and the module serves on


class TestData:
    @pytest.mark.parametrize("mode", [0, 1, 2, 5])
    def test_both_ways_in_every_receive_format(self, mode: int) -> None:
        payload = pattern(3000)
        with TlsServer() as server, module(resolve=rule(server)) as at:
            at.command(f'AT+GTSET="IPRFMT",{mode}')
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            assert at.command_with_data(f"AT+MIPSEND=1,{2000}", payload[:2000]) == ["+MIPSEND: 1,0,2048"]
            if mode == 1:
                # Raw bytes have no frame: a host in IPRFMT 1 sends nothing while the echo comes back.
                assert receive(at, mode, 2000) == payload[:2000]
                return
            assert at.command(f'AT+MIPSEND=1,"{payload[2000:].hex()}"') == ["+MIPSEND: 1,0,1048"]
            assert at.command("AT+MIPPUSH=1") == ["+MIPPUSH: 1,0"]
            assert receive(at, mode, len(payload)) == payload

    def test_one_megabyte_each_way_through_one_socket(self) -> None:
        payload = pattern(1 << 20)
        with TlsServer() as server, module(resolve=rule(server)) as at:
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            for i in range(0, len(payload), 2048):
                chunk = payload[i : i + 2048]
                at.command_with_data(f"AT+MIPSEND=1,{len(chunk)}", chunk)
            # The echo came back as +MIPRTCP URCs (IPRFMT 0), kept by the client meanwhile.
            assert receive(at, 0, len(payload)) == payload

    def test_one_megabyte_raw_from_a_server_the_host_reads_slowly(self) -> None:
        """IPRFMT 1 at full speed: the module's back-pressure keeps every byte (none dropped)."""
        size = 1 << 20
        with TlsServer(ServerSettings(behaviour="greet", greet_bytes=size)) as server, module(
            resolve=rule(server)
        ) as at:
            at.command('AT+GTSET="IPRFMT",1')
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            assert at.read_exactly(size, timeout=60) == pattern(size)

    def test_six_sockets_at_once(self) -> None:
        with TlsServer() as server, module(resolve=rule(server)) as at:
            for link in range(1, 7):
                at.command(f'AT+MIPOPEN={link},,"{HOST}",443,2')
            results = sorted(at.wait_urc("+MIPOPEN: ", timeout=20) for _ in range(6))
            assert results == [f"+MIPOPEN: {link},1" for link in range(1, 7)]
            assert at.command("AT+MIPOPEN?") == ["+MIPOPEN: 0"]
            for link in range(1, 7):
                at.command(f'AT+MIPSEND=1,"{bytes([link]).hex()}"'.replace("=1,", f"={link},"))
                at.command(f"AT+MIPPUSH={link}")
            got = {at.wait_urc(f"+MIPRTCP: {link},") for link in range(1, 7)}
            assert got == {f"+MIPRTCP: {link},0,{link:02X}" for link in range(1, 7)}

    def test_peer_reset_mid_transfer(self) -> None:
        with TlsServer(ServerSettings(behaviour="reset_after", reset_after_bytes=100)) as server, module(
            resolve=rule(server)
        ) as at:
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            at.command_with_data("AT+MIPSEND=1,200", pattern(200))
            assert at.wait_urc("+MIPSTAT: 1,") == "+MIPSTAT: 1,1"
            assert at.command("AT+MIPOPEN?") == ["+MIPOPEN: 1,2,3,4,5,6"]
            assert open_ssl(at) == "+MIPOPEN: 1,1"  # the socket id is usable again

    def test_peer_close_and_our_close(self) -> None:
        with TlsServer(ServerSettings(behaviour="close_after", close_after_bytes=1)) as server, module(
            resolve=rule(server)
        ) as at:
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            assert open_ssl(at, link=2) == "+MIPOPEN: 2,1"
            at.command("AT+MIPCLOSE=2")
            assert at.wait_urc("+MIPCLOSE: 2,") == "+MIPCLOSE: 2,1"
            at.command('AT+MIPSEND=1,"41"')
            at.command("AT+MIPPUSH=1")
            assert at.wait_urc("+MIPSTAT: 1,") == "+MIPSTAT: 1,2"


def receive(at: AtClient, mode: int, n: int) -> bytes:
    """Collect n payload bytes of socket 1 the way a host does in IPRFMT ``mode``."""
    got = bytearray()
    if mode == 1:
        return at.read_exactly(n)
    while len(got) < n:
        if mode == 0:
            got += bytes.fromhex(at.wait_urc("+MIPRTCP: 1,").split(",", 2)[2])
        elif mode == 2:
            header = at.wait_urc("+MIPRTCP: 1,")  # "+MIPRTCP: 1,<len>,<first raw bytes...>"
            _, length, head = header.split(",", 2)
            raw = head.encode("latin-1")
            raw += at.read_exactly(int(length) - len(raw)) if int(length) > len(raw) else b""
            got += raw[: int(length)]
        else:
            notice = at.wait_urc("+MIPREAD: 1,")
            got += at.mipread(1, int(notice.split(",")[1]))
    return bytes(got)


def test_errors_do_not_wedge_the_module() -> None:
    with TlsServer() as server, module(resolve=rule(server)) as at:
        with pytest.raises(AtError):
            at.command("AT+MIPSEND=1,5")  # not open
        assert open_ssl(at) == "+MIPOPEN: 1,1"
        assert at.command("AT+MIPCLOSE?") == ["+MIPCLOSE: 1"]


class TestPlainSockets:
    def test_tcp_echo(self) -> None:
        with TcpServer() as server, module(resolve=rule(server, "tcp.example.test", 7)) as at:
            at.command('AT+MIPOPEN=2,,"tcp.example.test",7,0')
            assert at.wait_urc("+MIPOPEN: 2,") == "+MIPOPEN: 2,1"
            at.command('AT+MIPSEND=2,"68656C6C6F"')
            at.command("AT+MIPPUSH=2")
            assert at.wait_urc("+MIPRTCP: 2,") == "+MIPRTCP: 2,0,68656C6C6F"
            at.command("AT+MIPCLOSE=2")
            assert at.wait_urc("+MIPCLOSE: 2,") == "+MIPCLOSE: 2,0"  # TCP: type 0
            assert gtsslerr(at) is None  # TCP never touches +GTSSLERR

    def test_udp_echo(self) -> None:
        with UdpEchoServer() as server, module(resolve=[f"udp.example.test:53=127.0.0.1:{server.port}"]) as at:
            at.command('AT+MIPOPEN=3,,"udp.example.test",53,1')
            assert at.wait_urc("+MIPOPEN: 3,") == "+MIPOPEN: 3,1"
            at.command('AT+MIPSEND=3,"0102"')
            at.command("AT+MIPPUSH=3")
            # The address the name resolves to and the port the host dialled, not the rule's port (issue 11).
            assert at.wait_urc("+MIPRUDP: ") == "+MIPRUDP: 127.0.0.1,53,3,0,0102"

    def test_mipdns_answers_from_the_resolve_rules(self) -> None:
        with TcpServer() as server, module(resolve=[f"www.baidu.com=127.0.0.1:{server.port}"]) as at:
            assert at.command('AT+MIPDNS="www.baidu.com"') == ['+MIPDNS: "www.baidu.com",127.0.0.1']
            with pytest.raises(AtError):
                at.command('AT+MIPDNS="no-such-host.invalid"', timeout=30)

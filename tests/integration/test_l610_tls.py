"""The L610 through the AT interface: PTY + pyserial -> emulator -> real OpenSSL -> local TLS servers.

What a host written for the L610 sees (issue 11 field evidence, an L610-CN on
firmware 16000.1208.00.86.02.02): ``+GTSSLVER: 0`` / ``+GTSSLMODE: 0`` and no
trust files at power-on; a bare-base64 TRUSTFILE accepted at upload and
``+GTSSLERR: -19`` at ``+MIPOPEN``; -11 for a certificate or module-clock
failure; small negative codes for the other handshake failures (chosen:
-9 alert, -7 time-out). The same servers give an NL668 its alert numbers.
"""

from __future__ import annotations

import ssl
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from emulator.profiles import load_profile
from emulator.servers.pki import cert_bytes
from emulator.servers.tls_servers import ServerSettings, StallServer, TlsServer
from tests.core.test_l610_gtssl import bare_base64
from tests.integration.test_tls_sockets import gtsslerr, module, open_ssl, rule, upload

pytestmark = pytest.mark.integration


def expired_chain(tmp_path: Path) -> ServerSettings:
    chain = tmp_path / "chain.pem"
    chain.write_bytes(cert_bytes("server-expired.pem") + cert_bytes("intermediate-ca.pem"))
    return ServerSettings(cert=str(chain), key="server-expired.key")


class TestPowerOn:
    def test_the_ssl_state_the_field_module_showed(self) -> None:
        with TlsServer() as server, module("L610", resolve=rule(server)) as at:
            assert at.command("AT+GTSSLVER?") == ["+GTSSLVER: 0"]
            assert at.command("AT+GTSSLMODE?") == ["+GTSSLMODE: 0"]
            assert at.command("AT+GTSSLFILE?")[-1] == "+GTSSLFILE: TRUSTFILE,0"
            assert at.command("AT+GTSSLVER=?") == ["+GTSSLVER: (0,2-4)"]

    def test_not_set_connects_at_the_highest_version(self) -> None:
        with TlsServer() as server, module("L610", resolve=rule(server)) as at:
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            assert server.wait_handshakes(1)[0].version == "TLSv1.2"
            assert gtsslerr(at) is None

    def test_not_set_is_pinned_not_a_range(self) -> None:
        # Chosen: 0 uses the highest version only, so a TLS 1.0-only server is refused (we send
        # protocol_version, an alert: -9); setting +GTSSLVER=2 reaches it.
        tls10 = ServerSettings(min_version=ssl.TLSVersion.TLSv1, max_version=ssl.TLSVersion.TLSv1)
        with TlsServer(tls10) as server, module("L610", resolve=rule(server)) as at:
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == -9
            at.command("AT+GTSSLVER=2")
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            refused, done = server.wait_handshakes(2)
            assert (refused.version, done.version) == (None, "TLSv1")


class TestUnusableTrustFile:
    def test_bare_base64_is_accepted_at_upload_and_fails_at_mipopen_with_minus_19(self) -> None:
        body = bare_base64(cert_bytes("root-ca.pem"))
        with TlsServer() as server, module("L610", resolve=rule(server)) as at:
            at.command_with_data(f'AT+GTSSLFILE="TRUSTFILE",{len(body)}', body)
            assert at.command("AT+GTSSLFILE?")[-1] == "+GTSSLFILE: TRUSTFILE,1"
            at.command("AT+GTSSLVER=4;+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == -19
            (record,) = server.wait_handshakes(1)
            assert (record.sni, record.error) == (None, "EOF during the handshake")  # no ClientHello was sent

    def test_control_the_armoured_file_connects(self) -> None:
        with TlsServer() as server, module("L610", resolve=rule(server)) as at:
            upload(at, "TRUSTFILE", "root-ca.pem")
            at.command("AT+GTSSLVER=4;+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,1"


class TestVerificationIsMinus11:
    def test_an_expired_server_certificate_then_fine_after_cclk(self, tmp_path: Path) -> None:
        with TlsServer(expired_chain(tmp_path)) as server, module("L610", resolve=rule(server)) as at:
            upload(at, "TRUSTFILE", "root-ca.pem")
            at.command("AT+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == -11
            at.command('AT+CCLK="19/07/01,08:00:00+00"')
            assert open_ssl(at) == "+MIPOPEN: 1,1"
            assert gtsslerr(at) is None

    @pytest.mark.parametrize("year", [2046, 2024], ids=["clock_after_the_chain", "clock_before_the_leaf"])
    def test_a_wrong_module_clock(self, year: int) -> None:
        with TlsServer() as server, module(
            "L610", resolve=rule(server), initial_clock=datetime(year, 1, 1, tzinfo=timezone.utc)
        ) as at:
            upload(at, "TRUSTFILE", "root-ca.pem")
            at.command("AT+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == -11
            at.command('AT+CCLK="26/06/01,08:00:00+00"')  # control: a right clock connects
            assert open_ssl(at) == "+MIPOPEN: 1,1"

    def test_an_untrusted_root_and_a_wrong_host(self) -> None:
        untrusted = ServerSettings(cert="server-untrusted.pem", key="server-untrusted.key")
        with TlsServer(untrusted) as bad, TlsServer() as good, module(
            "L610", resolve=rule(bad) + rule(good, "wrong.example.test")
        ) as at:
            upload(at, "TRUSTFILE", "root-ca.pem")
            at.command("AT+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == -11
            assert open_ssl(at, host="wrong.example.test") == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == -11


class TestOtherHandshakeFailures:
    def test_a_server_alert_is_minus_9(self) -> None:
        with TlsServer(ServerSettings(ciphers="AES256-SHA256")) as server, module("L610", resolve=rule(server)) as at:
            at.command("AT+GTSSLCIPHER=3,1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == -9  # handshake_failure received (the NL668 says 40)
            at.command("AT+GTSSLCIPHER=8,1")
            assert open_ssl(at) == "+MIPOPEN: 1,1"

    def test_a_server_that_never_answers_is_minus_7(self) -> None:
        base = load_profile("L610")
        quick = replace(base, sockets=replace(base.sockets, open_timeout_s=1.0))
        with StallServer() as server, module(quick, resolve=rule(server)) as at:
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == -7


@pytest.mark.parametrize(("profile", "code"), [("L610", -11), ("NL668_AM_00", 45), ("M910", 45)])
def test_the_same_expired_server_per_profile(tmp_path: Path, profile: str, code: int) -> None:
    """One failure, one class: each profile's table decides the number (the NL668's is the alert)."""
    with TlsServer(expired_chain(tmp_path)) as server, module(profile, resolve=rule(server)) as at:
        upload(at, "TRUSTFILE", "root-ca.pem")
        at.command("AT+GTSSLMODE=1")
        assert open_ssl(at) == "+MIPOPEN: 1,0"
        assert gtsslerr(at) == code


def test_the_trace_names_the_code_the_host_reads(tmp_path: Path) -> None:
    """The "why" record (and so the trace view) carries the profile's code: -11 on an L610, 45 on an NL668."""
    import json

    seen = {}
    for profile in ("L610", "NL668_AM_00"):
        trace = tmp_path / f"{profile}.jsonl"
        with TlsServer(expired_chain(tmp_path)) as server, module(profile, resolve=rule(server), trace_path=trace) as at:
            upload(at, "TRUSTFILE", "root-ca.pem")
            at.command("AT+GTSSLVER=4;+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            host_reads = gtsslerr(at)
        records = [json.loads(line) for line in trace.read_text().splitlines()]
        (why,) = [r for r in records if r["dir"] == "why" and r.get("ev") == "open_failed"]
        assert why["gtsslerr"] == host_reads
        seen[profile] = host_reads
    assert seen == {"L610": -11, "NL668_AM_00": 45}

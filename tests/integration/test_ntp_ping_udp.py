"""+MIPNTP, +MPING and +MIPRUDP end to end: PTY + pyserial -> emulator -> real sockets -> servers on 127.0.0.1.

The headline case (issue 11): a server whose certificate expired before the module's default clock is refused
with +GTSSLERR 45, and accepted once +MIPNTP has set the clock from an SNTP server serving a time inside the
certificate's validity (2019), as host drivers of the family do before TLS.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from emulator.at_client import AtError
from emulator.runtime.probes import icmp_available
from emulator.servers.sntp_server import SntpServer, SntpSettings
from emulator.servers.tls_servers import ServerSettings, TcpServer, TlsServer, UdpEchoServer
from tests.integration.test_tls_sockets import gtsslerr, module, open_ssl, rule, upload

pytestmark = pytest.mark.integration

INSIDE_VALIDITY = datetime(2019, 6, 1, 12, 0, 0, tzinfo=timezone.utc)  # server-expired.pem: 2019-01-01 .. 2020-01-01


class TestMipntp:
    def test_ntp_time_lets_an_expired_by_default_clock_certificate_through(self) -> None:
        expired = ServerSettings(cert="server-expired-chain.pem", key="server-expired.key")
        with TlsServer(expired) as tls, SntpServer(INSIDE_VALIDITY) as ntp, module(
            resolve=[*rule(tls), f"pool.ntp.org:123=127.0.0.1:{ntp.port}"]
        ) as at:
            upload(at, "TRUSTFILE", "root-ca.pem")
            at.command("AT+GTSSLMODE=1")
            assert open_ssl(at) == "+MIPOPEN: 1,0"
            assert gtsslerr(at) == 45  # expired by the module's clock (today)

            assert at.command('AT+MIPNTP="pool.ntp.org",123') == []
            assert at.wait_urc("+MIPNTP: ", timeout=15) == "+MIPNTP: 1"
            assert ntp.requests == 1
            (cclk,) = at.command("AT+CCLK?")
            assert cclk.startswith('+CCLK: "19/06/01,12:0')

            assert open_ssl(at) == "+MIPOPEN: 1,1"
            assert gtsslerr(at) is None

    def test_a_refusing_server_answers_0_and_keeps_the_clock(self) -> None:
        with SntpServer(settings=SntpSettings(time=INSIDE_VALIDITY, behaviour="kiss")) as ntp, module(
            resolve=[f"pool.ntp.org=127.0.0.1:{ntp.port}"]
        ) as at:
            before = at.command("AT+CCLK?")
            at.command('AT+MIPNTP="pool.ntp.org"')
            assert at.wait_urc("+MIPNTP: ", timeout=15) == "+MIPNTP: 0"
            assert at.command("AT+CCLK?")[0][:17] == before[0][:17]  # same day and hour


class TestMping:
    def test_probe_form_then_two_echoes_through_a_resolve_rule(self) -> None:
        with TcpServer() as server, module(resolve=[f"www.baidu.com=127.0.0.1:{server.port}"]) as at:
            assert at.command("AT+MPING=?")[0].startswith("+MPING: (0,1),")
            assert at.command('AT+MPING=1,"www.baidu.com",2') == []
            echoes = [at.wait_urc("+MPING: ", timeout=10) for _ in range(2)]
            summary = at.wait_urc("+MPINGSTAT: ", timeout=10)
            if not icmp_available():
                server.wait_accepted(2)  # the TCP probe reached the rule's port, twice
        for line in echoes:
            assert re.fullmatch(r'\+MPING: "127\.0\.0\.1",0,0,\d+', line), line
        assert re.fullmatch(r'\+MPINGSTAT: 0,"127\.0\.0\.1",2,2,\d+', summary), summary

    def test_unresolvable_host(self) -> None:
        with module(resolve=[]) as at:
            at.command('AT+MPING=1,"no-such-host.invalid",1')
            assert at.wait_urc("+MPINGSTAT: ", timeout=30) == "+MPINGSTAT: 2"

    def test_needs_the_pdp_context(self) -> None:
        with module(resolve=[]) as at:
            at.command("AT+MIPCALL=0")
            with pytest.raises(AtError):
                at.command('AT+MPING=1,"127.0.0.1"')


class TestMiprudp:
    def test_a_redirected_literal_shows_as_dialled(self) -> None:
        with UdpEchoServer() as server, module(resolve=[f"114.255.225.39:5000=127.0.0.1:{server.port}"]) as at:
            at.command('AT+MIPOPEN=3,,"114.255.225.39",5000,1')
            assert at.wait_urc("+MIPOPEN: 3,") == "+MIPOPEN: 3,1"
            at.command('AT+MIPSEND=3,"0102"')
            at.command("AT+MIPPUSH=3")
            assert at.wait_urc("+MIPRUDP: ") == "+MIPRUDP: 114.255.225.39,5000,3,0,0102"
            at.command("AT+MIPCLOSE=3")
            at.wait_urc("+MIPCLOSE: 3,")

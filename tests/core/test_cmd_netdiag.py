"""+MPING and +MIPNTP in memory: the core asks with PingHost / QueryTime, the test answers as the edge would."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from emulator.core.actions import PingHost, QueryTime
from emulator.core.clock import ManualClock
from emulator.core.module import Module
from emulator.core.events import PdpDropped, PingAnswered, TimeAnswered
from emulator.profiles import load_profile
from emulator.runtime.driver import ModuleDriver, VirtualScheduler
from emulator.runtime.in_memory import InMemoryModule

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
HOST_TIME = datetime(2026, 12, 2, 12, 0, 0, tzinfo=timezone.utc)


def urc(line: str) -> bytes:
    return f"\r\n{line}\r\n".encode()


@pytest.fixture
def m() -> InMemoryModule:
    module = InMemoryModule("NL668_AM_00", host_time=HOST_TIME)
    module.take()
    module.command("ATE0")
    module.command("AT+MIPCALL=1")
    module.links.take()
    return module


def asked(m: InMemoryModule, kind: type) -> list:
    return [a for a in m.links.take() if isinstance(a, kind)]


def reply(probe: PingHost, rtt: int | None = 30, address: str = "39.156.66.18") -> PingAnswered:
    return PingAnswered(probe=probe.probe, address=address, icmp_type=None if rtt is None else 0, rtt_ms=rtt)


class TestMping:
    def test_test_form_lists_mping(self, m: InMemoryModule) -> None:
        # Host drivers (S1) ping only if the test answer carries "+MPING:".
        assert m.command("AT+MPING=?") == urc("+MPING: (0,1),(1-255),(0-1372),(1-255),(0-255),(1-65535)") + OK
        assert m.command("AT+MPING?") == urc("+MPING: 4,32,64,0,4000") + OK

    def test_four_echoes_by_default_one_a_second(self, m: InMemoryModule) -> None:
        assert m.command('AT+MPING=1,"www.baidu.com"') == OK
        said = b""
        for i, rtt in enumerate((40, 42, 44, 41)):
            (probe,) = asked(m, PingHost)
            assert (probe.host, probe.size, probe.ttl, probe.tos, probe.timeout_s) == ("www.baidu.com", 32, 64, 0, 4.0)
            said += m.event(reply(probe, rtt))
            if i < 3:
                assert asked(m, PingHost) == []  # the interval first
                m.advance(0.99)
                assert asked(m, PingHost) == []
                m.advance(0.01)
        assert said == b"".join(urc(f'+MPING: "39.156.66.18",0,0,{rtt}') for rtt in (40, 42, 44, 41)) + urc(
            '+MPINGSTAT: 0,"39.156.66.18",4,4,41'  # the integral part of 41.75
        )

    def test_the_l610_drivers_form(self, m: InMemoryModule) -> None:
        # OneOS's L610 driver: AT+MPING=1,"<host>",1,<len>,255,0,<timeout ms>, then parses +MPINGSTAT.
        assert m.command('AT+MPING=1,"www.baidu.com",1,64,255,0,3000') == OK
        (probe,) = asked(m, PingHost)
        assert (probe.size, probe.ttl, probe.timeout_s) == (64, 255, 3.0)
        assert m.event(reply(probe, 168)) == urc('+MPING: "39.156.66.18",0,0,168') + urc(
            '+MPINGSTAT: 0,"39.156.66.18",1,1,168'
        )

    def test_lost_echoes_are_counted_silently(self, m: InMemoryModule) -> None:
        m.command('AT+MPING=1,"8.8.8.8",2')
        (probe,) = asked(m, PingHost)
        assert m.event(reply(probe, None, "8.8.8.8")) == b""
        m.advance(1)
        (probe,) = asked(m, PingHost)
        assert m.event(reply(probe, None, "8.8.8.8")) == urc('+MPINGSTAT: 0,"8.8.8.8",2,0')  # no average

    def test_an_icmp_error_is_shown_with_its_type_and_code(self, m: InMemoryModule) -> None:
        m.command('AT+MPING=1,"10.0.0.9",1')
        (probe,) = asked(m, PingHost)
        event = PingAnswered(probe=probe.probe, address="10.0.0.9", icmp_type=3, icmp_code=1)
        assert m.event(event) == urc('+MPING: "10.0.0.9",3,1') + urc('+MPINGSTAT: 0,"10.0.0.9",1,0')

    def test_unresolvable_host(self, m: InMemoryModule) -> None:
        m.command('AT+MPING=1,"nowhere.invalid"')
        (probe,) = asked(m, PingHost)
        assert m.event(PingAnswered(probe=probe.probe, address=None)) == urc("+MPINGSTAT: 2")
        assert m.command('AT+MPING=1,"8.8.8.8",1') == OK  # free for the next one

    def test_mode_less_form(self, m: InMemoryModule) -> None:
        assert m.command('AT+MPING="8.8.8.8",2,16') == OK  # GM510 host code leaves <mode> out
        (probe,) = asked(m, PingHost)
        assert (probe.host, probe.size) == ("8.8.8.8", 16)
        assert m.command("AT+MPING?") == urc("+MPING: 2,16,64,0,4000") + OK

    def test_abort_is_silent_and_late_answers_are_dropped(self, m: InMemoryModule) -> None:
        m.command('AT+MPING=1,"8.8.8.8"')
        (probe,) = asked(m, PingHost)
        assert m.command("AT+MPING=0") == OK
        assert m.event(reply(probe)) == b""
        assert m.advance(5) == b"" and asked(m, PingHost) == []
        assert m.command("AT+MPING=0") == ERROR  # nothing to abort

    def test_one_at_a_time(self, m: InMemoryModule) -> None:
        m.command('AT+MPING=1,"8.8.8.8"')
        assert m.command('AT+MPING=1,"8.8.4.4"') == ERROR

    def test_pdp_loss_ends_the_ping(self, m: InMemoryModule) -> None:
        m.command('AT+MPING=1,"8.8.8.8",3')
        (probe,) = asked(m, PingHost)
        m.event(reply(probe))
        m.event(PdpDropped())
        assert m.advance(1) == urc("+MPINGSTAT: 2")
        assert asked(m, PingHost) == []

    def test_needs_a_pdp_context(self, m: InMemoryModule) -> None:
        m.command("AT+MIPCALL=0;+CMEE=1")
        assert m.command('AT+MPING=1,"8.8.8.8"') == urc("+CME ERROR: 3")

    @pytest.mark.parametrize("args", ['2,"h"', '1,""', '1,"h",0', '1,"h",256', '1,"h",4,1373', '1,"h",4,32,0',
                                      '1,"h",4,32,64,256', '1,"h",4,32,64,0,0', '1,"h",4,32,64,0,65536', "0,1", "1",
                                      '"h",1,1,1,1,1,1'])
    def test_refusals(self, m: InMemoryModule, args: str) -> None:
        if args != "0,1":
            assert m.command(f"AT+MPING={args}") == ERROR
        else:
            m.command('AT+MPING=1,"h"')
            assert m.command("AT+MPING=0,1") == ERROR  # nothing may trail mode 0 (G510 manual)
        if args != "0,1":
            assert m.links.take() == []  # nothing was asked of the network


class TestMipntp:
    def test_success_sets_the_module_clock(self, m: InMemoryModule) -> None:
        assert m.command('AT+MIPNTP="pool.ntp.org",123') == OK
        (query,) = asked(m, QueryTime)
        assert (query.host, query.port, query.timeout_s) == ("pool.ntp.org", 123, 10.0)
        served = datetime(2019, 6, 1, 8, 30, 0, tzinfo=timezone.utc)
        assert m.event(TimeAnswered(query=query.query, utc=served)) == urc("+MIPNTP: 1")
        assert m.module.module_time() == served
        assert m.command("AT+CCLK?") == urc('+CCLK: "19/06/01,08:30:00+00"') + OK
        m.advance(61)  # and it runs on
        assert m.module.module_time() == served + timedelta(seconds=61)

    def test_the_zone_set_by_cclk_is_kept(self, m: InMemoryModule) -> None:
        m.command('AT+CCLK="26/12/02,20:00:00+32"')  # UTC+8
        m.command('AT+MIPNTP="ntp1.aliyun.com"')  # port 123 by default
        (query,) = asked(m, QueryTime)
        assert query.port == 123
        m.event(TimeAnswered(query=query.query, utc=datetime(2019, 6, 1, 0, 0, 0, tzinfo=timezone.utc)))
        assert m.command("AT+CCLK?") == urc('+CCLK: "19/06/01,08:00:00+32"') + OK

    def test_failure_leaves_the_clock(self, m: InMemoryModule) -> None:
        before = m.module.module_time()
        m.command('AT+MIPNTP="pool.ntp.org",123')
        (query,) = asked(m, QueryTime)
        assert m.event(TimeAnswered(query=query.query, utc=None, why="timed out")) == urc("+MIPNTP: 0")
        assert m.module.module_time() == before

    def test_an_answer_after_the_pdp_context_went_is_a_failure(self, m: InMemoryModule) -> None:
        before = m.module.module_time()
        m.command('AT+MIPNTP="pool.ntp.org"')
        (query,) = asked(m, QueryTime)
        m.event(PdpDropped())
        assert m.event(TimeAnswered(query=query.query, utc=HOST_TIME - timedelta(days=900))) == urc("+MIPNTP: 0")
        assert m.module.module_time() == before

    def test_one_at_a_time_and_stale_answers(self, m: InMemoryModule) -> None:
        m.command('AT+MIPNTP="a.test"')
        (first,) = asked(m, QueryTime)
        assert m.command('AT+MIPNTP="b.test"') == ERROR
        m.command("AT+CFUN=1,1")  # a reset forgets the query; its late answer is not taken for a new one
        m.advance(1)
        m.command("ATE0;+MIPCALL=1")
        m.command('AT+MIPNTP="c.test"')
        (second,) = asked(m, QueryTime)
        assert second.query != first.query
        assert m.event(TimeAnswered(query=first.query, utc=HOST_TIME)) == b""
        assert m.event(TimeAnswered(query=second.query, utc=None)) == urc("+MIPNTP: 0")

    def test_needs_a_pdp_context_and_a_server(self, m: InMemoryModule) -> None:
        assert m.command('AT+MIPNTP=""') == ERROR
        assert m.command('AT+MIPNTP="pool.ntp.org",0') == ERROR
        m.command("AT+MIPCALL=0")
        assert m.command('AT+MIPNTP="pool.ntp.org"') == ERROR
        assert m.command("AT+MIPNTP=?") == urc('+MIPNTP: "<server>",(1-65535)') + OK

    def test_no_network_edge_answers_failure(self) -> None:
        # A driver without links (no network at all) must still end the command: +MIPNTP: 0, +MPINGSTAT: 2.
        out = bytearray()
        clock = ManualClock(HOST_TIME)
        driver = ModuleDriver(Module(load_profile("NL668_AM_00"), clock), write=out.extend,
                              scheduler=VirtualScheduler(clock))
        driver.start()
        driver.feed(b'ATE0;+MIPCALL=1;+MIPNTP="pool.ntp.org";+MPING=1,"8.8.8.8"\r')
        assert out.endswith(OK + urc("+MIPCALL: 10.146.52.17") + urc("+MIPNTP: 0") + urc("+MPINGSTAT: 2"))

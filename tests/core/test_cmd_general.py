"""The general commands a host sends first (27.007 formats; fibocom-tcpip.md §2)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from emulator.runtime.in_memory import InMemoryModule

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
HOST_TIME = datetime(2026, 11, 25, 17, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def m() -> InMemoryModule:
    module = InMemoryModule("NL668_AM_00", host_time=HOST_TIME)
    module.take()
    module.command("ATE0")
    return module


def info(*lines: str) -> bytes:
    return b"\r\n" + "\r\n".join(lines).encode() + b"\r\n" + OK


def test_identity(m: InMemoryModule) -> None:
    ident = m.profile.identity
    assert m.command("ATI") == info(*ident.ati)
    assert ident.ati[0] == "Manufacturer: Fibocom Wireless Inc."
    assert m.command("AT+CGMI") == info(ident.manufacturer)
    assert m.command("AT+CGMM") == info(ident.model)
    assert m.command("AT+CGMR") == info(ident.revision)
    assert m.command("AT+CGSN") == info(ident.imei)
    assert m.command("AT+GSN") == info(ident.imei)
    assert m.command("AT+CIMI") == info(ident.imsi)
    assert m.command("AT+CCID") == info(f"+CCID: {ident.iccid}")
    assert m.command("AT+CGMM=?") == OK


def test_sim_and_radio(m: InMemoryModule) -> None:
    net = m.profile.network
    assert m.command("AT+CPIN?") == info("+CPIN: READY")
    assert m.command('AT+CPIN="1234"') == ERROR
    assert m.command("AT+CSQ") == info(f"+CSQ: {net.rssi},{net.ber}")
    assert m.command("AT+CSQ=?") == info("+CSQ: (0-31,99),(0-7,99)")
    for name in ("+CREG", "+CGREG", "+CEREG"):
        assert m.command(f"AT{name}?") == info(f"{name}: 0,{net.registration}")
        assert m.command(f"AT{name}=2") == OK
        assert m.command(f"AT{name}?") == info(f"{name}: 2,{net.registration}")
        assert m.command(f"AT{name}=3") == ERROR
    assert m.command("AT+COPS?") == info(f'+COPS: 0,2,"{net.operator_numeric}",{net.access_technology}')
    assert m.command("AT+COPS=3,0") == OK
    assert m.command("AT+COPS?") == info(f'+COPS: 0,0,"{net.operator_name}",{net.access_technology}')
    assert m.command("AT+CGATT?") == info("+CGATT: 1")


def test_flight_mode_drops_the_network(m: InMemoryModule) -> None:
    assert m.command("AT+CFUN=4") == OK
    assert m.command("AT+CFUN?") == info("+CFUN: 4")
    assert m.command("AT+CEREG?") == info("+CEREG: 0,0")
    assert m.command("AT+CSQ") == info("+CSQ: 99,99")
    assert m.command("AT+CGATT?") == info("+CGATT: 0")
    assert m.command("AT+CFUN=1") == OK
    assert m.command("AT+CGATT?") == info("+CGATT: 1")


def test_cfun_forms(m: InMemoryModule) -> None:
    assert m.command("AT+CFUN=?") == info("+CFUN: (0,1,4,15),(0-1)")
    assert m.command("AT+CFUN=2") == ERROR
    assert m.command("AT+CFUN=1,2") == ERROR


def test_cgdcont(m: InMemoryModule) -> None:
    apn = m.profile.network.apn
    assert m.command("AT+CGDCONT?") == info(f'+CGDCONT: 1,"IP","{apn}","0.0.0.0",0,0')
    assert m.command('AT+CGDCONT=2,"IPV4V6","ctnet"') == OK
    assert m.command("AT+CGDCONT?") == info(
        f'+CGDCONT: 1,"IP","{apn}","0.0.0.0",0,0', '+CGDCONT: 2,"IPV4V6","ctnet","0.0.0.0",0,0'
    )
    assert m.command("AT+CGDCONT=2") == OK
    assert m.command('AT+CGDCONT=17,"IP","x"') == ERROR
    assert m.command('AT+CGDCONT=1,"PPP","x"') == ERROR
    assert m.command("AT+CGDCONT=?").startswith(b'\r\n+CGDCONT: (1-16),"IP",,,(0-2),(0-4)\r\n')


def test_ipr(m: InMemoryModule) -> None:
    assert m.command("AT+IPR?") == info("+IPR: 115200")
    assert m.command("AT+IPR=9600") == OK
    assert m.command("AT+IPR?") == info("+IPR: 9600")
    assert m.command("AT+IPR=1234") == ERROR


class TestClock:
    def test_defaults_to_host_utc(self, m: InMemoryModule) -> None:
        assert m.command("AT+CCLK?") == info('+CCLK: "26/11/25,17:00:00+00"')

    def test_runs_from_the_value_set(self, m: InMemoryModule) -> None:
        assert m.command('AT+CCLK="20/02/29,23:59:50+32"') == OK
        m.advance(15)
        assert m.command("AT+CCLK?") == info('+CCLK: "20/03/01,00:00:05+32"')
        # The instant is local minus 8 h.
        assert m.module.module_time() == datetime(2020, 2, 29, 16, 0, 5, tzinfo=timezone.utc)

    def test_negative_zone(self, m: InMemoryModule) -> None:
        assert m.command('AT+CCLK="26/01/01,00:00:00-20"') == OK
        assert m.command("AT+CCLK?") == info('+CCLK: "26/01/01,00:00:00-20"')
        assert m.module.module_time() == datetime(2026, 1, 1, 5, 0, 0, tzinfo=timezone.utc)

    @pytest.mark.parametrize(
        "value", ['"26/13/01,00:00:00+00"', '"26/02/30,00:00:00+00"', '"26/01/01,24:00:00+00"', '"26/01/01,00:00:00+60"', '"yesterday"', ""]
    )
    def test_refusals(self, m: InMemoryModule, value: str) -> None:
        assert m.command(f"AT+CCLK={value}") == ERROR
        assert m.command("AT+CCLK?") == info('+CCLK: "26/11/25,17:00:00+00"')

    def test_initial_clock_and_survives_reset(self) -> None:
        m = InMemoryModule("M910", host_time=HOST_TIME, initial_clock=datetime(2019, 6, 1, tzinfo=timezone.utc))
        m.take()
        m.command("ATE0")
        assert m.command("AT+CCLK?") == info('+CCLK: "19/06/01,00:00:00+00"')
        m.command("AT+CFUN=1,1")
        m.advance(10)
        m.command("ATE0")
        assert m.command("AT+CCLK?") == info('+CCLK: "19/06/01,00:00:10+00"')

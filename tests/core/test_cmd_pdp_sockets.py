"""What real modules answer that the emulator lacked (issue 11), in memory: +CGACT/+CGPADDR sharing the PDP
state with +MIPCALL, +MIPCLOSE on a socket already reported ended, +MIPSETS on a free id, +MIPCONF, ATI."""

from __future__ import annotations

import pytest

from emulator.core.actions import CloseLink, OpenLink
from emulator.core.events import LinkClosed, LinkOpened, LinkOpenFailed, PdpDropped, PeerClosed
from emulator.runtime.in_memory import InMemoryModule
from tests.core.test_cmd_tcpip import fresh, urc

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def info(*lines: str) -> bytes:
    """Information lines as one block (V.250: CR LF before the first, CR LF after each), then OK."""
    return b"\r\n" + b"".join(f"{line}\r\n".encode() for line in lines) + OK


def opened(m: InMemoryModule, link_id: int = 1, proto: int = 0) -> None:
    assert m.command(f'AT+MIPOPEN={link_id},,"peer.test",80,{proto}') == OK
    assert m.event(LinkOpened(link_id=link_id)) == urc(f"+MIPOPEN: {link_id},1")
    m.links.take()


@pytest.fixture
def m() -> InMemoryModule:
    return fresh()


class TestCgact:
    def test_power_on_state_and_test_form(self, m: InMemoryModule) -> None:
        assert m.command("AT+CGACT?") == urc("+CGACT: 1,0") + OK
        assert m.command("AT+CGACT=?") == urc("+CGACT: (0,1)") + OK
        assert m.command("AT+CGPADDR=1") == urc("+CGPADDR: 1") + OK  # 27.007: no address while inactive

    def test_cgact_activation_shows_in_mipcall(self, m: InMemoryModule) -> None:
        ip = m.profile.network.local_ip
        assert m.command("AT+CGACT=1,1") == OK  # no +MIPCALL URC: the host asked through +CGACT
        assert m.command("AT+CGACT?") == urc("+CGACT: 1,1") + OK
        assert m.command("AT+MIPCALL?") == urc(f"+MIPCALL: 1,{ip}") + OK
        assert m.command("AT+CGPADDR=1") == urc(f'+CGPADDR: 1,"{ip}"') + OK
        assert m.command("AT+MIPCALL=1") == ERROR  # already active, whoever activated it
        assert m.command("AT+CGACT=1,1") == OK  # 27.007: already in the state asked for is no error
        opened(m)  # and sockets work on it

    def test_mipcall_activation_shows_in_cgact(self, m: InMemoryModule) -> None:
        m.command("AT+MIPCALL=1")
        assert m.command("AT+CGACT?") == urc("+CGACT: 1,1") + OK
        assert m.command("AT+CGPADDR") == urc(f'+CGPADDR: 1,"{m.profile.network.local_ip}"') + OK
        assert m.command("AT+MIPCALL=0") == OK + urc("+MIPCALL: 0")
        assert m.command("AT+CGACT?") == urc("+CGACT: 1,0") + OK
        assert m.command("AT+CGPADDR=1") == urc("+CGPADDR: 1") + OK

    def test_cgact_deactivation_drops_sockets_like_mipcall_0(self, m: InMemoryModule) -> None:
        m.command("AT+CGACT=1,1")
        opened(m, 1)
        opened(m, 2)
        assert m.command("AT+CGACT=0,1") == OK + urc("+MIPSTAT: 1,1") + urc("+MIPSTAT: 2,1")
        assert [a for a in m.links.take() if isinstance(a, CloseLink)] == [CloseLink(link_id=1), CloseLink(link_id=2)]
        assert m.command("AT+MIPCALL?") == urc("+MIPCALL: 0") + OK
        assert m.command('AT+MIPOPEN=3,,"peer.test",80,0') == ERROR  # no PDP context any more
        assert m.command("AT+CGACT=0,1") == OK  # already inactive: nothing to drop

    def test_pdp_drop_from_the_network_clears_both(self, m: InMemoryModule) -> None:
        m.command("AT+CGACT=1,1")
        opened(m)
        assert m.event(PdpDropped()) == urc("+MIPSTAT: 1,1") + urc("+MIPCALL: 0")
        assert m.command("AT+CGACT?") == urc("+CGACT: 1,0") + OK
        assert m.command("AT+CGPADDR=1") == urc("+CGPADDR: 1") + OK

    def test_other_contexts_are_listed_but_not_activated(self, m: InMemoryModule) -> None:
        m.command('AT+CGDCONT=3,"IP","other"')
        assert m.command("AT+CGACT?") == info("+CGACT: 1,0", "+CGACT: 3,0")
        assert m.command("AT+CGPADDR=?") == urc("+CGPADDR: (1,3)") + OK
        assert m.command("AT+CGPADDR=1,3") == info("+CGPADDR: 1", "+CGPADDR: 3")
        assert m.command("AT+CMEE=1") == OK
        assert m.command("AT+CGACT=1,3") == urc("+CME ERROR: 4")
        assert m.command("AT+CGACT=1,5") == urc("+CME ERROR: 50")  # not defined
        assert m.command("AT+CGPADDR=5") == urc("+CME ERROR: 50")

    @pytest.mark.parametrize("args", ["2,1", "1,0", "1,17", "x", "1,1,1"])
    def test_refusals(self, m: InMemoryModule, args: str) -> None:
        assert m.command(f"AT+CGACT={args}") == ERROR
        assert m.command("AT+CGACT?") == urc("+CGACT: 1,0") + OK

    def test_radio_off_refuses_activation(self, m: InMemoryModule) -> None:
        m.command("AT+CFUN=4;+CMEE=1")
        assert m.command("AT+CGACT=1,1") == urc("+CME ERROR: 30")

    def test_a_reset_deactivates(self, m: InMemoryModule) -> None:
        m.command("AT+CGACT=1,1")
        m.command("AT+CFUN=1,1")
        m.advance(1)
        assert m.command("ATE0;+CGACT?") == b"ATE0;+CGACT?\r\r\n+CGACT: 1,0\r\n\r\nOK\r\n"


class TestCloseAfterEnd:
    @pytest.fixture
    def m(self) -> InMemoryModule:
        module = fresh()
        module.command("AT+MIPCALL=1")
        return module

    def test_close_after_peer_close_answers_ok_and_the_urc(self, m: InMemoryModule) -> None:
        opened(m)
        assert m.event(PeerClosed(link_id=1)) == urc("+MIPSTAT: 1,2")
        assert m.command("AT+MIPCLOSE=1") == OK + urc("+MIPCLOSE: 1,0")
        assert m.links.take() == []  # nothing left to close at the edge
        assert m.command("AT+MIPCLOSE=1") == ERROR  # once: the host has closed it now

    def test_close_after_reset_and_ssl_type(self, m: InMemoryModule) -> None:
        opened(m, 2, proto=2)
        assert m.event(PeerClosed(link_id=2, reset=True)) == urc("+MIPSTAT: 2,1")
        assert m.command("AT+MIPCLOSE=2") == OK + urc("+MIPCLOSE: 2,1")  # SSL: type 1

    def test_close_after_a_failed_open(self, m: InMemoryModule) -> None:
        m.command('AT+MIPOPEN=1,,"peer.test",80,0')
        assert m.event(LinkOpenFailed(link_id=1, why="refused")) == urc("+MIPOPEN: 1,0")
        assert m.command("AT+MIPCLOSE=1") == OK + urc("+MIPCLOSE: 1,0")

    def test_close_after_pdp_loss_while_the_edge_still_closes(self, m: InMemoryModule) -> None:
        opened(m)
        m.command("AT+MIPCALL=0")
        assert m.command("AT+MIPCLOSE=1") == OK + urc("+MIPCLOSE: 1,0")
        assert m.event(LinkClosed(link_id=1)) == b""  # no second URC when the edge is done
        assert m.command("AT+MIPCLOSE=1") == ERROR  # once, even when the host closed before the edge was done

    def test_reopening_the_id_forgets_the_old_end(self, m: InMemoryModule) -> None:
        opened(m)
        m.event(PeerClosed(link_id=1))
        opened(m)
        assert m.command("AT+MIPCLOSE=1") == OK
        assert CloseLink(link_id=1) in m.links.take()  # a real close of the new socket
        assert m.event(LinkClosed(link_id=1)) == urc("+MIPCLOSE: 1,0")

    def test_never_opened_or_closed_by_the_host_is_still_an_error(self, m: InMemoryModule) -> None:
        assert m.command("AT+MIPCLOSE=3") == ERROR
        opened(m)
        m.command("AT+MIPCLOSE=1")
        assert m.command("AT+MIPCLOSE=1") == ERROR  # closing: the host itself asked

    def test_error_knob_keeps_the_old_answer(self) -> None:
        m = fresh(close_after_end="error")
        m.command("AT+MIPCALL=1;+CMEE=1")
        opened(m)
        m.event(PeerClosed(link_id=1))
        assert m.command("AT+MIPCLOSE=1") == urc("+CME ERROR: 3")


class TestMipsets:
    def test_free_socket_is_an_error_not_success(self, m: InMemoryModule) -> None:
        m.command("AT+MIPCALL=1;+CMEE=1")
        assert m.command("AT+MIPSETS=1,100") == urc("+CME ERROR: 3")
        assert m.command("AT+MIPSETS?") == OK
        opened(m)
        assert m.command("AT+MIPSETS=1,100") == urc("+MIPSETS: 0") + OK

    def test_opening_socket_may_be_set(self, m: InMemoryModule) -> None:
        m.command("AT+MIPCALL=1")
        m.command('AT+MIPOPEN=1,,"peer.test",80,0')
        assert any(isinstance(a, OpenLink) for a in m.links.take())
        assert m.command("AT+MIPSETS=1,100,50") == urc("+MIPSETS: 0") + OK


class TestMipconf:
    def test_absent_from_nl668_firmware(self, m: InMemoryModule) -> None:
        m.command("AT+CMEE=1")
        for form in ("AT+MIPCONF=1,5,5,600,75,2", "AT+MIPCONF?", "AT+MIPCONF=?"):
            assert m.command(form) == ERROR  # plain ERROR, as for an unknown command

    def test_stored_per_socket_where_the_profile_has_it(self) -> None:
        m = fresh(mipconf=True)
        assert m.command("AT+MIPCONF=1,5,5,600,75,2") == OK  # the G610 example, socket not open
        assert m.command("AT+MIPCONF=2,,,,,2") == OK  # omitted values keep the defaults
        assert m.command("AT+MIPCONF?") == info(
            "+MIPCONF: 1,5,5,600,75,2",
            "+MIPCONF: 2,5,5,600,75,2",
            *(f"+MIPCONF: {i},5,5,600,75,0" for i in range(3, 7)),
        )
        assert m.command("AT+MIPCONF=?") == urc("+MIPCONF: (1-6),(1-255),(1-1000),(1-6000),(0-6000),(0-2)") + OK

    @pytest.mark.parametrize("args", ["7,5", "1,0", "1,5,700,600", "1,,,,,3", "1,1,1,1,1,1,1"])
    def test_refusals(self, args: str) -> None:
        m = fresh(mipconf=True)
        assert m.command(f"AT+MIPCONF={args}") == ERROR

    def test_forgotten_on_reset(self) -> None:
        m = fresh(mipconf=True)
        m.command("AT+MIPCONF=1,9")
        m.command("AT+CFUN=1,1")
        m.advance(1)
        assert b"+MIPCONF: 1,5,5,600,75,0" in m.command("AT+MIPCONF?")


def test_ati_has_the_esn_line_after_the_imei() -> None:
    m = fresh()
    lines = m.command("ATI").decode().split("\r\n")
    imei = m.profile.identity.imei
    assert lines[lines.index(f"IMEI: {imei}") + 1] == "ESN: +GSN: 0x0"

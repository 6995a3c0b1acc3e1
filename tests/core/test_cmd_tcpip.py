"""The TCP/IP commands in memory: the core asks for sockets with actions, the test answers with events."""

from __future__ import annotations

from dataclasses import replace

import pytest

from emulator.core.actions import CloseLink, OpenLink, PauseReading, Protocol, ResolveName, SendToPeer
from emulator.core.events import LinkClosed, LinkOpened, LinkOpenFailed, NameResolved, PeerClosed, PeerDataReceived
from emulator.profiles import load_profile
from emulator.runtime.in_memory import InMemoryModule
from emulator.servers.pki import cert_bytes

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
PROMPT = b"\r\n> "


def urc(line: str) -> bytes:
    return f"\r\n{line}\r\n".encode()


def fresh(profile: object = "NL668_AM_00", **sockets: object) -> InMemoryModule:
    p = load_profile(profile) if isinstance(profile, str) else profile
    if sockets:
        p = replace(p, sockets=replace(p.sockets, **sockets))
    m = InMemoryModule(p)
    m.take()
    m.command("ATE0")
    return m


@pytest.fixture
def m() -> InMemoryModule:
    module = fresh()
    assert module.command('AT+MIPCALL=1,"broadband"') == OK + urc(f"+MIPCALL: {module.profile.network.local_ip}")
    return module


def opened(m: InMemoryModule, link_id: int = 1, proto: int = 2, host: str = "www.example.test") -> OpenLink:
    m.links.take()
    assert m.command(f'AT+MIPOPEN={link_id},,"{host}",443,{proto}') == OK
    (action,) = [a for a in m.links.take() if isinstance(a, OpenLink)]
    assert m.event(LinkOpened(link_id=link_id, detail="TLSv1.2 AES128-SHA")) == urc(f"+MIPOPEN: {link_id},1")
    return action


class TestMipcall:
    def test_read_and_deactivate(self, m: InMemoryModule) -> None:
        ip = m.profile.network.local_ip
        assert m.command("AT+MIPCALL?") == urc(f"+MIPCALL: 1,{ip}")[:-2] + b"\r\n" + OK
        assert m.command("AT+MIPCALL=1") == ERROR  # already active
        assert m.command("AT+MIPCALL=0") == OK + urc("+MIPCALL: 0")
        assert m.command("AT+MIPCALL?") == urc("+MIPCALL: 0") + OK
        assert m.command("AT+MIPCALL=0") == OK + urc("+MIPCALL: 0")

    def test_sockets_need_a_call(self) -> None:
        m = fresh()
        assert m.command('AT+MIPOPEN=1,,"127.0.0.1",443,2') == ERROR
        assert m.links.take() == []

    def test_deactivation_drops_the_sockets(self, m: InMemoryModule) -> None:
        opened(m)
        assert m.command("AT+MIPCALL=0") == OK + urc("+MIPSTAT: 1,1") + urc("+MIPCALL: 0")
        assert [a for a in m.links.take() if isinstance(a, CloseLink)] == [CloseLink(link_id=1)]
        assert m.command("AT+MIPOPEN?") == urc("+MIPOPEN: 2,3,4,5,6") + OK  # 1 busy until LinkClosed
        assert m.event(LinkClosed(link_id=1)) == b""
        assert m.command("AT+MIPOPEN?") == urc("+MIPOPEN: 1,2,3,4,5,6") + OK


class TestMipopen:
    def test_request_snapshot_of_the_ssl_settings(self, m: InMemoryModule) -> None:
        m.command('AT+GTSSLFILE="TRUSTFILE",%d' % len(cert_bytes("root-ca.pem")))
        m.send(cert_bytes("root-ca.pem"))
        m.command("AT+GTSSLMODE=1;+GTSSLVER=4;+GTSSLCIPHER=9,1")
        action = opened(m, host="www.baidu.com")
        assert action.protocol is Protocol.SSL and action.host == "www.baidu.com" and action.port == 443
        tls = action.tls
        assert tls is not None
        assert (tls.version, tls.cipher_ids, tls.verify, tls.server_name) == (4, (9,), True, "www.baidu.com")
        assert tls.trust_pems == (cert_bytes("root-ca.pem"),) and tls.cert_pem is None
        assert tls.module_time == m.module.module_time()
        assert "BEGIN" not in repr(tls)

    def test_defaults_apply_when_no_cipher_is_enabled(self, m: InMemoryModule) -> None:
        assert opened(m).tls.cipher_ids == (2, 3, 4)  # type: ignore[union-attr]

    def test_tcp_has_no_tls(self, m: InMemoryModule) -> None:
        assert opened(m, proto=0).tls is None

    def test_read_form_lists_free_ids(self, m: InMemoryModule) -> None:
        assert m.command("AT+MIPOPEN?") == urc("+MIPOPEN: 1,2,3,4,5,6") + OK
        for i in range(1, 7):
            opened(m, i)
        assert m.command("AT+MIPOPEN?") == urc("+MIPOPEN: 0") + OK
        assert m.command("AT+MIPCLOSE?") == urc("+MIPCLOSE: 1,2,3,4,5,6") + OK

    @pytest.mark.parametrize(
        "args", ['0,,"h",443,2', '7,,"h",443,2', '1,,"h",0,2', '1,,"h",65536,2', '1,,"h",443,3', '1,,"",443,2', '1,,"h",443', "1"]
    )
    def test_refusals(self, m: InMemoryModule, args: str) -> None:
        assert m.command(f"AT+MIPOPEN={args}") == ERROR
        assert m.links.take() == []

    def test_busy_socket_is_refused(self, m: InMemoryModule) -> None:
        opened(m)
        assert m.command('AT+MIPOPEN=1,,"h",443,2') == ERROR

    def test_failure_sets_gtsslerr_and_frees_the_socket(self, m: InMemoryModule) -> None:
        m.command('AT+MIPOPEN=1,,"h",443,2')
        assert m.event(LinkOpenFailed(link_id=1, gtsslerr=45, why="expired")) == urc("+MIPOPEN: 1,0")
        assert m.command("AT+GTSSLERR?") == urc("+GTSSLERR: 45") + OK
        opened(m)  # the id is free again, and a success clears the error
        assert m.command("AT+GTSSLERR?") == OK

    def test_non_tls_failure_leaves_no_code(self, m: InMemoryModule) -> None:
        m.command('AT+MIPOPEN=1,,"h",443,2')
        m.event(LinkOpenFailed(link_id=1, gtsslerr=48, why="unknown ca"))
        m.command('AT+MIPOPEN=2,,"h",443,2')
        assert m.event(LinkOpenFailed(link_id=2, gtsslerr=None, why="refused")) == urc("+MIPOPEN: 2,0")
        assert m.command("AT+GTSSLERR?") == OK

    def test_open_timeout_gives_up_with_user_canceled(self, m: InMemoryModule) -> None:
        m.command('AT+MIPOPEN=1,,"h",443,2')
        m.links.take()
        assert m.advance(m.profile.sockets.open_timeout_s - 0.1) == b""
        assert m.advance(0.1) == urc("+MIPOPEN: 1,0")
        assert m.links.take() == [CloseLink(link_id=1)]
        assert m.command("AT+GTSSLERR?") == urc("+GTSSLERR: 90") + OK
        assert m.event(LinkOpened(link_id=1)) == b""  # too late: ignored
        assert m.event(LinkClosed(link_id=1)) == b""  # silently freed: the failure was told
        assert m.command("AT+MIPOPEN?") == urc("+MIPOPEN: 1,2,3,4,5,6") + OK

    def test_result_before_ok_knob(self) -> None:
        m = fresh(result_before_ok=True)
        m.command("AT+MIPCALL=1")
        assert m.command('AT+MIPOPEN=1,,"h",443,0') == b""
        assert m.event(LinkOpened(link_id=1)) == urc("+MIPOPEN: 1,1") + OK

    def test_mipstat_failure_knob(self) -> None:
        m = fresh(open_failure="mipstat")
        m.command("AT+MIPCALL=1")
        m.command('AT+MIPOPEN=1,,"h",443,2')
        assert m.event(LinkOpenFailed(link_id=1, gtsslerr=40)) == urc("+MIPSTAT: 1,1")


class TestMipclose:
    def test_close_then_urc_with_type(self, m: InMemoryModule) -> None:
        opened(m)
        opened(m, 2, proto=0)
        assert m.command("AT+MIPCLOSE=1") == OK
        assert CloseLink(link_id=1) in m.links.take()
        assert m.command("AT+MIPCLOSE?") == urc("+MIPCLOSE: 2") + OK
        assert m.event(LinkClosed(link_id=1)) == urc("+MIPCLOSE: 1,1")  # SSL: type 1 (manual §2.6)
        m.command("AT+MIPCLOSE=2")
        assert m.event(LinkClosed(link_id=2)) == urc("+MIPCLOSE: 2,0")

    def test_close_refusals(self, m: InMemoryModule) -> None:
        assert m.command("AT+MIPCLOSE=1") == ERROR
        assert m.command("AT+MIPCLOSE=9") == ERROR
        opened(m)
        m.command("AT+MIPCLOSE=1")
        assert m.command("AT+MIPCLOSE=1") == ERROR  # already closing

    def test_peer_close_and_reset(self, m: InMemoryModule) -> None:
        opened(m)
        opened(m, 2)
        assert m.event(PeerClosed(link_id=1)) == urc("+MIPSTAT: 1,2")
        assert m.event(PeerClosed(link_id=2, reset=True, gtsslerr=20)) == urc("+MIPSTAT: 2,1")
        assert m.command("AT+GTSSLERR?") == urc("+GTSSLERR: 20") + OK
        assert m.command("AT+MIPOPEN?") == urc("+MIPOPEN: 1,2,3,4,5,6") + OK

    def test_peer_close_as_mipclose_knob(self) -> None:
        m = fresh(peer_close="mipclose")
        m.command("AT+MIPCALL=1")
        opened(m)
        assert m.event(PeerClosed(link_id=1)) == urc("+MIPCLOSE: 1,1")


class TestMipsend:
    def test_length_form(self, m: InMemoryModule) -> None:
        opened(m)
        assert m.command("AT+MIPSEND=1,5") == PROMPT
        assert m.send(b"a\r\n\x00b") == urc("+MIPSEND: 1,0,2048") + OK
        assert m.links.take() == [SendToPeer(link_id=1, data=b"a\r\n\x00b")]

    def test_length_form_limits(self, m: InMemoryModule) -> None:
        opened(m)
        assert m.command("AT+MIPSEND=1,2049") == ERROR
        assert m.command("AT+MIPSEND=1,0") == ERROR
        assert m.command("AT+MIPSEND=2,5") == ERROR  # not open

    def test_hex_form_buffers_until_push(self, m: InMemoryModule) -> None:
        opened(m)
        assert m.command('AT+MIPSEND=1,"4142"') == urc("+MIPSEND: 1,0,2046") + OK
        assert m.command('AT+MIPSEND=1,"43"') == urc("+MIPSEND: 1,0,2045") + OK
        assert m.command("AT+MIPSEND?") == urc("+MIPSEND: 1,2045") + OK
        assert [a for a in m.links.take() if isinstance(a, SendToPeer)] == []
        assert m.command("AT+MIPPUSH=1") == urc("+MIPPUSH: 1,0") + OK
        assert [a for a in m.links.take() if isinstance(a, SendToPeer)] == [SendToPeer(link_id=1, data=b"ABC")]
        assert m.command("AT+MIPPUSH=1") == urc("+MIPPUSH: 1,2") + OK

    @pytest.mark.parametrize("hexdata", ['"414"', '"zz"', '""'])
    def test_bad_hex(self, m: InMemoryModule, hexdata: str) -> None:
        opened(m)
        assert m.command(f"AT+MIPSEND=1,{hexdata}") == ERROR

    def test_watermark_and_timer(self, m: InMemoryModule) -> None:
        opened(m)
        assert m.command("AT+MIPSETS=1,4,500") == urc("+MIPSETS: 0") + OK
        assert m.command("AT+MIPSETS?") == urc("+MIPSETS: 1,4,500") + OK
        m.command('AT+MIPSEND=1,"41"')
        assert m.command("AT+MIPSETS=1,8") == urc("+MIPSETS: 3") + OK  # data buffered
        m.links.take()
        m.advance(0.5)
        assert [a for a in m.links.take() if isinstance(a, SendToPeer)] == [SendToPeer(link_id=1, data=b"A")]
        m.command('AT+MIPSEND=1,"41424344"')
        assert [a for a in m.links.take() if isinstance(a, SendToPeer)] == [SendToPeer(link_id=1, data=b"ABCD")]

    def test_push_after_send_knob(self) -> None:
        m = fresh(push_after_send=True)
        m.command("AT+MIPCALL=1")
        opened(m)
        m.command("AT+MIPSEND=1,1")
        assert m.send(b"x") == urc("+MIPSEND: 1,0,2048") + OK + urc("+MIPPUSH: 1,0")


class TestReceive:
    def test_hex_mode_default(self, m: InMemoryModule) -> None:
        opened(m)
        assert m.event(PeerDataReceived(link_id=1, data=b"\x20\x02\x00\x00")) == urc("+MIPRTCP: 1,0,20020000")

    def test_hex_chunks_report_what_is_left(self, m: InMemoryModule) -> None:
        opened(m)
        data = bytes(range(256)) * 5  # 1280 bytes: 1024 + 256
        assert m.event(PeerDataReceived(link_id=1, data=data)) == urc(
            f"+MIPRTCP: 1,256,{data[:1024].hex().upper()}"
        ) + urc(f"+MIPRTCP: 1,0,{data[1024:].hex().upper()}")

    def test_raw_mode(self, m: InMemoryModule) -> None:
        assert m.command('AT+GTSET="IPRFMT",1') == OK
        opened(m)
        assert m.event(PeerDataReceived(link_id=1, data=b"\r\nraw\x00")) == b"\r\nraw\x00"

    def test_length_prefixed_mode(self, m: InMemoryModule) -> None:
        m.command('AT+GTSET="IPRFMT",2')
        assert m.command("AT+GTSET?") == urc('+GTSET: "IPRFMT",2') + OK
        opened(m)
        assert m.event(PeerDataReceived(link_id=1, data=b"hi\r\n")) == b"\r\n+MIPRTCP: 1,4,hi\r\n\r\n"

    def test_read_mode(self, m: InMemoryModule) -> None:
        m.command('AT+GTSET="IPRFMT",5')
        opened(m)
        assert m.event(PeerDataReceived(link_id=1, data=b"hello")) == urc("+MIPREAD: 1,5")
        assert m.event(PeerDataReceived(link_id=1, data=b" world")) == b""  # one notice until read
        assert m.command("AT+MIPREAD=1,8") == urc("+MIPDATA: 1,8") + b"hello wo" + OK + urc("+MIPREAD: 1,3")
        assert m.command("AT+MIPREAD=1,8") == urc("+MIPDATA: 1,3") + b"rld" + OK
        assert m.command("AT+MIPREAD=1,8") == urc("+MIPDATA: 1,0") + OK

    def test_read_mode_pauses_the_peer_when_full(self, m: InMemoryModule) -> None:
        m.command('AT+GTSET="IPRFMT",5')
        opened(m)
        m.links.take()
        m.event(PeerDataReceived(link_id=1, data=b"x" * 70000))
        assert PauseReading(link_id=1, paused=True) in m.links.take()
        m.command("AT+MIPREAD=1,40000")
        assert PauseReading(link_id=1, paused=False) in m.links.take()

    def test_udp(self, m: InMemoryModule) -> None:
        opened(m, proto=1)
        assert m.event(PeerDataReceived(link_id=1, data=b"\x01", peer=("127.0.0.1", 5000))) == urc(
            "+MIPRUDP: 127.0.0.1,5000,1,0,01"
        )

    def test_urcs_wait_for_a_data_entry(self, m: InMemoryModule) -> None:
        opened(m)
        opened(m, 2)
        assert m.command("AT+MIPSEND=1,3") == PROMPT
        assert m.event(PeerDataReceived(link_id=2, data=b"\x01")) == b""
        assert m.event(PeerClosed(link_id=2)) == b""
        assert m.send(b"abc") == urc("+MIPSEND: 1,0,2048") + OK + urc("+MIPRTCP: 2,0,01") + urc("+MIPSTAT: 2,2")

    def test_gtset_refusals(self, m: InMemoryModule) -> None:
        assert m.command('AT+GTSET="IPRFMT",3') == ERROR
        assert m.command('AT+GTSET="FOO",1') == ERROR


class TestMipdns:
    def test_answer_precedes_ok(self, m: InMemoryModule) -> None:
        assert m.command('AT+MIPDNS="www.baidu.com"') == b""
        (action,) = m.links.take()
        assert isinstance(action, ResolveName) and action.host == "www.baidu.com"
        assert m.event(NameResolved(query=action.query, addresses=("127.0.0.1",))) == (
            urc('+MIPDNS: "www.baidu.com",127.0.0.1') + OK
        )

    def test_unresolvable(self, m: InMemoryModule) -> None:
        m.command('AT+MIPDNS="nowhere.invalid"')
        (action,) = m.links.take()
        assert m.event(NameResolved(query=action.query, addresses=())) == ERROR

    def test_a_lookup_that_never_answers_ends_in_error(self, m: InMemoryModule) -> None:
        m.command('AT+MIPDNS="lost.test"')
        (action,) = m.links.take()
        assert m.advance(29.9) == b""
        assert m.advance(0.1) == ERROR
        assert m.command("AT") == OK
        assert isinstance(action, ResolveName)
        assert m.event(NameResolved(query=action.query, addresses=("10.0.0.1",))) == b""  # too late

    def test_lines_typed_while_waiting_run_after(self, m: InMemoryModule) -> None:
        m.command('AT+MIPDNS="a.test"')
        (action,) = m.links.take()
        assert m.command("AT+GTSSLMODE?") == b""
        assert m.event(NameResolved(query=action.query, addresses=("10.0.0.1",))) == (
            urc('+MIPDNS: "a.test",10.0.0.1') + OK + urc("+GTSSLMODE: 0") + OK
        )


def test_reset_closes_every_socket(m: InMemoryModule) -> None:
    opened(m)
    m.command("AT+CFUN=1,1")
    assert m.links.closed_all == 1
    m.advance(1)
    m.command("ATE0")
    assert m.event(PeerDataReceived(link_id=1, data=b"late")) == b""
    assert m.command("AT+MIPCALL?") == urc("+MIPCALL: 0") + OK
    assert m.command("AT+MIPOPEN?") == urc("+MIPOPEN: 1,2,3,4,5,6") + OK


def test_a_data_command_typed_during_a_lookup_runs_after_it_with_its_block(m: InMemoryModule) -> None:
    """Bytes typed while +MIPDNS waits are read afterwards, in order: the block lands after the prompt."""
    opened(m)
    m.links.take()
    assert m.command('AT+MIPDNS="a.test"') == b""
    (query,) = m.links.take()
    assert m.send(b"AT+MIPSEND=1,3\rabc") == b""
    assert m.event(NameResolved(query=query.query, addresses=("10.0.0.1",))) == (
        urc('+MIPDNS: "a.test",10.0.0.1') + OK + PROMPT + urc("+MIPSEND: 1,0,2048") + OK
    )
    assert SendToPeer(link_id=1, data=b"abc") in m.links.take()

"""FleetModule without Locust: modules on the host's real loop thread, driven from this thread's gevent hub,
against real local servers; what is reported, and the failure names."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.at_client import AtError
from emulator.core.identity import luhn_ok, profile_for_unit
from emulator.fleet.hosting import WORKER_STRIDE, ModuleHost, worker_first_index
from emulator.fleet.module import FleetModule, command_name
from emulator.fleet.scenarios import ProfileMix, Session, Settings, parse_mix, parse_target
from emulator.profiles import load_profile
from emulator.servers.tls_servers import ServerSettings, TlsServer

pytestmark = pytest.mark.integration

Reports = list[tuple[str, str, float, int, "str | None"]]


@pytest.fixture
def host() -> Iterator[ModuleHost]:
    h = ModuleHost(timeout=10)
    yield h
    h.close()
    assert h.errors == []


def module(host: ModuleHost, port: int, reports: Reports) -> FleetModule:
    return FleetModule("NL668_AM_00", resolve=[f"fleet.example.test=127.0.0.1:{port}"], host=host,
                       report=lambda *r: reports.append(r), timeout=10)


def test_handshake_echo_and_reconnect_are_reported(host: ModuleHost) -> None:
    reports: Reports = []
    with TlsServer() as server:
        m = module(host, server.port, reports)
        m.at("AT+GTSSLVER=4;+GTSSLCIPHER=7,1")
        m.attach()
        assert m.open_tls("fleet.example.test", 443)
        assert m.echo(b"0123456789abcdef")
        assert m.reconnect_after_drop("fleet.example.test", 443)  # the network drops the PDP context
        assert m.echo(b"again")
        m.close_tls()
        m.close()
        assert len(server.wait_handshakes(2)) == 2
    names = [(r[0], r[1], r[4]) for r in reports]
    assert names == [
        ("AT", "AT+GTSSLVER=", None), ("AT", "AT+MIPCALL=", None), ("TLS", "+MIPOPEN handshake", None),
        ("TLS", "+MIPSEND round trip", None), ("AT", "AT+MIPCALL=", None), ("TLS", "reconnect", None),
        ("TLS", "+MIPSEND round trip", None), ("AT", "AT+MIPCLOSE=", None),
    ]
    assert all(r[2] > 0 for r in reports)
    assert host.modules == 1


def test_a_missing_trust_file_is_named_in_the_failure_table(host: ModuleHost, tmp_path: Path) -> None:
    reports: Reports = []
    missing = tmp_path / "nope.pem"
    session = Session(module(host, 443, reports), Settings(scenario="tls-connect", trust=[missing]),
                      ("fleet.example.test", 443))
    with pytest.raises(FileNotFoundError):
        session.start()
    assert [(r[0], r[1], r[4]) for r in reports] == [
        ("AT", "AT+GTSSLFILE=", f"--nl668-trust {missing}: No such file or directory")]
    session.module.close()


def test_failures_are_named_by_what_the_module_said(host: ModuleHost) -> None:
    reports: Reports = []
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        refused = closed.getsockname()[1]
    with TlsServer(ServerSettings(behaviour="reset_after", reset_after_bytes=1)) as server:
        m = module(host, server.port, reports)
        m.attach()
        assert m.open_tls("fleet.example.test", 443)
        assert not m.echo(b"xy")  # the server echoes one byte, then resets the socket
        m.reset_link()
        m.close()
    m = module(host, refused, reports)
    m.attach()
    assert not m.open_tls("fleet.example.test", 443)  # refused: no SSL error to name
    with pytest.raises(Exception, match="ERROR"):
        m.at("AT+NOSUCH")
    m.at("AT+CMEE=1")
    with pytest.raises(AtError):
        m.at("AT+GTSSLVER=9")  # out of range: a numbered refusal
    m.close()
    failures = [(r[1], r[4]) for r in reports if r[4] is not None]
    assert failures == [("+MIPSEND round trip", "+MIPSTAT: 1,1"), ("+MIPOPEN handshake", "+MIPOPEN: 1,0"),
                        ("AT+NOSUCH", "ERROR"), ("AT+GTSSLVER=", "+CME ERROR: 50")]


def identity_of(m: FleetModule) -> tuple[str, str, str]:
    """What a host driver reads at start: IMEI, IMSI, ICCID."""
    (imei,), (imsi,), (ccid,) = m.at("AT+CGSN"), m.at("AT+CIMI"), m.at("AT+CCID")
    return imei, imsi, ccid.removeprefix("+CCID: ")


def test_each_module_has_its_own_identity(host: ModuleHost) -> None:
    profile = load_profile("NL668_AM_00")
    first, second = (FleetModule(profile, host=host, timeout=10) for _ in range(2))
    assert (first.index, second.index) == (0, 1)
    ours = profile.identity
    assert identity_of(first) == (ours.imei, ours.imsi, ours.iccid)  # module 0: the profile's own
    theirs = profile_for_unit(profile, 1).identity
    assert identity_of(second) == (theirs.imei, theirs.imsi, theirs.iccid)
    assert all(a != b for a, b in zip(identity_of(first), identity_of(second)))
    assert luhn_ok(theirs.imei) and theirs.imei[:8] == ours.imei[:8]
    first.close()
    second.close()


def test_a_locust_worker_counts_from_its_stride_and_reuses_freed_indexes(host: ModuleHost) -> None:
    assert worker_first_index(-1) == 0  # a worker whose master sent no index (Locust < 2.10.2 masters)
    host.first_index = worker_first_index(3)
    first, second = (FleetModule("M910", host=host, timeout=10) for _ in range(2))
    assert (first.index, second.index) == (3 * WORKER_STRIDE, 3 * WORKER_STRIDE + 1)
    imei = identity_of(first)[0]
    assert imei == profile_for_unit(load_profile("M910"), 3 * WORKER_STRIDE).identity.imei
    assert f"IMEI: {imei}" in first.at("ATI")
    first.close()
    again = FleetModule("M910", host=host, timeout=10)  # a user Locust stopped and started: the same device
    assert again.index == 3 * WORKER_STRIDE and identity_of(again)[0] == imei
    third = FleetModule("M910", host=host, timeout=10)
    assert third.index == 3 * WORKER_STRIDE + 2
    explicit = FleetModule("M910", host=host, timeout=10, index=0)
    assert identity_of(explicit)[0] == load_profile("M910").identity.imei
    for m in (second, again, third, explicit):
        m.close()


def test_names_mixes_and_targets() -> None:
    assert [command_name(c) for c in ("ATE0", 'AT+MIPOPEN=1,,"h",1,2', "AT+GTSSLERR?", "AT+CSQ", "AT&F")] == [
        "ATE0", "AT+MIPOPEN=", "AT+GTSSLERR?", "AT+CSQ", "AT&F"]
    mix = ProfileMix(parse_mix("NL668_EU_00:70,M910:30"))
    dealt = [mix.next() for _ in range(10)]
    assert dealt.count("NL668_EU_00") == 7 and dealt.count("M910") == 3
    assert parse_target("tls://broker.example.test:8883") == ("broker.example.test", 8883)
    assert parse_target("127.0.0.1") == ("127.0.0.1", 443)
    assert parse_target(None) == ("127.0.0.1", 443)  # the default stays on this machine
    with pytest.raises(ValueError):
        parse_target("http://example.test")
    with pytest.raises(ValueError):
        Settings(scenario="nope")
    settings = Settings.from_text(scenario="tls-echo", profiles="M910", trust="a.pem, b.pem",
                                  resolve="x=127.0.0.1,y:1=127.0.0.1:2", setup_at="AT+A|AT+B")
    assert [str(p) for p in settings.trust] == ["a.pem", "b.pem"]
    assert settings.resolve == ["x=127.0.0.1", "y:1=127.0.0.1:2"] and settings.setup_at == ["AT+A", "AT+B"]

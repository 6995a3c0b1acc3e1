"""Every hard limit refuses with ERROR and loses nothing already stored (docs/ROBUSTNESS.md §Limits).

Why each test snapshots the state before the refusal and compares after: "refuses" is easy to see;
"loses nothing" is what a host cannot see until its TLS connection later fails for a missing file.
"""

from __future__ import annotations

import copy

import pytest

from emulator.core.actions import SendToPeer
from emulator.core.events import LinkOpened
from emulator.runtime.in_memory import InMemoryModule
from emulator.servers.pki import cert_bytes
from tests.robustness.model import check_state

ROOT = cert_bytes("root-ca.pem")
BIG = cert_bytes("big-trust.pem")  # just under 8192 bytes
TOO_BIG = cert_bytes("too-big.pem")  # a valid certificate over 8192 bytes
PROMPT = b"\r\n> "


@pytest.fixture
def m() -> InMemoryModule:
    module = InMemoryModule("NL668_AM_00")
    module.take()
    module.command("ATE0")
    module.command("AT+CMEE=1")
    return module


def upload(m: InMemoryModule, kind: str, data: bytes) -> bytes:
    out = m.send(f'AT+GTSSLFILE="{kind}",{len(data)}\r'.encode())
    if out == PROMPT:
        out += m.send(data)
    return out


def snapshot(m: InMemoryModule) -> object:
    c = m.module.state.certs
    return copy.deepcopy((c.certfile, c.keyfile, list(c.trustfiles), m.module.state.v250, m.module.state.ssl))


def test_forty_trust_files_then_the_41st_is_refused_before_the_prompt(m: InMemoryModule) -> None:
    for i in range(40):
        assert upload(m, "TRUSTFILE", BIG if i % 2 else ROOT) == b"\r\n> \r\nOK\r\n"
    before = snapshot(m)
    assert m.send(f'AT+GTSSLFILE="TRUSTFILE",{len(ROOT)}\r'.encode()) == b"\r\n+CME ERROR: 20\r\n"  # no prompt
    # So the file that follows is command text. Lines without AT are ignored; the BEGIN/END lines hold one
    # ("certificATE", V.250 §5.2.1 hunts for the prefix) and so does a base64 line: each is refused.
    assert m.send(ROOT + b"\r") == b"\r\nERROR\r\n" * 3
    assert snapshot(m) == before
    assert b"TRUSTFILE,40" in m.command("AT+GTSSLFILE?")
    check_state(m.module)


def test_one_certfile_and_one_keyfile(m: InMemoryModule) -> None:
    assert upload(m, "CERTFILE", cert_bytes("client.pem")) == b"\r\n> \r\nOK\r\n"
    assert upload(m, "KEYFILE", cert_bytes("client.key")) == b"\r\n> \r\nOK\r\n"
    before = snapshot(m)
    assert upload(m, "CERTFILE", cert_bytes("client-other-ca.pem")) == b"\r\n+CME ERROR: 20\r\n"
    m.send(b"\r")
    assert upload(m, "KEYFILE", cert_bytes("client-pkcs8.key")) == b"\r\n+CME ERROR: 20\r\n"
    m.send(b"\r")
    assert snapshot(m) == before


@pytest.mark.parametrize(
    ("length", "prompt"), [(3, False), (4, True), (8192, True), (8193, False), (99999999999, False)]
)
def test_file_length_bounds(m: InMemoryModule, length: int, prompt: bool) -> None:
    upload(m, "TRUSTFILE", ROOT)
    before = snapshot(m)
    out = m.send(f'AT+GTSSLFILE="TRUSTFILE",{length}\r'.encode())
    if prompt:
        assert out == PROMPT
        assert m.send(b"x" * length) == b"\r\n+CME ERROR: 50\r\n"  # not a certificate: nothing stored
    else:
        assert out == b"\r\n+CME ERROR: 50\r\n"
    assert snapshot(m) == before


def test_a_valid_certificate_over_8192_bytes_cannot_be_announced(m: InMemoryModule) -> None:
    assert len(TOO_BIG) > 8192
    assert upload(m, "TRUSTFILE", TOO_BIG) == b"\r\n+CME ERROR: 50\r\n"
    assert m.module.state.certs.trustfiles == []
    assert upload(m, "TRUSTFILE", BIG) == b"\r\n> \r\nOK\r\n"  # 8192 and under is fine


def open_links(m: InMemoryModule, ids: range) -> None:
    m.command("AT+MIPCALL=1")
    for link_id in ids:
        m.command(f'AT+MIPOPEN={link_id},,"peer.test",80,0')
        m.event(LinkOpened(link_id=link_id))
    m.links.take()


@pytest.mark.parametrize("link_id", ["0", "7", "65536", "-1", "1a", ""])
def test_socket_ids_outside_1_to_6_are_refused(m: InMemoryModule, link_id: str) -> None:
    open_links(m, range(1, 7))
    links = dict(m.module.state.links)
    assert m.command(f'AT+MIPOPEN={link_id},,"peer.test",80,0') == b"\r\n+CME ERROR: 50\r\n"
    assert m.module.state.links == links


def test_all_six_sockets_busy_then_a_seventh_open_is_refused_and_nothing_changes(m: InMemoryModule) -> None:
    open_links(m, range(1, 7))
    assert m.command("AT+MIPOPEN?") == b"\r\n+MIPOPEN: 0\r\n\r\nOK\r\n"
    assert m.command('AT+MIPOPEN=3,,"other.test",80,0') == b"\r\n+CME ERROR: 3\r\n"
    assert m.module.state.links[3].host == "peer.test"
    assert m.links.take() == []  # the edge was asked for nothing


def test_the_send_buffer_holds_2048_bytes_and_refuses_more_without_losing_any(m: InMemoryModule) -> None:
    open_links(m, range(1, 2))
    m.command("AT+MIPSETS=1,2048")
    # A hex line carries at most ~1000 bytes (the 2048-byte line buffer): two lines fill 2000.
    assert m.command(f'AT+MIPSEND=1,"{"41" * 1000}"') == b"\r\n+MIPSEND: 1,0,1048\r\n\r\nOK\r\n"
    assert m.command(f'AT+MIPSEND=1,"{"41" * 1000}"') == b"\r\n+MIPSEND: 1,0,48\r\n\r\nOK\r\n"
    assert m.command(f'AT+MIPSEND=1,"{"42" * 49}"') == b"\r\n+CME ERROR: 20\r\n"
    assert m.command("AT+MIPSEND=1,49") == b"\r\n+CME ERROR: 50\r\n"  # the length form: no prompt either
    # Exactly full: the 2048 watermark pushes it all at once, and the buffer is free again.
    assert m.command(f'AT+MIPSEND=1,"{"42" * 48}"') == b"\r\n+MIPSEND: 1,0,2048\r\n\r\nOK\r\n"
    assert m.command("AT+MIPPUSH=1") == b"\r\n+MIPPUSH: 1,2\r\n\r\nOK\r\n"
    pushed = b"".join(a.data for a in m.links.take() if isinstance(a, SendToPeer))
    assert pushed == b"A" * 2000 + b"B" * 48


def test_a_length_form_send_over_2048_is_refused_before_the_prompt(m: InMemoryModule) -> None:
    open_links(m, range(1, 2))
    assert m.command("AT+MIPSEND=1,2049") == b"\r\n+CME ERROR: 50\r\n"
    assert m.command("AT+MIPSEND=1,2048") == PROMPT


@pytest.mark.parametrize("size", [2048, 2049, 5000])
def test_line_length(m: InMemoryModule, size: int) -> None:
    """2048 bytes a line; a longer one is dropped to its terminator, answered ERROR, and executes nothing."""
    upload(m, "TRUSTFILE", ROOT)
    before = snapshot(m)
    line = b"AT+GTSSLMODE=1;" + b"+CMEE=2;" * 400
    line = line[:size]
    out = m.send(line + b"\r")
    if size <= 2048:
        assert out.endswith(b"OK\r\n") or out.endswith(b"ERROR\r\n") or b"+CME ERROR" in out
    else:
        assert out == b"\r\nERROR\r\n"
        assert snapshot(m) == before  # +GTSSLMODE=1 at its start did not run
    assert m.command("AT") == b"\r\nOK\r\n"
    assert m.module.state.certs.trustfiles == [ROOT]

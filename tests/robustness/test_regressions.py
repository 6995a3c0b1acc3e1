"""Inputs that once crashed or confused the core, found by hypothesis or the fuzzer: each stays fixed.

Every test runs the module in strict mode (a handler bug raises) and in the lenient production mode
(where a bug would have become ``ERROR`` or, worse, escaped ``receive_from_host`` altogether).
"""

from __future__ import annotations

import pytest

from emulator.core.at_syntax import AtSyntaxError, parse_line
from emulator.runtime.in_memory import InMemoryModule
from tests.robustness.model import check_state


@pytest.fixture(params=[True, False], ids=["strict", "lenient"])
def m(request: pytest.FixtureRequest) -> InMemoryModule:
    module = InMemoryModule("NL668_AM_00", strict=request.param)
    module.take()
    module.command("ATE0")
    return module


# Latin-1 has digits that str.isdigit() accepts and int() refuses: '¹' (B9), '²' (B2), '³' (B3).
@pytest.mark.parametrize("line", [b"ATS\xb2?", b"ATS\xb2=1", b"ATS3=\xb3", b"ATE\xb9", b"AT&W\xb2", b"ATV\xb2"])
def test_a_superscript_digit_in_a_basic_command_is_a_syntax_error(m: InMemoryModule, line: bytes) -> None:
    """Was: ``ValueError`` from ``int('²')`` escaped ``parse_line`` and ``receive_from_host`` (at_syntax._digits)."""
    assert m.send(line + b"\r") == b"\r\nERROR\r\n"
    assert m.command("AT") == b"\r\nOK\r\n"


def test_parse_line_refuses_non_ascii_digits_itself() -> None:
    with pytest.raises(AtSyntaxError):
        parse_line("S\xb2?")


@pytest.mark.parametrize("line", [b"AT+CMEE=\xb9", b'AT+GTSSLFILE="TRUSTFILE",\xb9\xb2\xb3', b"AT+CFUN=\xb9",
                                  b"AT+MIPCLOSE=\xb9", b"AT+GTSSLVER=\xb3"])
def test_a_superscript_digit_in_a_parameter_is_a_bad_parameter(m: InMemoryModule, line: bytes) -> None:
    """Was: ``ValueError`` in params.integer: an exception in strict mode, ``+CME ERROR: 100`` otherwise (not 50)."""
    m.command("AT+CMEE=1")
    assert m.send(line + b"\r") == b"\r\n+CME ERROR: 50\r\n"
    check_state(m.module)


def test_an_lf_after_a_data_block_is_not_taken_for_the_lf_of_the_command_line(m: InMemoryModule) -> None:
    """Was: the reader's "previous byte was CR" survived the data block, so a lone LF after it vanished.

    Found by the exact property test: ``AT+GTSSLFILE=...,n`` CR, the block, then a bare LF: it is an
    (empty, ignored) line of its own, echoed under ATE1. (Only a *first* data byte LF is the CR's pair.)
    """
    m.command("ATE1")
    assert m.send(b'AT+GTSSLFILE="TRUSTFILE",4\r') == b'AT+GTSSLFILE="TRUSTFILE",4\r\r\n> '
    assert m.send(b"abcd") == b"\r\nERROR\r\n"  # not a certificate
    assert m.send(b"\n") == b"\n"  # a line of its own: echoed, and ignored (no AT)


@pytest.mark.parametrize("reset", [True, False])
def test_a_send_block_for_a_socket_the_peer_closed_during_the_entry_is_refused(m: InMemoryModule, reset: bool) -> None:
    """Was: "+MIPSEND: 1,0,2048" and OK, and a SendToPeer for the freed socket: the handler checked the
    state of its own Link object, which keeps OPEN when the table frees it (tcpip._send_set.sent)."""
    from emulator.core.actions import SendToPeer
    from emulator.core.events import LinkOpened, PeerClosed

    m.command("AT+MIPCALL=1")
    m.command('AT+MIPOPEN=1,,"peer.test",80,0')
    m.event(LinkOpened(link_id=1))
    m.command("AT+CMEE=1")
    m.links.take()
    assert m.send(b"AT+MIPSEND=1,4\r") == b"\r\n> "
    m.event(PeerClosed(link_id=1, reset=reset))
    out = m.send(b"data")
    assert out.startswith(b"\r\n+CME ERROR: 3\r\n")
    assert not [a for a in m.links.take() if isinstance(a, SendToPeer)]
    check_state(m.module)


def test_bytes_typed_during_a_network_wait_reach_the_prompt_that_follows(m: InMemoryModule) -> None:
    """Was: ``AT+MIPDNS=...;+MIPSEND=1,3`` CR LF + the block in one write: the bytes after the line were held
    while +MIPDNS waited, and only a *finished* line read them back, so the prompt waited 12 s for a block
    already sent and the LF and block were then read as command text (Module._read_typed_ahead)."""
    from emulator.core.actions import ResolveName, SendToPeer
    from emulator.core.events import LinkOpened, NameResolved

    m.command("AT+MIPCALL=1")
    m.command('AT+MIPOPEN=1,,"peer.test",80,0')
    m.event(LinkOpened(link_id=1))
    m.links.take()
    assert m.send(b'AT+MIPDNS="x.test";+MIPSEND=1,3\r\nabcAT\r\n') == b""  # waiting for the network
    (query,) = [a.query for a in m.links.take() if isinstance(a, ResolveName)]
    out = m.event(NameResolved(query=query, addresses=("127.0.0.1",)))
    assert out == b'\r\n+MIPDNS: "x.test",127.0.0.1\r\n\r\n> \r\n+MIPSEND: 1,0,2048\r\n\r\nOK\r\n\r\nOK\r\n'
    assert [a.data for a in m.links.take() if isinstance(a, SendToPeer)] == [b"abc"]
    check_state(m.module)

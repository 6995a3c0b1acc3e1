"""Data mode (after the '>' prompt) under every way a host can get it wrong; docs/ROBUSTNESS.md §Data mode.

Each case ends in a *defined* state, asserted here: what was stored or sent, what the host saw, and
that the next command line is read as one. The virtual clock stands in for the 12 s of silence.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from emulator.core.actions import SendToPeer
from emulator.core.events import LinkOpened, PeerClosed
from emulator.profiles import load_profile
from emulator.runtime.in_memory import InMemoryModule
from emulator.servers.pki import cert_bytes
from tests.conftest import chunkings
from tests.robustness.model import check_state

ROOT = cert_bytes("root-ca.pem")
ALL_BYTES = bytes(range(256)) * 2  # NUL, CR, LF, Ctrl-Z, ESC, 0xFF...: 512 bytes, all of them data
PROMPT = b"\r\n> "


def fresh(profile: object = "NL668_AM_00") -> InMemoryModule:
    m = InMemoryModule(profile)  # type: ignore[arg-type]
    m.take()
    assert m.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    return m


def open_socket(m: InMemoryModule, link_id: int = 1) -> None:
    m.command("AT+MIPCALL=1")
    m.command(f'AT+MIPOPEN={link_id},,"peer.test",443,0')
    m.links.take()
    assert m.event(LinkOpened(link_id=link_id)) == f"\r\n+MIPOPEN: {link_id},1\r\n".encode()


def sent(m: InMemoryModule) -> bytes:
    return b"".join(a.data for a in m.links.take() if isinstance(a, SendToPeer))


class TestChunking:
    @pytest.mark.parametrize("index", range(5))
    def test_a_file_in_any_chunking_including_across_the_prompt(self, index: int) -> None:
        """Line and file as one stream, cut anywhere: one byte at a time, all at once, straddling the prompt."""
        stream = f'AT+GTSSLFILE="TRUSTFILE",{len(ROOT)}\r'.encode() + ROOT + b"AT+GTSSLFILE?\r"
        chunks = list(chunkings(stream, seed=7))[index]
        m = fresh()
        out = b"".join(m.send(chunk) for chunk in chunks)
        assert out == (b"\r\n> \r\nOK\r\n\r\n+GTSSLFILE: CERTFILE,0\r\n+GTSSLFILE: KEYFILE,0\r\n"
                       b"+GTSSLFILE: TRUSTFILE,1\r\n\r\nOK\r\n")
        assert m.module.state.certs.trustfiles == [ROOT]

    @pytest.mark.parametrize("index", range(5))
    def test_binary_send_block_in_any_chunking(self, index: int) -> None:
        m = fresh()
        open_socket(m)
        stream = b"AT+MIPSEND=1,512\r" + ALL_BYTES + b"AT\r"
        out = b"".join(m.send(chunk) for chunk in list(chunkings(stream, seed=3))[index])
        assert out == b"\r\n> \r\n+MIPSEND: 1,0,2048\r\n\r\nOK\r\n\r\nOK\r\n"
        assert sent(m) == ALL_BYTES


class TestEscapes:
    def test_ctrl_z_esc_nul_and_plus_plus_plus_inside_a_block_are_data(self) -> None:
        """No byte ends a block early: the count does (manual §1.1.4: exactly <file_len> bytes)."""
        m = fresh()
        open_socket(m)
        block = b"\x1a\x1b\x00+++\x1b\x1aAT\r"
        assert m.send(f"AT+MIPSEND=1,{len(block)}\r".encode()) == PROMPT
        assert m.send(block) == b"\r\n+MIPSEND: 1,0,2048\r\n\r\nOK\r\n"
        assert sent(m) == block

    def test_ctrl_z_that_ends_a_pem_file_is_counted_and_tolerated(self) -> None:
        """Hosts written for SMS-style entry end with Ctrl-Z: it is data; the content check forgives it."""
        m = fresh()
        data = ROOT + b"\x1a"
        m.send(f'AT+GTSSLFILE="TRUSTFILE",{len(data)}\r'.encode())
        assert m.send(data) == b"\r\nOK\r\n"
        assert m.module.state.certs.trustfiles == [data]

    def test_nul_bytes_in_a_file_are_kept_or_refused_by_the_profile_check(self) -> None:
        data = b"\x00" * 16
        m = fresh()
        m.send(b'AT+GTSSLFILE="TRUSTFILE",16\r')
        assert m.send(data) == b"\r\nERROR\r\n"  # "parse": not a certificate, nothing stored
        assert m.module.state.certs.trustfiles == []
        base = load_profile("NL668_AM_00")
        lax = replace(base, files=replace(base.files, content_check="none"))
        m = fresh(lax)
        m.send(b'AT+GTSSLFILE="TRUSTFILE",16\r')
        assert m.send(data) == b"\r\nOK\r\n"  # "none" stores anything, byte for byte
        assert m.module.state.certs.trustfiles == [data]


class TestHostStops:
    def test_twelve_seconds_of_silence_mid_file_is_error_and_nothing_stored(self) -> None:
        m = fresh()
        m.command("AT+CMEE=1")
        assert m.send(f'AT+GTSSLFILE="TRUSTFILE",{len(ROOT)}\r'.encode()) == PROMPT
        assert m.send(ROOT[:500]) == b""
        assert m.advance(11.9) == b""
        assert m.send(ROOT[500:600]) == b""  # a byte restarts the 12 s (an inactivity timeout)
        assert m.advance(11.9) == b""
        assert m.advance(0.2) == b"\r\n+CME ERROR: 100\r\n"
        assert m.module.state.certs.trustfiles == []
        assert m.command("AT") == b"\r\nOK\r\n"  # back in line mode
        check_state(m.module)

    def test_silence_right_after_the_prompt(self) -> None:
        m = fresh()
        assert m.send(b'AT+GTSSLFILE="CERTFILE",100\r') == PROMPT
        assert m.advance(12) == b"\r\nERROR\r\n"
        assert m.command("AT+GTSSLFILE?").count(b",0") == 3

    def test_silence_mid_send_block_sends_nothing(self) -> None:
        m = fresh()
        open_socket(m)
        m.send(b"AT+MIPSEND=1,100\r")
        m.send(b"x" * 99)
        assert m.advance(12) == b"\r\nERROR\r\n"
        assert sent(m) == b""
        assert m.module.state.links[1].send_buffer == bytearray()


class TestHostSendsMore:
    def test_the_surplus_is_read_as_command_text(self) -> None:
        """Exactly <len> bytes are the block; what follows is the start of the next command line."""
        m = fresh()
        out = m.send(f'AT+GTSSLFILE="TRUSTFILE",{len(ROOT)}\r'.encode() + ROOT + b"ATI\r")
        assert out.startswith(b"\r\n> \r\nOK\r\n\r\n")  # the file, then ATI's answer
        assert out.endswith(b"\r\nOK\r\n") and out.count(b"OK") == 2
        assert m.module.state.certs.trustfiles == [ROOT]

    def test_junk_surplus_without_at_is_ignored(self) -> None:
        m = fresh()
        out = m.send(f'AT+GTSSLFILE="TRUSTFILE",{len(ROOT)}\r'.encode() + ROOT + b"\r\n\r\ngarbage\x1a\r")
        assert out == b"\r\n> \r\nOK\r\n"  # "garbage" has no AT prefix: ignored (V.250 §5.2.1)
        assert m.command("AT") == b"\r\nOK\r\n"

    def test_a_file_announced_too_short_is_cut_and_refused(self) -> None:
        m = fresh()
        out = m.send(f'AT+GTSSLFILE="TRUSTFILE",{len(ROOT) - 30}\r'.encode() + ROOT)
        # The cut PEM does not load: ERROR. The tail is command text, and "-----END CERTIFICATE-----" holds
        # an AT prefix ("certificATE"): V.250 §5.2.1 ignores what precedes it and "ATE-----" is a syntax error.
        assert out == b"\r\n> \r\nERROR\r\n\r\nERROR\r\n"
        assert m.module.state.certs.trustfiles == []
        assert m.command("AT") == b"\r\nOK\r\n"


class TestLineEndings:
    """The LF of a prompting line's CR LF is the terminator's, never data (issue 11; tests/core/
    test_host_line_endings.py has every prompt command, terminator and chunking)."""

    def test_cr_lf_after_the_command_then_exactly_n_bytes(self) -> None:
        m = fresh()
        open_socket(m)
        assert m.send(b"AT+MIPSEND=1,3\r\n") == PROMPT
        assert m.send(b"abc") == b"\r\n+MIPSEND: 1,0,2048\r\n\r\nOK\r\n"
        assert sent(m) == b"abc"
        assert m.command("AT") == b"\r\nOK\r\n"

    def test_a_pem_file_after_cr_lf_is_stored_exactly(self) -> None:
        m = fresh()
        assert m.send(f'AT+GTSSLFILE="TRUSTFILE",{len(ROOT)}\r\n'.encode()) == PROMPT
        assert m.send(ROOT) == b"\r\nOK\r\n"
        assert m.module.state.certs.trustfiles == [ROOT]

    def test_a_block_that_starts_with_lf_after_a_cr_only_line_is_the_profile_knob(self) -> None:
        """``at.data_after_cr = "lf-is-data"``: the rare host that ends the line with CR alone and sends
        a block starting with LF keeps its LF (and then must not send CR LF)."""
        base = load_profile("NL668_AM_00")
        m = fresh(replace(base, at=replace(base.at, data_after_cr="lf-is-data")))
        open_socket(m)
        assert m.send(b"AT+MIPSEND=1,3\r") == PROMPT
        assert m.send(b"\nab") == b"\r\n+MIPSEND: 1,0,2048\r\n\r\nOK\r\n"
        assert sent(m) == b"\nab"


class TestPeerGoesAway:
    def test_peer_closes_during_the_entry(self) -> None:
        """The block is taken to the end (the host is still typing), then refused; the URC follows the final."""
        m = fresh()
        open_socket(m)
        m.command("AT+CMEE=1")
        assert m.send(b"AT+MIPSEND=1,10\r") == PROMPT
        m.send(b"12345")
        assert m.event(PeerClosed(link_id=1, reset=True)) == b""  # held: not inside the data entry
        assert m.send(b"67890") == b"\r\n+CME ERROR: 3\r\n\r\n+MIPSTAT: 1,1\r\n"
        assert sent(m) == b""
        assert 1 not in m.module.state.links

"""What real host programs send (issue 11, defects 1 and 2), through the whole core (InMemoryModule).

1. The LF of a CR LF-terminated line that opens a ``>`` prompt is the terminator's second half, never
   data, whenever it arrives: in the command's write, on its own, or after the prompt went out. Every
   prompt command (``+MIPSEND=<s>,<len>``, ``+GTSSLFILE`` for the three file types, a prompt after a hex
   ``+MIPSEND`` or after a network wait on the same line, two prompts on one line) is driven with CR, LF
   and CR LF, as one write, byte by byte, split at every position, and the way a careful host does it
   (waiting for the prompt); all must give the same output and the exact block.
2. Characters before ``AT`` are ignored (V.250 §5.2.1): the line runs from its prefix, the echo is what
   was typed; a line with no ``AT`` keeps the ``at.non_at_line`` behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from emulator.core.actions import ResolveName, SendToPeer
from emulator.core.events import LinkOpened, NameResolved
from emulator.core.profile import Profile
from emulator.profiles import load_profile
from emulator.runtime.in_memory import InMemoryModule
from emulator.servers.pki import cert_bytes

PROMPT = b"\r\n> "
OK = b"\r\nOK\r\n"
TERMINATORS = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n"}
ROOT = cert_bytes("root-ca.pem")


def profile(data_after_cr: str = "lf-is-terminator", non_at_line: str = "ignore") -> Profile:
    base = load_profile("NL668_AM_00")
    return replace(base, at=replace(base.at, data_after_cr=data_after_cr, non_at_line=non_at_line))


def fresh(prof: Profile | str = "NL668_AM_00", *, echo: bool = False) -> InMemoryModule:
    m = InMemoryModule(prof)
    m.take()
    if not echo:
        assert m.command("ATE0") == b"ATE0\r" + OK
    m.command("AT+MIPCALL=1")
    m.command('AT+MIPOPEN=1,,"peer.test",80,0')
    m.links.take()
    assert m.event(LinkOpened(link_id=1)) == b"\r\n+MIPOPEN: 1,1\r\n"
    return m


def sent(m: InMemoryModule) -> bytes:
    return b"".join(a.data for a in m.links.take() if isinstance(a, SendToPeer))


def answer_dns(m: InMemoryModule) -> bytes:
    """The edge answers a pending +MIPDNS (the one network wait a line can hold before a prompt)."""
    out = b""
    for action in m.links.take():
        if isinstance(action, ResolveName):
            out += m.event(NameResolved(query=action.query, addresses=("127.0.0.1",)))
        else:
            m.links.actions.append(action)  # kept for sent()
    return out


@dataclass(frozen=True)
class Case:
    """One prompt command: the line, the block(s) the host sends at its prompt(s), what must come of it."""

    name: str
    line: bytes
    blocks: tuple[bytes, ...]
    effect: Callable[[InMemoryModule], object]  # what the module did with the block(s)
    want: object
    waits: bool = False  # the line waits for the network first (+MIPDNS)


def _file(kind: str) -> Callable[[InMemoryModule], object]:
    def stored(m: InMemoryModule) -> object:
        certs = m.module.state.certs
        return {"TRUSTFILE": list(certs.trustfiles), "CERTFILE": certs.certfile, "KEYFILE": certs.keyfile}[kind]

    return stored


def _cases(first: bytes) -> list[Case]:
    """Every prompt command, the send block starting with ``first``."""
    block = first + b"A\rB\nC\r\n\x00\xff"
    client, key = cert_bytes("client.pem"), cert_bytes("client.key")
    return [
        Case("mipsend", b"AT+MIPSEND=1,%d" % len(block), (block,), sent, block),
        Case("hex-then-prompt", b'AT+MIPSEND=1,"4142";+MIPSEND=1,%d' % len(block), (block,), sent, b"AB" + block),
        Case("two-prompts", b"AT+MIPSEND=1,%d;+MIPSEND=1,3" % len(block), (block, b"\nxy"), sent, block + b"\nxy"),
        Case("dns-then-prompt", b'AT+MIPDNS="x.test";+MIPSEND=1,%d' % len(block), (block,), sent, block, waits=True),
        Case("trustfile", b'AT+GTSSLFILE="TRUSTFILE",%d' % len(ROOT), (ROOT,), _file("TRUSTFILE"), [ROOT]),
        Case("certfile", b'AT+GTSSLFILE="CERTFILE",%d' % len(client), (client,), _file("CERTFILE"), client),
        Case("keyfile", b'AT+GTSSLFILE="KEYFILE",%d' % len(key), (key,), _file("KEYFILE"), key),
    ]


# A block may start with CR (data after any terminator), or with LF after an LF- or CR LF-ended line.
# (After a CR-only line a first LF is the terminator's: the rare host that means it as data sets
# at.data_after_cr = "lf-is-data", tested below.)
MATRIX = [(case, term) for term in TERMINATORS for case in _cases(b"\r")] + [
    (case, term) for term in ("LF", "CRLF") for case in _cases(b"\n") if not case.name.endswith("file")
]
IDS = [f"{case.name}-{term}-{ {10: 'lf', 13: 'cr'}.get(case.blocks[0][0], 'pem')}" for case, term in MATRIX]


def careful_host(case: Case, term: bytes, *, echo: bool = False) -> tuple[InMemoryModule, bytes]:
    """The host that waits for each prompt before it sends the block, then sends ``AT``."""
    m = fresh(echo=echo)
    out = m.send(case.line + term)
    if case.waits:
        assert out == (case.line + term[:1] if echo else b"")
        out += answer_dns(m)
    for block in case.blocks:
        assert out.endswith(PROMPT), out
        out += m.send(block)
    out += m.send(b"AT" + term)
    return m, out


@pytest.mark.parametrize(("case", "term"), [(c, TERMINATORS[t]) for c, t in MATRIX], ids=IDS)
def test_waiting_for_the_prompt_the_block_arrives_exact(case: Case, term: bytes) -> None:
    m, out = careful_host(case, term)
    assert case.effect(m) == case.want
    assert out.endswith(OK + OK) and out.count(PROMPT) == len(case.blocks)
    assert b"ERROR" not in out


@pytest.mark.parametrize(("case", "term"), [(c, TERMINATORS[t]) for c, t in MATRIX], ids=IDS)
def test_every_chunking_gives_the_same_output_and_block(case: Case, term: bytes) -> None:
    """One write, byte by byte, and split in two at every position around the line's end and the block's
    start (so the LF lands alone, after the prompt, in the line's write or with the block's first bytes)
    and around the block's end. (Inside a long block data mode does not look at the bytes.)"""
    reference, want_out = careful_host(case, term)
    want = case.effect(reference)
    stream = case.line + term + b"".join(case.blocks) + b"AT" + term
    head, tail = len(case.line) + len(term) + 8, len(stream) - len(case.blocks[-1][-8:]) - 2 - len(term)
    cuts = [i for i in range(1, len(stream)) if i <= head or i >= tail]
    if case.name == "keyfile":  # each run checks an RSA key (~0.1 s): only the cuts around the terminator
        cuts = [i for i in cuts if len(case.line) - 1 <= i <= len(case.line) + len(term) + 2]
    chunkings = [[stream], [stream[i : i + 1] for i in range(len(stream))]]
    chunkings += [[stream[:i], stream[i:]] for i in cuts]
    for chunks in chunkings:
        m = fresh()
        out = b""
        for chunk in chunks:
            out += m.send(chunk)
            if case.waits:
                out += answer_dns(m)
        assert (out, case.effect(m)) == (want_out, want), [len(c) for c in chunks]


@pytest.mark.parametrize("term", ["CR", "LF", "CRLF"])
def test_under_echo_the_line_is_echoed_without_its_lf_and_the_block_not_at_all(term: str) -> None:
    case = _cases(b"\r")[0]
    _, out = careful_host(case, TERMINATORS[term], echo=True)
    typed = case.line + TERMINATORS[term][:1]  # CR LF: the LF is echoed by no one
    assert out.startswith(typed + PROMPT + b"\r\n+MIPSEND: 1,0,")
    assert out.endswith(OK + b"AT" + TERMINATORS[term][:1] + OK)


def test_the_lf_after_the_prompt_is_neither_data_nor_echoed() -> None:
    """The issue's host: CR LF written together, but the serial driver delivers the LF after the prompt."""
    m = fresh(echo=True)
    assert m.send(b"AT+MIPSEND=1,2\r") == b"AT+MIPSEND=1,2\r" + PROMPT
    assert m.send(b"\n") == b""
    assert m.send(b"AB") == b"\r\n+MIPSEND: 1,0,2048\r\n" + OK
    assert sent(m) == b"AB"
    assert m.send(b"AT\r\n") == b"AT\r" + OK  # nothing left over in command mode


def test_a_bare_lf_terminator_starts_the_data_right_after() -> None:
    m = fresh()
    assert m.send(b"AT+MIPSEND=1,3\n") == PROMPT
    assert m.send(b"\n\nx") == b"\r\n+MIPSEND: 1,0,2048\r\n" + OK
    assert sent(m) == b"\n\nx"


def test_only_the_first_byte_is_owed_the_lf() -> None:
    """After a CR-ended line, an LF later in the block (or after it) is data (or a line of its own)."""
    m = fresh(echo=True)
    m.send(b"AT+MIPSEND=1,3\r")
    assert m.send(b"a\nb") == b"\r\n+MIPSEND: 1,0,2048\r\n" + OK
    assert sent(m) == b"a\nb"
    assert m.send(b"\n") == b"\n"  # a bare LF line: echoed, ignored


class TestTimersAndQuiet:
    def test_silence_after_the_swallowed_lf_ends_the_entry_12_s_after_the_prompt(self) -> None:
        """The LF is no data byte: it does not restart the inactivity timer (manual §1.1.4)."""
        m = fresh()
        m.command("AT+CMEE=1")
        assert m.send(b"AT+MIPSEND=1,3\r") == PROMPT
        assert m.advance(6) == b""
        assert m.send(b"\n") == b""
        assert m.advance(5.9) == b""
        assert m.advance(0.2) == b"\r\n+CME ERROR: 100\r\n"
        assert sent(m) == b""
        assert m.send(b"AT\r\n") == OK

    def test_a_partial_block_after_cr_lf_times_out_and_sends_nothing(self) -> None:
        m = fresh()
        assert m.send(b"AT+MIPSEND=1,3\r\nab") == PROMPT
        assert m.advance(11.9) == b""
        assert m.advance(0.2) == b"\r\nERROR\r\n"
        assert sent(m) == b""
        assert m.send(b"AT\r\n") == OK

    def test_an_lf_arriving_after_the_entry_timed_out_is_a_line_of_its_own(self) -> None:
        m = fresh(echo=True)
        assert m.send(b"AT+MIPSEND=1,3\r") == b"AT+MIPSEND=1,3\r" + PROMPT
        assert m.advance(12.1) == b"\r\nERROR\r\n"
        assert m.send(b"\n") == b"\n"  # echoed, no AT: ignored
        assert m.send(b"AT\r") == b"AT\r" + OK

    @pytest.mark.parametrize("term", ["CR", "LF", "CRLF"])
    def test_quiet_mode_shows_the_prompt_and_no_final(self, term: str) -> None:
        m = fresh()
        t = TERMINATORS[term]
        assert m.send(b"ATQ1" + t) == b""
        assert m.send(b"AT+MIPSEND=1,3" + t) == PROMPT
        assert m.send(b"abc") == b"\r\n+MIPSEND: 1,0,2048\r\n"
        assert sent(m) == b"abc"
        assert m.send(b"ATQ0" + t) == OK


class TestTheKnob:
    def test_lf_is_data_keeps_the_first_lf_after_a_cr_only_line(self) -> None:
        m = fresh(profile("lf-is-data"))
        assert m.send(b"AT+MIPSEND=1,3\r") == PROMPT
        assert m.send(b"\nab") == b"\r\n+MIPSEND: 1,0,2048\r\n" + OK
        assert sent(m) == b"\nab"

    def test_lf_is_data_takes_the_lf_of_cr_lf_as_data_too(self) -> None:
        """The knob's price: that host must not end prompting lines with CR LF."""
        m = fresh(profile("lf-is-data"))
        assert m.send(b"AT+MIPSEND=1,2\r\nAB") == PROMPT + b"\r\n+MIPSEND: 1,0,2048\r\n" + OK
        assert sent(m) == b"\nA"

    def test_the_default_and_the_profiles(self) -> None:
        for name in ("NL668_AM_00", "M910", "NL668_EU_00", "NL668_CN_04"):
            assert load_profile(name).at.data_after_cr == "lf-is-terminator"


# --- defect 2: characters before AT -----------------------------------------------------------------

JUNK = {
    "printable": b"x",
    "text": b"hello ",
    "nul": b"\x00",
    "0xff": b"\xff",
    "ctrl-z-esc": b"\x1a\x1b",
    "leftover-data-byte": b"C",
    "binary": bytes(range(0x80, 0x90)),
}


@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
@pytest.mark.parametrize("term", ["CR", "LF", "CRLF"])
def test_junk_before_at_is_ignored_and_the_command_runs(junk: bytes, term: str) -> None:
    t = TERMINATORS[term]
    plain = fresh(echo=True).send(b"AT+CSQ" + t)
    m = fresh(echo=True)
    out = m.send(junk + b"AT+CSQ" + t)
    echoed = junk + b"AT+CSQ" + t[:1]
    assert out == echoed + plain[len(b"AT+CSQ") + 1 :]  # the echo is what was typed; the answer AT+CSQ's
    assert out.endswith(b"+CSQ: 24,99\r\n" + OK)


def test_lower_case_after_junk_and_a_prompt_command_after_junk() -> None:
    m = fresh()
    assert m.send(b"\xffat\r\n") == OK
    assert m.send(b'\x00zzAT+GTSSLFILE="TRUSTFILE",%d\r\n' % len(ROOT)) == PROMPT
    assert m.send(ROOT) == OK
    assert m.module.state.certs.trustfiles == [ROOT]


def test_the_host_sends_one_byte_too_many_and_the_next_command_still_runs() -> None:
    """The classic: a block one byte longer than announced; the extra byte is junk before the next AT."""
    m = fresh()
    assert m.send(b"AT+MIPSEND=1,2\r\nABC") == PROMPT + b"\r\n+MIPSEND: 1,0,2048\r\n" + OK
    assert m.send(b"AT+CSQ\r\n") == b"\r\n+CSQ: 24,99\r\n" + OK
    assert sent(m) == b"AB"


def test_a_repeat_after_junk_runs_the_command_without_its_junk() -> None:
    m = fresh()
    assert m.send(b"xAT+CSQ\r") == b"\r\n+CSQ: 24,99\r\n" + OK
    assert m.send(b"\xffA/") == b"\r\n+CSQ: 24,99\r\n" + OK  # A/ is a prefix too: junk before it ignored
    assert m.send(b"a/") == b"\r\n+CSQ: 24,99\r\n" + OK


def test_a_slash_inside_a_command_is_not_a_repeat() -> None:
    m = fresh()
    m.command("AT+CSQ")
    assert m.send(b'AT+GTSSLFILE="A/"') == b""  # still collecting the line: no repeat of AT+CSQ
    assert m.send(b",5\r") == b"\r\nERROR\r\n"  # the line itself, refused (no such file type)


@pytest.mark.parametrize("non_at_line", ["ignore", "error"])
def test_a_line_with_no_at_keeps_the_profile_behaviour(non_at_line: str) -> None:
    m = fresh(profile(non_at_line=non_at_line))
    want = b"" if non_at_line == "ignore" else b"\r\nERROR\r\n"
    for line in (b"hello\r", b"xAt\r", b"\xff\x00\r", b"C\r\n"):  # "At" after junk is no V.250 prefix
        assert m.send(line) == want, line
    assert m.send(b"xAT\r") == OK  # junk + AT runs, under either knob


def test_mixed_case_prefix_at_the_start_still_runs() -> None:
    m = fresh()
    assert m.send(b"\x00 aT\r") == OK


def test_junk_under_quiet_mode_and_an_overlong_junk_line() -> None:
    m = fresh()
    assert m.send(b"xATQ1\r") == b""
    assert m.send(b"\xffATQ0\r") == OK
    assert m.send(b"\xff" * 3000 + b"AT\r") == b"\r\nERROR\r\n"  # over the line buffer: one ERROR
    assert m.send(b"AT\r") == OK


@pytest.mark.parametrize("term", ["CR", "LF", "CRLF"])
def test_the_hex_form_opens_no_prompt_and_its_lf_is_the_terminators(term: str) -> None:
    m = fresh(echo=True)
    t = TERMINATORS[term]
    out = m.send(b'AT+MIPSEND=1,"0a41"' + t + b"AT" + t)
    assert out == b'AT+MIPSEND=1,"0a41"' + t[:1] + b"\r\n+MIPSEND: 1,0,2046\r\n" + OK + b"AT" + t[:1] + OK
    assert m.module.state.links[1].send_buffer == b"\nA"  # buffered until the push timer or +MIPPUSH

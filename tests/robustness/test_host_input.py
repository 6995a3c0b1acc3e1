"""Property-based tests of the reader + parser + module against any host input (hypothesis).

THE INVARIANT (what "every complete command line gets exactly one final result code" means here):

* A *complete command line* is what the reader frames in line mode: bytes up to S3 (CR), a bare
  S4 (LF), or ``A/`` (which repeats the last line). The LF of CR LF is not a second line.
* It gets exactly ONE final result code (``OK``, ``ERROR``, ``+CME ERROR: x``; ``0``/``4`` under ``ATV0``)
  if it has an ``AT`` prefix (V.250 §5.2.1: what comes before it is ignored; at the start, after blanks and
  NULs, any case, after other junk ``AT`` or ``at``), if it is ``A/`` (junk before it ignored too), or if it
  is longer than ``at.line_max`` (answered ``ERROR`` whatever it holds); a line without ``AT`` gets NONE
  (V.250 §5.2.1, profile ``at.non_at_line = "ignore"`` on every variant).
* The final may come later than the line: after the data block of a ``>`` prompt (or the 12 s
  inactivity timeout), or after the edge answers ``+MIPDNS``. Bytes during a data entry are data, not
  lines; the final of the suspended line still comes exactly once.
* ``ATQ1`` suppresses the final on the wire (the count is then zero on the wire and the line is still
  answered in every other respect); a reset (``AT+CFUN=1,1``) answers ``OK`` and then the module hears
  nothing for ``boot.reboot_s``: bytes sent meanwhile are no lines at all.

The exact test generates lines from a grammar (real commands, mutated commands, junk) and keeps the
framing characters out of them (no CR/LF/BS inside a line, no ``ATS3=``/``S4``/``S5`` changes, no reset),
so the test knows where every line ends; everything else (echo, ``ATV0``, ``ATQ1``, ``ATZ``, ``AT&F``,
``+CMEE``, prompts, data blocks, time-outs) is in play and modelled. The arbitrary-bytes test lifts
every restriction and checks what must hold anyway: nothing escapes (strict mode), the state
invariants hold, and afterwards the module answers ``AT`` with ``OK``.

Then the same input, cut into random chunks (one byte at a time, all at once, split across a prompt),
must give byte-identical output: the reader's framing does not depend on how the serial driver cut it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from emulator.core.at_syntax import AtSyntaxError, Form, parse_line
from emulator.runtime.in_memory import InMemoryModule
from emulator.servers.pki import cert_bytes
from tests.robustness.model import PAST_DATA_TIMEOUT, Edge, at_spelling, check_state, count_finals

def blob(max_size: int) -> st.SearchStrategy[bytes]:
    """Bytes drawn as integers: hypothesis keys its cache on choice tuples, and b"" == 0 there under ``-bb``
    (equal hashes, then a bytes/int comparison) raises BytesWarning inside hypothesis while shrinking."""
    return st.lists(st.integers(0, 255), max_size=max_size).map(bytes)


PROFILES = ["NL668_AM_00", "M910", "NL668_EU_00"]
FILES = {name: cert_bytes(name) for name in ("root-ca.pem", "client.pem", "client.key", "client-pkcs8.key")}
PROMPT = b"\r\n> "
LINE_MAX = 2048  # every profile's at.line_max

SIMPLE = [
    "", "E0", "E1", "V0", "V1", "Q0", "Q1", "Z", "&F", "&W", "I", "+CMEE=0", "+CMEE=1", "+CMEE=2", "+CMEE?",
    "+GTSSLVER=4", "+GTSSLVER=1", "+GTSSLVER?", "+GTSSLVER=?", "+GTSSLMODE=1", "+GTSSLMODE=0", "+GTSSLMODE?",
    "+GTSSLCIPHER=255,1", "+GTSSLCIPHER=0,0", "+GTSSLCIPHER=12,1", "+GTSSLCIPHER?", "+GTSSLERR?", "+GTSSLERR",
    "+GTSSLFILE?", "+GTSSLFILE=?", "+MIPCALL=1", "+MIPCALL=0", "+MIPCALL?", "+MIPOPEN?", "+MIPOPEN=?",
    "+MIPCLOSE?", "+MIPSEND?", '+GTSET="IPRFMT",5', '+GTSET="IPRFMT",0', '+GTSET="IPRFMT",1', "+GTSET?",
    '+MIPDNS="x.example.test"', "+CFUN=0", "+CFUN=1", "+CFUN=4", "+CFUN?", "+CSQ", "+CCLK?",
    '+CCLK="19/07/01,08:00:00+00"', '+CCLK="99/13/45,25:61:61+99"', "+CGDCONT?", "S3?", "S4?", "S5=?",
    "+CGMI", "+CGSN", "+CIMI", "+CCID", "+CPIN?", "+COPS?", "+IPR?", "+NOPE", "+GTSSLFILE", "=", ";;", "+",
]


@st.composite
def command(draw: st.DrawFn) -> str:
    """One command (without the AT prefix), real or nearly real."""
    kind = draw(st.integers(0, 5))
    s = draw(st.integers(0, 7))
    if kind == 0:
        name = draw(st.sampled_from(["TRUSTFILE", "CERTFILE", "KEYFILE", " certfile ", "OTHER"]))
        size = draw(st.one_of(st.sampled_from([len(f) for f in FILES.values()]), st.integers(0, 9000)))
        return f'+GTSSLFILE="{name}",{size}'
    if kind == 1:
        host = draw(st.sampled_from(["h.test", "/etc/passwd", "", "127.0.0.1"]))
        return f'+MIPOPEN={s},,"{host}",{draw(st.integers(0, 70000))},{draw(st.integers(0, 3))}'
    if kind == 2:
        return draw(st.sampled_from([f"+MIPCLOSE={s}", f'+MIPSEND={s},"41424344"', f"+MIPSEND={s},"
                                     f"{draw(st.integers(0, 3000))}", f"+MIPPUSH={s}", f"+MIPREAD={s},100",
                                     f"+MIPSETS={s},10,100", f'+MIPSEND={s},"4"']))
    return draw(st.sampled_from(SIMPLE))


def _framing_change_or_reset(body: str) -> bool:
    """Calls the exact test keeps out: they move the line terminator or reset the module."""
    try:
        calls = parse_line(body)
    except (AtSyntaxError, ValueError):
        return False
    for call in calls:
        if call.name in ("S3", "S4", "S5") and call.form is Form.SET:
            return True
        if call.name == "+CFUN" and call.form is Form.SET:
            texts = [p.text.strip() if p else "" for p in call.params]
            if texts[:1] == ["15"] or texts[1:2] == ["1"]:
                return True
    return False


_PREFIX_AT_START = re.compile(rb"[ \t\0]*[Aa][Tt]")
_PREFIX_AFTER_JUNK = re.compile(rb"AT|at")


def command_body(line: bytes) -> str | None:
    """What follows the line's ``AT`` prefix, or None: the model of V.250 §5.2.1's "ignored" junk."""
    found = _PREFIX_AT_START.match(line) or _PREFIX_AFTER_JUNK.search(line)
    return None if found is None else line[found.end() :].decode("latin-1")


def _is_a_slash(line: bytes) -> bool:
    """Whether typing ``line`` would trigger ``A/`` somewhere (the reader repeats at the ``/``): an ``A``
    (blanks after it allowed) with no ``AT`` prefix before it, then ``/``."""
    for i, byte in enumerate(line):
        before = line[:i].rstrip(b" \t\0")
        if byte == 0x2F and before[-1:] in (b"A", b"a") and command_body(before[:-1]) is None:
            return True
    return False


@st.composite
def host_line(draw: st.DrawFn) -> bytes:
    """One command line without its terminator: commands joined by ';', mutated, or junk."""
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        body = ";".join(draw(st.lists(command(), min_size=1, max_size=3)))
        line = (draw(st.sampled_from(["AT", "at", "aT", " \0AT"])) + body).encode("latin-1")
    elif kind == 6:  # a command with random bytes spliced in
        base = ("AT" + draw(command())).encode("latin-1")
        at = draw(st.integers(0, len(base)))
        line = base[:at] + draw(blob(8)) + base[at:]
    elif kind == 7:
        line = draw(blob(40))
    elif kind == 8:  # around the line buffer's limit
        line = b"AT" + b"E" * draw(st.integers(LINE_MAX - 4, LINE_MAX + 4))
    else:
        line = b"A/"
    if line == b"A/":
        return line
    line = bytes(b for b in line if b not in (13, 10, 8))  # no terminator or backspace inside a line
    body = command_body(line)
    if _is_a_slash(line) or (body is not None and _framing_change_or_reset(body)):
        return b"AT+NOPE"  # (replaced, not filtered out: hypothesis keeps the rest of the example)
    return line


def expected_finals(line: bytes) -> int:
    """How many finals the invariant promises ``line`` (before ATQ1 is taken into account)."""
    if line == b"A/":
        return 1
    if len(line) > LINE_MAX:
        return 1
    return 0 if command_body(line) is None else 1


def data_calls(line: bytes) -> list[int]:
    """The announced lengths of the calls on ``line`` that can open a '>' prompt, in order."""
    body = command_body(line)
    if body is None:
        return []
    try:
        calls = parse_line(body)
    except AtSyntaxError:
        return []
    lengths = []
    for call in calls:
        if call.form is Form.SET and call.name in ("+GTSSLFILE", "+MIPSEND") and len(call.params) == 2:
            param = call.params[1]
            if param is not None and not param.quoted and param.text.strip().isascii() and param.text.strip().isdigit():
                lengths.append(int(param.text.strip()))
    return lengths


Step = tuple[str, bytes | float]  # ("send", bytes) | ("answer", b"") | ("advance", seconds)


@dataclass
class Session:
    """One interactive run: the steps taken and the whole output, for the chunking replay."""

    steps: list[Step] = field(default_factory=list)
    output: bytearray = field(default_factory=bytearray)
    complete_payloads: set[bytes] = field(default_factory=set)


def run_lines(profile: str, lines: list[tuple[bytes, bytes]], data: st.DataObject) -> Session:
    """Send ``lines`` (with their terminators) one by one, modelling each answer; return the session."""
    m = InMemoryModule(profile)
    session = Session()
    session.output += m.take()
    edge = Edge(m, choose=lambda n: data.draw(st.integers(0, n - 1)))

    def send(chunk: bytes) -> bytes:
        session.steps.append(("send", chunk))
        out = m.send(chunk)
        session.output += out
        return out

    def answer() -> bytes:
        before = len(edge.answered)
        out = edge.answer()
        if len(edge.answered) != before:
            session.steps.append(("answer", b""))
        session.output += out
        return out

    def advance(seconds: float) -> bytes:
        session.steps.append(("advance", seconds))
        out = m.advance(seconds)
        session.output += out
        return out

    last = b""
    after_cr = False  # the reader's memory: an LF right after a line-ending CR is that line's (swallowed)
    for line, terminator in lines:
        echo = m.module.state.v250.echo
        typed = line if line == b"A/" else line + terminator
        swallowed = after_cr and typed.startswith(b"\n")
        after_cr = typed.endswith(b"\r")
        out = bytearray(send(typed))
        out += answer()
        # With CR LF, the LF after the CR is the terminator's (swallowed even when it lands in data mode):
        # the host sends every block in full after it (docs/ROBUSTNESS.md).
        # Where the output of the latest step starts: a prompt counts only if it came after the
        # last data sent (under ATQ1 a timed-out entry ends silently, leaving the old prompt last).
        since = 0
        for length in data_calls(line if line != b"A/" else last):
            if not bytes(out[since:]).endswith(PROMPT):
                break
            event("a '>' prompt")
            since = len(out)
            source = data.draw(st.sampled_from([*FILES.values(), b"\x00\x1a\x1b\r\n+++AT\r\n\xff" * 3]))
            body = (source * (length // max(1, len(source)) + 1))[:length]
            if data.draw(st.booleans(), label="send it all"):
                session.complete_payloads.add(body)
                out += send(body)
            else:  # the host stops mid-block: the 12 s inactivity timeout ends the entry
                out += send(body[: data.draw(st.integers(0, len(body) - 1))])
                out += advance(PAST_DATA_TIMEOUT)
            out += answer()
        if line != b"A/" and command_body(line) is not None and len(line) <= LINE_MAX:
            last = line
        if PROMPT in out:  # a data entry ends the reader's memory of the CR
            after_cr = False
        visible = typed[1:] if swallowed else typed
        echoed = (visible[:-1] if terminator == b"\r\n" and line != b"A/" else visible) if echo else b""
        assert bytes(out).startswith(echoed), (line, bytes(out[:80]))
        rest = bytes(out[len(echoed):])
        after = m.module.state.v250
        want = 0 if after.quiet or not visible else expected_finals(line)
        assert count_finals(rest, after) == want, (line, rest[-200:])
        event(f"finals on a line: {want}, V{int(after.verbose)}, E{int(echo)}")
        check_state(m.module, session.complete_payloads)
    # Afterwards the module still answers AT with OK (in the framing now in force).
    settings_now = m.module.state.v250
    out = send(b"AT\r")
    assert out == (b"AT\r" if settings_now.echo else b"") + settings_now.ok()
    assert send(b"ATE0Q0V1\r").endswith(b"\r\nOK\r\n")
    assert send(b"AT\r") == b"\r\nOK\r\n"
    return session


def replay(profile: str, steps: list[Step], cuts: st.DataObject) -> bytes:
    """The same session with every stretch of host bytes cut into random chunks (and prompts straddled)."""
    merged: list[Step] = []
    for kind, value in steps:  # adjacent sends become one, so chunks straddle the prompt
        if kind == "send" and merged and merged[-1][0] == "send":
            merged[-1] = ("send", bytes(merged[-1][1]) + bytes(value))  # type: ignore[arg-type]
        else:
            merged.append((kind, value))
    m = InMemoryModule(profile)
    out = bytearray(m.take())
    edge = Edge(m, choose=lambda n: 0)
    for kind, value in merged:
        if kind == "send":
            data = bytes(value)  # type: ignore[arg-type]
            mode = cuts.draw(st.sampled_from(["whole", "bytes", "random"]), label="chunking")
            if mode == "whole" or len(data) < 2:
                pieces = [data]
            elif mode == "bytes" and len(data) <= 4096:
                pieces = [data[i : i + 1] for i in range(len(data))]
            else:
                points = sorted(set(cuts.draw(st.lists(st.integers(1, len(data) - 1), max_size=8), label="cuts")))
                bounds = [0, *points, len(data)]
                pieces = [data[a:b] for a, b in zip(bounds, bounds[1:])]
            for piece in pieces:
                out += m.send(piece)
        elif kind == "answer":
            out += edge.answer()
        else:
            out += m.advance(float(value))  # type: ignore[arg-type]
    return bytes(out)


terminators = st.sampled_from([b"\r", b"\r\n", b"\n"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(profile=st.sampled_from(PROFILES), lines=st.lists(st.tuples(host_line(), terminators), max_size=12),
       data=st.data())
def test_every_command_line_gets_exactly_one_final_result_code(
    profile: str, lines: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    run_lines(profile, lines, data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(profile=st.sampled_from(PROFILES), lines=st.lists(st.tuples(host_line(), terminators), max_size=8),
       data=st.data())
def test_output_does_not_depend_on_chunking(
    profile: str, lines: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    # The edge's answers are replayed in order; the scripted choices are fixed to "succeed" for both runs.
    session = Session()
    m = InMemoryModule(profile)
    edge = Edge(m, choose=lambda n: 0)
    session.output += m.take()
    for line, terminator in lines:
        session.steps.append(("send", line if line == b"A/" else line + terminator))
        session.output += m.send(bytes(session.steps[-1][1]))  # type: ignore[arg-type]
        before = len(edge.answered)
        session.output += edge.answer()
        if len(edge.answered) != before:
            session.steps.append(("answer", b""))
        for length in data_calls(line):
            if not session.output.endswith(PROMPT):
                break
            payload = (FILES["root-ca.pem"] * (length // len(FILES["root-ca.pem"]) + 1))[:length]
            session.steps.append(("send", payload))
            session.output += m.send(payload)
            before = len(edge.answered)
            session.output += edge.answer()
            if len(edge.answered) != before:
                session.steps.append(("answer", b""))
    assert replay(profile, session.steps, data) == bytes(session.output)


# --- any bytes at all ------------------------------------------------------------------------------------


def recover(m: InMemoryModule, edge: Edge) -> None:
    """Bring the module back to line mode however the bytes left it, then check it answers AT."""
    for _ in range(4):  # a pending line may open a prompt or a wait once more; each round ends one
        edge.settle()
        s3 = m.module.state.v250.s3
        m.send(bytes([s3]))  # ends a partial line (whatever S3 is now)
    edge.settle()
    check_state(m.module)
    v = m.module.state.v250
    at = at_spelling(v)
    if at is None:  # the host made AT untypable: only a power cycle gets it back (checked elsewhere)
        return
    out = m.send(at + bytes([v.s3]))
    assert out == (at + bytes([v.s3]) if v.echo else b"") + v.ok(), out


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=st.sampled_from(PROFILES), data=blob(600), cuts=st.data())
def test_any_bytes_in_any_chunking(profile: str, data: bytes, cuts: st.DataObject) -> None:
    m = InMemoryModule(profile)
    m.take()
    edge = Edge(m, choose=lambda n: cuts.draw(st.integers(0, n - 1)))
    points = sorted(set(cuts.draw(st.lists(st.integers(0, len(data)), max_size=10))))
    bounds = [0, *points, len(data)]
    for a, b in zip(bounds, bounds[1:]):
        m.send(data[a:b])
        edge.answer()
        check_state(m.module)
    recover(m, edge)


AT_ALPHABET = st.sampled_from(
    [b"AT", b"at", b"\r", b"\n", b"\r\n", b"\x08", b"A/", b";", b"+", b"=", b"?", b",", b'"', b"0", b"1", b"2",
     b"5", b"15", b"4096", b"S3=", b"S3=65", b"S4=0", b"S5=13", b"E0", b"V0", b"Q1", b"Z", b"&F", b"+CFUN=1,1",
     b"+GTSSLFILE=\"TRUSTFILE\",5", b"+MIPCALL=1", b'+MIPOPEN=1,,"h",1,2', b"+MIPSEND=1,3", b"+MIPDNS=\"x\"",
     b"\x00", b"\xb2", b"\xff", b"\x1a", b"\x1b", b" "]
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=st.sampled_from(PROFILES), tokens=st.lists(AT_ALPHABET, max_size=60), cuts=st.data())
def test_at_shaped_noise_including_framing_changes(profile: str, tokens: list[bytes], cuts: st.DataObject) -> None:
    """Like the arbitrary bytes, from AT-shaped tokens: S3/S4/S5 changes, resets, prompts, A/ all reachable."""
    m = InMemoryModule(profile)
    m.take()
    edge = Edge(m, choose=lambda n: cuts.draw(st.integers(0, n - 1)))
    for token in tokens:
        m.send(token)
        if cuts.draw(st.integers(0, 7)) == 0:
            edge.answer()
            m.advance(cuts.draw(st.sampled_from([0.1, 0.6, PAST_DATA_TIMEOUT])))
        check_state(m.module)
    recover(m, edge)

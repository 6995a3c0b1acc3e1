"""The reader frames lines and data blocks the same way whatever the chunking."""

from __future__ import annotations

import pytest

from emulator.core.at_reader import AtReader, DataReceived, LineOverflow, LineReceived, RepeatLast, Typed
from emulator.core.at_replies import V250Settings
from tests.conftest import chunkings


def frame(
    chunks: list[bytes],
    *,
    line_max: int = 64,
    data_after: dict[bytes, int] | None = None,
    lf_is_terminator: bool = True,
) -> list[object]:
    """Feed chunks; merge Typed and DataReceived runs so chunkings compare equal."""
    reader = AtReader(V250Settings(), line_max, lf_is_terminator=lf_is_terminator)
    out: list[object] = []
    for chunk in chunks:
        for event in reader.feed(chunk):
            if isinstance(event, LineReceived) and data_after and event.text in data_after:
                reader.expect_data(data_after[event.text])
            if isinstance(event, Typed) and out and isinstance(out[-1], Typed):
                out[-1] = Typed(out[-1].data + event.data)
            elif isinstance(event, DataReceived) and out and isinstance(out[-1], DataReceived):
                out[-1] = DataReceived(out[-1].data + event.data, event.last)
            else:
                out.append(event)
    return [e for e in out if not (isinstance(e, Typed) and not e.data)]


VECTORS = [
    (b"AT\r", [Typed(b"AT\r"), LineReceived(b"AT")]),
    (b"AT\r\n", [Typed(b"AT\r"), LineReceived(b"AT")]),
    (b"AT\n", [Typed(b"AT\n"), LineReceived(b"AT")]),
    (b"AT\r\nATI\r\n", [Typed(b"AT\r"), LineReceived(b"AT"), Typed(b"ATI\r"), LineReceived(b"ATI")]),
    (b"AT\r\n\n", [Typed(b"AT\r"), LineReceived(b"AT"), Typed(b"\n"), LineReceived(b"")]),
    (b"ATX\x08I\r", [Typed(b"ATX\x08I\r"), LineReceived(b"ATI")]),
    (b"\x08\x08AT\r", [Typed(b"\x08\x08AT\r"), LineReceived(b"AT")]),
    (b"A/", [Typed(b"A/"), RepeatLast()]),
    (b"a/", [Typed(b"a/"), RepeatLast()]),
    (b"\r\r", [Typed(b"\r"), LineReceived(b""), Typed(b"\r"), LineReceived(b"")]),
    (b"AT/\r", [Typed(b"AT/\r"), LineReceived(b"AT/")]),
    # V.250 §5.2.1: what precedes the prefix is ignored (reported from the prefix on, echoed as typed).
    (b"xAT+CSQ\r", [Typed(b"xAT+CSQ\r"), LineReceived(b"AT+CSQ")]),
    (b"\xff\x00at+csq\n", [Typed(b"\xff\x00at+csq\n"), LineReceived(b"at+csq")]),
    (b"\x00 aT\r", [Typed(b"\x00 aT\r"), LineReceived(b"aT")]),  # any case at the start, as before
    (b"xAt\r", [Typed(b"xAt\r"), LineReceived(b"xAt")]),  # after junk only AT/at: no prefix, passed whole
    (b"hello\r", [Typed(b"hello\r"), LineReceived(b"hello")]),
    (b"xA/", [Typed(b"xA/"), RepeatLast()]),  # A/ after junk is a prefix too
    (b"\xffa /", [Typed(b"\xffa /"), RepeatLast()]),
    (b'AT+X="A/"\r', [Typed(b'AT+X="A/"\r'), LineReceived(b'AT+X="A/"')]),  # inside a command: text
    (b"ATA/\r", [Typed(b"ATA/\r"), LineReceived(b"ATA/")]),
]


@pytest.mark.parametrize(("data", "expected"), VECTORS)
def test_lines_at_every_chunking(data: bytes, expected: list[object]) -> None:
    for chunks in chunkings(data):
        assert frame(chunks) == expected, chunks


def test_overlong_line_is_dropped_up_to_its_terminator() -> None:
    data = b"AT" + b"X" * 100 + b"\rAT\r"
    for chunks in chunkings(data):
        events = [e for e in frame(chunks, line_max=64) if not isinstance(e, Typed)]
        assert events == [LineOverflow(), LineReceived(b"AT")]


def test_line_of_exactly_the_limit_is_kept() -> None:
    data = b"A" * 64 + b"\r"
    assert [e for e in frame([data], line_max=64) if not isinstance(e, Typed)] == [LineReceived(b"A" * 64)]


def test_data_block_takes_exactly_its_length_including_cr_lf() -> None:
    block = b"-----\r\n\x00\xff\r"
    data = b"AT+X\r" + block + b"AT\r"
    for chunks in chunkings(data):
        events = frame(chunks, data_after={b"AT+X": len(block)})
        assert events == [
            Typed(b"AT+X\r"),
            LineReceived(b"AT+X"),
            DataReceived(block, True),
            Typed(b"AT\r"),
            LineReceived(b"AT"),
        ], chunks


def test_changed_s3_takes_effect_on_the_next_byte() -> None:
    settings = V250Settings()
    reader = AtReader(settings, 64)
    events = []
    for event in reader.feed(b"ATS3=35\rAT#"):
        events.append(event)
        if isinstance(event, LineReceived):
            settings.s3 = 35
    assert [e for e in events if isinstance(e, LineReceived)] == [LineReceived(b"ATS3=35"), LineReceived(b"AT")]


def test_abandoned_data_returns_to_line_mode() -> None:
    reader = AtReader(V250Settings(), 64)
    list(reader.feed(b"AT\r"))
    reader.expect_data(10)
    assert list(reader.feed(b"abc")) == [DataReceived(b"abc", False)]
    reader.abandon_data()
    assert [e for e in reader.feed(b"AT\r") if isinstance(e, LineReceived)] == [LineReceived(b"AT")]


# --- the LF of a prompting line's CR LF (issue 11) ----------------------------------------------------

BLOCK = b"\n-\r\n"  # starts with LF: only a terminator's LF may be taken from it


@pytest.mark.parametrize(
    ("terminator", "block"),
    [(b"\r\n", BLOCK), (b"\n", BLOCK), (b"\r", b"-\r\n\n"), (b"\r\n", b"\r\n"), (b"\r", b"\r\n")],
)
def test_the_lf_completing_a_cr_before_a_block_is_the_terminators_at_every_chunking(
    terminator: bytes, block: bytes
) -> None:
    data = b"AT+X" + terminator + block + b"AT\r\n"
    for chunks in chunkings(data):
        assert frame(chunks, data_after={b"AT+X": len(block)}) == [
            Typed(b"AT+X" + terminator[:1]),
            LineReceived(b"AT+X"),
            DataReceived(block, True),
            Typed(b"AT\r"),
            LineReceived(b"AT"),
        ], chunks


def test_the_lf_after_the_prompt_is_swallowed_and_reported_as_nothing() -> None:
    reader = AtReader(V250Settings(), 64)
    assert [e for e in reader.feed(b"AT+X\r") if isinstance(e, LineReceived)] == [LineReceived(b"AT+X")]
    reader.expect_data(2)
    assert list(reader.feed(b"\n")) == []
    assert reader.in_data_mode
    assert list(reader.feed(b"\nA")) == [DataReceived(b"\nA", True)]  # a second LF is data


def test_lf_is_data_keeps_the_lf() -> None:
    data = b"AT+X\r\nAB"
    for chunks in chunkings(data):
        events = frame(chunks, data_after={b"AT+X": 3}, lf_is_terminator=False)
        assert events == [Typed(b"AT+X\r"), LineReceived(b"AT+X"), DataReceived(b"\nAB", True)], chunks


def test_a_second_block_on_the_same_line_owes_nothing() -> None:
    reader = AtReader(V250Settings(), 64)
    list(reader.feed(b"AT+X\r"))
    reader.expect_data(1)
    assert list(reader.feed(b"a")) == [DataReceived(b"a", True)]
    reader.expect_data(2)  # the line's next command opens another prompt
    assert list(reader.feed(b"\nb")) == [DataReceived(b"\nb", True)]


def test_an_abandoned_entry_forgets_the_owed_lf() -> None:
    reader = AtReader(V250Settings(), 64)
    list(reader.feed(b"AT+X\r"))
    reader.expect_data(3)
    reader.abandon_data()
    assert list(reader.feed(b"\n")) == [Typed(b"\n"), LineReceived(b"")]  # a line of its own

"""The reader frames lines and data blocks the same way whatever the chunking."""

from __future__ import annotations

import pytest

from emulator.core.at_reader import AtReader, DataReceived, LineOverflow, LineReceived, RepeatLast, Typed
from emulator.core.at_replies import V250Settings
from tests.conftest import chunkings


def frame(chunks: list[bytes], *, line_max: int = 64, data_after: dict[bytes, int] | None = None) -> list[object]:
    """Feed chunks; merge Typed and DataReceived runs so chunkings compare equal."""
    reader = AtReader(V250Settings(), line_max)
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

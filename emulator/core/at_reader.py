"""Host bytes -> command lines and data blocks (V.250 §5.2, manual §1.1.4).

Theory of operation: the reader is in one of two modes.

* **Line mode.** Bytes accumulate until the line terminator S3 (CR). A bare LF
  (S4) also ends a line, as many hosts send ``\\n`` alone; the LF of a CR LF
  pair is swallowed (not echoed either: chosen, so a host sending CR LF sees no
  stray LF after the result code). S5 (backspace) removes the last byte typed. ``A/`` at the
  start of a line repeats the previous command line at once, without a
  terminator (V.250 §5.2.4). A line longer than the buffer is discarded up to
  its terminator and reported as :class:`LineOverflow`.
* **Data mode** (after a ``>`` prompt): exactly ``n`` bytes are taken as they
  come, CR and LF included; nothing terminates the block early.

The reader only frames; it echoes nothing and knows no commands. Every byte it
consumed in line mode is reported (:class:`Typed`) so the module can echo it in
order with the replies the line causes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from .at_replies import V250Settings


@dataclass(frozen=True, slots=True)
class Typed:
    """Bytes consumed in line mode (what an ``E1`` module echoes)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class LineReceived:
    """A complete command line, terminator and edits already applied."""

    text: bytes


@dataclass(frozen=True, slots=True)
class RepeatLast:
    """The host typed ``A/``."""


@dataclass(frozen=True, slots=True)
class LineOverflow:
    """A line exceeded the buffer and was thrown away."""


@dataclass(frozen=True, slots=True)
class DataReceived:
    """Bytes of the block being collected in data mode (``last`` is true on the final chunk)."""

    data: bytes
    last: bool


ReaderEvent = Typed | LineReceived | RepeatLast | LineOverflow | DataReceived


@lru_cache(maxsize=32)
def _specials(s3: int, s4: int, s5: int) -> re.Pattern[bytes]:
    """The bytes the line loop must look at one by one: S3, S4, S5 and ``/`` (of ``A/``).

    Every other byte is plain line content, so a run of them is taken in one slice
    (a command line costs one regex search, not a Python step per byte). Cached per
    S3/S4/S5, which ``ATS3=``... can change between lines.
    """
    return re.compile(b"[" + b"".join(re.escape(bytes((c,))) for c in {s3, s4, s5, 0x2F}) + b"]")


class AtReader:
    """Frames the host's byte stream. See the module docstring."""

    def __init__(self, settings: V250Settings, line_max: int) -> None:
        self.settings = settings  # shared with the module: ATS3=... takes effect on the next byte
        self.line_max = line_max
        self._line = bytearray()
        self._overflow = False
        self._after_cr = False  # the previous byte ended a line with S3: an S4 now is its pair
        self._data_left = 0
        self.resume_at = 0  #: see :meth:`feed`

    @property
    def in_data_mode(self) -> bool:
        return self._data_left > 0

    def expect_data(self, length: int) -> None:
        """Switch to data mode for the next ``length`` bytes."""
        if length <= 0:
            raise ValueError("a data block has at least one byte")
        self._data_left = length
        self._after_cr = False  # an LF after the block (or after a timed-out entry) is a line of its own

    def abandon_data(self) -> None:
        """Leave data mode without the rest of the block (the entry timed out)."""
        self._data_left = 0

    def reset(self) -> None:
        """Forget any partial line and data block (a power cycle)."""
        self._line.clear()
        self._overflow = False
        self._after_cr = False
        self._data_left = 0

    def feed(self, data: bytes) -> Iterator[ReaderEvent]:
        """Consume ``data`` and yield what it completes, in order.

        The consumer may call :meth:`expect_data` while handling a
        :class:`LineReceived`; the rest of ``data`` is then read in data mode.
        It may also stop iterating after any event: :attr:`resume_at` is then
        where the bytes not yet consumed begin.
        """
        pos = 0
        end = len(data)
        self.resume_at = 0
        while pos < end:
            if self._data_left:
                take = min(self._data_left, end - pos)
                self._data_left -= take
                self.resume_at = pos + take
                yield DataReceived(data[pos : pos + take], last=self._data_left == 0)
                pos += take
                continue
            start = pos
            event: ReaderEvent | None = None
            s3, s4, s5 = self.settings.s3, self.settings.s4, self.settings.s5
            specials = _specials(s3, s4, s5)
            line = self._line
            while pos < end:
                # Fast path: a run of plain bytes up to the next special one, in one slice.
                found = specials.search(data, pos)
                stop = end if found is None else found.start()
                if stop > pos:
                    if self._overflow:
                        self._after_cr = False
                        pos = stop  # dropped, as byte by byte below
                    else:
                        # Up to the buffer's end; a byte beyond it overflows in the byte-by-byte step.
                        take = min(stop - pos, self.line_max - len(line))
                        self._after_cr = False
                        line += data[pos : pos + take]
                        pos += take
                    if pos >= end:
                        break
                byte = data[pos]
                pos += 1
                if byte == s4 and self._after_cr:
                    # The LF of CR LF belongs to the line just ended: neither a new line nor echoed.
                    self._after_cr = False
                    start = pos
                    continue
                self._after_cr = False
                if byte == s3 or byte == s4:
                    self._after_cr = byte == s3
                    event = self._end_line()
                    break
                if byte == s5:
                    if self._line:
                        del self._line[-1]
                    continue
                if byte == 0x2F and self._is_bare_a():  # "A/"
                    self._line.clear()
                    event = RepeatLast()
                    break
                if self._overflow:
                    continue
                if len(self._line) >= self.line_max:
                    self._overflow = True
                    self._line.clear()
                    continue
                self._line.append(byte)
            self.resume_at = pos
            yield Typed(data[start:pos])
            if event is not None:
                yield event

    def _is_bare_a(self) -> bool:
        return not self._overflow and bytes(self._line).strip(b" \t\0") in (b"A", b"a")

    def _end_line(self) -> ReaderEvent:
        if self._overflow:
            self._overflow = False
            return LineOverflow()
        text = bytes(self._line)
        self._line.clear()
        return LineReceived(text)

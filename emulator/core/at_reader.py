"""Host bytes -> command lines and data blocks (V.250 §5.2, manual §1.1.4).

Theory of operation: the reader is in one of two modes.

* **Line mode.** Bytes accumulate until the line terminator S3 (CR). A bare LF
  (S4) also ends a line, as many hosts send ``\\n`` alone; the LF of a CR LF
  pair is swallowed (not echoed either: chosen, so a host sending CR LF sees no
  stray LF after the result code). S5 (backspace) removes the last byte typed. ``A/`` at the
  start of a line (or after junk, below) repeats the previous command line at
  once, without a terminator (V.250 §5.2.4). A line longer than the buffer is discarded up to
  its terminator and reported as :class:`LineOverflow`.
  Characters before the prefix are not part of the command (V.250 §5.2.1): a
  line is reported from its ``AT``/``at`` on (``xAT+CSQ`` runs ``AT+CSQ``), and
  ``A/`` after junk is a prefix too (:func:`prefix_start`, :func:`is_repeat`).
  A line with no prefix at all is passed on whole (the module ignores it).
* **Data mode** (after a ``>`` prompt): exactly ``n`` bytes are taken as they
  come, CR and LF included; nothing terminates the block early. One exception,
  the terminator's second half: when the line that opened the prompt ended with
  CR, a first data byte that is LF is the LF of that CR LF, swallowed whenever
  it arrives (same write, byte by byte, or after the prompt went out). Hosts end
  every command with CR LF and then send exactly ``n`` bytes; no timing is
  needed to tell the LF from data, only the order of bytes. A profile with
  ``at.data_after_cr = "lf-is-data"`` turns this off (``lf_is_terminator``).

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

# After junk, only the two spellings V.250 §5.2.1 names count as a prefix: base64 and text
# left over from a refused upload hold "At"/"aT" far more often than "AT"/"at".
_PREFIX_IN_JUNK = re.compile(rb"AT|at")
_PLAIN_PREFIXES = (b"AT", b"at")
_A_OR_BLANK = b"Aa \t\0"  # what the byte before the '/' of an "A/" can be


def prefix_start(line: bytes) -> int | None:
    """Where the command line's ``AT`` prefix starts in ``line``, or ``None`` when it has none.

    V.250 §5.2.1: characters before the prefix are ignored. At the start of the line (after blanks
    and NULs, the stray bytes of a UART powering up) any case is taken, as ``split_prefix`` does;
    after other junk (a leftover data byte, 0xFF, text) the first ``AT`` or ``at``.
    """
    if line[:2] in _PLAIN_PREFIXES:  # the common case, without a search
        return 0
    lead = len(line) - len(line.lstrip(b" \t\0"))
    if line[lead : lead + 2].upper() == b"AT":
        return lead
    found = _PREFIX_IN_JUNK.search(line)
    return None if found is None else found.start()


def is_repeat(line_before_slash: bytes) -> bool:
    """Whether a ``/`` typed after ``line_before_slash`` completes an ``A/`` prefix (V.250 §5.2.4).

    The ``A`` (or ``a``; blanks may follow it, as before) must not be inside a command line, i.e.
    nothing before it is an ``AT`` prefix; junk before it is ignored like junk before ``AT``.
    """
    text = line_before_slash.rstrip(b" \t\0")
    return text[-1:] in (b"A", b"a") and prefix_start(text[:-1]) is None


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

    def __init__(self, settings: V250Settings, line_max: int, *, lf_is_terminator: bool = True) -> None:
        self.settings = settings  # shared with the module: ATS3=... takes effect on the next byte
        self.line_max = line_max
        self.lf_is_terminator = lf_is_terminator  #: profile at.data_after_cr: see the module docstring
        self._line = bytearray()
        self._overflow = False
        self._after_cr = False  # the previous byte ended a line with S3: an S4 now is its pair
        self._data_left = 0
        self._lf_owed = False  # data mode after a CR-ended line: a first byte S4 is the CR's pair
        self.resume_at = 0  #: see :meth:`feed`

    @property
    def in_data_mode(self) -> bool:
        return self._data_left > 0

    def expect_data(self, length: int) -> None:
        """Switch to data mode for the next ``length`` bytes."""
        if length <= 0:
            raise ValueError("a data block has at least one byte")
        self._data_left = length
        # The line's CR LF may still lack its LF: owed to the block's first byte (a second block
        # on the same line, opened after the first one's bytes, owes nothing).
        self._lf_owed = self._after_cr and self.lf_is_terminator
        self._after_cr = False  # an LF after the block (or after a timed-out entry) is a line of its own

    def abandon_data(self) -> None:
        """Leave data mode without the rest of the block (the entry timed out)."""
        self._data_left = 0
        self._lf_owed = False

    def reset(self) -> None:
        """Forget any partial line and data block (a power cycle)."""
        self._line.clear()
        self._overflow = False
        self._after_cr = False
        self._data_left = 0
        self._lf_owed = False

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
                if self._lf_owed:
                    self._lf_owed = False
                    if data[pos] == self.settings.s4:
                        pos += 1  # the LF of the prompting line's CR LF: not data, not echoed
                        self.resume_at = pos
                        continue
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
                # "A/" (the cheap test first: a line of '/' must not cost a copy per byte)
                if byte == 0x2F and line and line[-1] in _A_OR_BLANK and not self._overflow and is_repeat(bytes(line)):
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

    def _end_line(self) -> ReaderEvent:
        if self._overflow:
            self._overflow = False
            return LineOverflow()
        text = bytes(self._line)
        self._line.clear()
        start = prefix_start(text)
        return LineReceived(text[start:] if start else text)  # junk before AT dropped

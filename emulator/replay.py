"""``nl668-emu replay FILE``: play the host side of a recorded session, diff what the module says.

Why: a session captured in the field (our ``--trace``, or a plain log pasted
from a terminal) becomes a regression test: the host's bytes go to a fresh
in-memory module on a virtual clock, and what it answers is compared with the
recording. Exit status 0 when they match, 1 when they differ, 2 when the file
cannot be read.

Two inputs:

* **Our trace** (JSON lines ``{"t", "dir": "host"|"module", "data"}``; other
  ``dir`` values, such as ``why``, are ignored). Host records are fed in
  order; the virtual clock advances by the recorded gaps between them, so
  timers (the 12 s data entry, a reboot) fire where they did. The module
  clock starts at the first record's time. The whole module byte stream,
  power-on URCs included, is compared byte for byte.
* **A plain text log** in the style of the manual's examples: lines starting
  with ``AT`` are the host's (sent with CR), every other non-empty line is
  the module's. The comparison is by lines, ignoring blank lines and the
  echo of each command line (the manual prints the line once).

Limits (chosen): the network side is not in a serial trace, so a session that
opens sockets replays against a module with no network (opens fail); uploaded
file bodies are redacted in our traces, so the replayer uses a profile copy
with the content check off and the placeholder's length of filler bytes.

``--live`` (:func:`replay_live`): the same session on a module **with its
network on** (a :class:`~emulator.runtime.running.RunningModule` on a PTY,
``--resolve`` rules as for ``nl668-emu``), so a field log that opens sockets
reproduces against the real server or a lab scenario. Instead of a virtual
clock, each host record is sent once the module has said as many lines as the
recording had by then, or after ``--line-timeout`` seconds (the module's
answers pace the replay; recorded gaps are not waited out). The module clock
starts at the recording's first time (a trace; now for a plain log), so
certificates are judged as they were. Redacted uploads take the bytes of the
``--upload FILE`` options in order (a TRUSTFILE must be the real one for a
verified connection); without one, filler bytes as offline. Two allowances
for a real network (chosen): the power-on URCs are not compared (a live line
opens after them), and between two host records the same lines in another
order are no difference (a ``+MIPRTCP`` may overtake a command's answer).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .core.errors import ProfileError
from .core.profile import Profile
from .profiles import DEFAULT_PROFILE, load_profile
from .runtime.in_memory import InMemoryModule
from .stdout import emit

_REDACTED = b"<redacted "


@dataclass(slots=True)
class ReplayResult:
    """What was recorded, what the fresh module said, and their diff (empty when they match)."""

    recorded: list[str]
    replayed: list[str]
    diff: list[str]

    @property
    def matches(self) -> bool:
        return not self.diff


def replay_file(path: str | Path, profile: str | Profile = DEFAULT_PROFILE) -> ReplayResult:
    """Replay a trace (``.jsonl``, or any file whose first line is a JSON object) or a plain log."""
    text, records = _read_recording(path)
    if records is not None:
        return replay_trace(records, profile, str(path))
    return replay_plain(text, profile, str(path))


def _read_recording(path: str | Path) -> tuple[str, list[dict[str, str]] | None]:
    """The file's text, and its records when it is a trace (its first line is a JSON object)."""
    text = Path(path).read_text(encoding="latin-1")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first.lstrip().startswith("{"):
        return text, None
    return text, [json.loads(line) for line in text.splitlines() if line.strip()]


def _replay_profile(profile: str | Profile) -> Profile:
    loaded = load_profile(profile) if isinstance(profile, str) else profile
    # Redacted uploads come back as filler bytes: accept any content, as the recording did accept it.
    return dataclasses.replace(loaded, files=dataclasses.replace(loaded.files, content_check="none"))


def replay_trace(records: Sequence[dict[str, str]], profile: str | Profile, name: str = "trace") -> ReplayResult:
    """Feed the host records of ``records`` to a fresh module; compare the module bytes."""
    records = [r for r in records if r.get("dir") in ("host", "module")]
    times = [datetime.fromisoformat(r["t"]) for r in records]
    start = times[0] if times else None
    module = InMemoryModule(_replay_profile(profile), host_time=start, initial_clock=start, strict=False)
    out = bytearray(module.take())
    now = start
    recorded = bytearray()
    for record, when in zip(records, times):
        data = record["data"].encode("latin-1")
        if record["dir"] == "module":
            recorded += data
            continue
        if now is not None and when > now:
            out += module.advance((when - now).total_seconds())
            now = when
        out += module.send(_unredact(data))
    if now is not None and times and times[-1] > now:
        out += module.advance((times[-1] - now).total_seconds())
    return _compare(_byte_lines(bytes(recorded)), _byte_lines(bytes(out)), name)


def _unredact(data: bytes) -> bytes:
    """``<redacted N bytes>`` (a trace's upload body) becomes N filler bytes."""
    if data.startswith(_REDACTED) and data.endswith(b" bytes>"):
        try:
            return b"-" * int(data[len(_REDACTED) : -len(b" bytes>")])
        except ValueError:
            pass
    return data


def _byte_lines(data: bytes) -> list[str]:
    """The stream cut after each LF, each piece shown with its CR/LF visible (a diff must show framing)."""
    return [repr(piece)[2:-1] for piece in data.splitlines(keepends=True)]


def replay_plain(text: str, profile: str | Profile, name: str = "log") -> ReplayResult:
    """A manual-style log: ``AT...`` lines are the host's, the others the module's (compared by lines)."""
    module = InMemoryModule(_replay_profile(profile), strict=False)
    module.take()  # a pasted log starts after power-on
    recorded: list[str] = []
    replayed: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line[:2].upper() != "AT":
            recorded.append(line)
            continue
        answer = [piece.strip() for piece in module.command(line).decode("latin-1").splitlines()]
        answer = [piece for piece in answer if piece]
        if answer and answer[0] == line:
            answer = answer[1:]  # the echo
        replayed.extend(answer)
    return _compare(recorded, replayed, name)


# --- live: a module with its network on -----------------------------------------------------------------

#: seconds a live replay waits for each recorded module line before it goes on without it
LINE_TIMEOUT = 10.0
#: after the last record: how long the module may stay quiet before the replay ends
_SETTLE = 0.3


class _LiveLine:
    """The host end of a live module's serial line: what it said so far, waited for by line counts."""

    def __init__(self, port: Any, line_timeout: float) -> None:
        self.port = port
        self.line_timeout = line_timeout
        self.out = bytearray()

    def _read(self, until: float) -> bool:
        self.port.timeout = max(0.01, min(0.1, until - time.monotonic()))
        data = self.port.read(self.port.in_waiting or 1)
        self.out += data
        return bool(data)

    def wait_pieces(self, count: int, counter: Callable[[bytes], int] | None = None) -> None:
        """Read until the module has said ``count`` pieces (lines, or a prompt; or what ``counter`` counts),
        or the line timeout passes without progress."""
        counter = counter or _pieces
        deadline = time.monotonic() + self.line_timeout
        while counter(bytes(self.out)) < count and time.monotonic() < deadline:
            if self._read(deadline):
                deadline = time.monotonic() + self.line_timeout  # progress: each line has its own timeout

    def settle(self) -> None:
        """Read on until the module is quiet for a moment (so lines it adds are in the diff too)."""
        while True:
            if not self._read(time.monotonic() + _SETTLE):
                return

    def send(self, data: bytes) -> None:
        self.port.write(data)


def _pieces(data: bytes) -> int:
    """How many pieces (``_byte_lines``) a module stream holds; an unfinished last line counts only when it
    is a prompt (``> ``), which ends without a line feed."""
    pieces = data.splitlines(keepends=True)
    if pieces and not pieces[-1].endswith(b"\n") and not pieces[-1].endswith(b"> "):
        return len(pieces) - 1
    return len(pieces)


def replay_live(
    path: str | Path,
    profile: str | Profile = DEFAULT_PROFILE,
    *,
    resolve: Sequence[str] = (),
    uploads: Sequence[bytes] = (),
    line_timeout: float = LINE_TIMEOUT,
) -> ReplayResult:
    """Replay ``path`` (a trace or a plain log) on a module with its network on; diff what it says.

    Raises:
        ValueError: a malformed ``resolve`` rule, or an ``--upload`` whose length is not the recorded one.
    """
    from .runtime.running import RunningModule  # here: the offline replayer needs no sockets or threads

    text, records = _read_recording(path)
    loaded = load_profile(profile) if isinstance(profile, str) else profile
    if records is not None:
        records = [r for r in records if r.get("dir") in ("host", "module")]
    start = datetime.fromisoformat(records[0]["t"]) if records else None  # a plain log: now
    with RunningModule(loaded, initial_clock=start, resolve=resolve) as running:
        port = running.open_serial(timeout=0.1)
        try:
            line = _LiveLine(port, line_timeout)
            if records is not None:
                return _live_trace(line, records, list(uploads), str(path))
            return _live_plain(line, text, str(path))
        finally:
            port.close()


def _live_trace(line: _LiveLine, records: Sequence[dict[str, str]], uploads: list[bytes], name: str) -> ReplayResult:
    # The power-on URCs come before the line can be opened on a live module: not compared.
    first_host = next((i for i, r in enumerate(records) if r["dir"] == "host"), len(records))
    recorded = bytearray()
    windows: list[tuple[int, int]] = []  # (recorded pieces, replayed bytes) at each host record
    for record in records[first_host:]:
        data = record["data"].encode("latin-1")
        if record["dir"] == "module":
            recorded += data
            continue
        line.wait_pieces(_pieces(bytes(recorded)))
        windows.append((_pieces(bytes(recorded)), _pieces(bytes(line.out))))  # whole lines only: a cut never splits one
        line.send(_live_upload(data, uploads))
    line.wait_pieces(_pieces(bytes(recorded)))
    line.settle()
    return _compare(*_in_recorded_order(_byte_lines(bytes(recorded)), _byte_lines(bytes(line.out)), windows), name)


def _in_recorded_order(
    recorded: list[str], replayed: list[str], windows: list[tuple[int, int]]
) -> tuple[list[str], list[str]]:
    """Between two host records, the same lines in another order are no difference (live, a URC such as
    ``+MIPRTCP`` may overtake a command's answer): such a window of the replay takes the recorded order.
    Blank pieces (the CR LF before each line) are left out of the comparison: a cut taken while a line
    was arriving may leave its CR LF in the window before. A line may also cross into the next window
    (a URC that came before the next command was sent): up to three windows are compared together."""
    cuts = [(0, 0), *windows, (len(recorded), len(replayed))]
    out: list[str] = []
    i = 0
    while i < len(cuts) - 1:
        for span in (1, 2, 3):
            end = min(i + span, len(cuts) - 1)
            mine = recorded[cuts[i][0]:cuts[end][0]]
            theirs = replayed[cuts[i][1]:cuts[end][1]]
            if _said(mine) == _said(theirs):
                out += mine
                i = end
                break
        else:
            out += replayed[cuts[i][1]:cuts[i + 1][1]]
            i += 1
    return recorded, out


def _said(pieces: list[str]) -> list[str]:
    return sorted(p for p in pieces if p != "\\r\\n")


def _live_upload(data: bytes, uploads: list[bytes]) -> bytes:
    """A redacted upload body becomes the next ``--upload`` file (or filler, as offline)."""
    if not (data.startswith(_REDACTED) and data.endswith(b" bytes>")) or not uploads:
        return _unredact(data)
    body = uploads.pop(0)
    want = len(_unredact(data))
    if len(body) != want:
        raise ValueError(f"--upload of {len(body)} bytes where the recording uploaded {want}")
    return body


def _live_plain(line: _LiveLine, text: str, name: str) -> ReplayResult:
    """A manual-style log, live: each AT line is sent once the module said the lines recorded before it."""
    line.settle()  # the power-on URCs: a pasted log starts after them
    boot = len(line.out)
    recorded: list[str] = []
    sent: list[str] = []

    def said(data: bytes) -> list[str]:
        # The lines the log would show: no blanks, no echo of the commands sent.
        lines = [piece.strip() for piece in data[boot:].decode("latin-1").splitlines()]
        return [piece for piece in lines if piece and piece not in sent]

    for raw in text.splitlines():
        entry = raw.strip()
        if not entry:
            continue
        if entry[:2].upper() != "AT":
            recorded.append(entry)
            continue
        line.wait_pieces(len(recorded), lambda data: len(said(data)))
        sent.append(entry)
        line.send(entry.encode("latin-1") + b"\r")
    line.wait_pieces(len(recorded), lambda data: len(said(data)))
    line.settle()
    return _compare(recorded, said(bytes(line.out)), name)


def _compare(recorded: list[str], replayed: list[str], name: str) -> ReplayResult:
    diff = list(
        difflib.unified_diff(recorded, replayed, f"{name} (recorded)", f"{name} (replayed)", lineterm="")
    )
    return ReplayResult(recorded, replayed, diff)


def main(argv: Sequence[str] | None = None) -> int:
    """``nl668-emu replay [--profile NAME] FILE``: print the diff; 0 if none, 1 if any, 2 on errors."""
    parser = argparse.ArgumentParser(
        prog="nl668-emu replay", description="Replay the host side of a trace or log; diff the module side."
    )
    parser.add_argument("file", help="a --trace JSON-lines file, or a plain text log (AT lines are the host's)")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"product variant (default {DEFAULT_PROFILE})")
    parser.add_argument("--live", action="store_true",
                        help="a module with its network on: sockets reach the real server (or --resolve's target)")
    parser.add_argument("--resolve", action="append", default=[], metavar="HOST[:PORT]=ADDR[:PORT]",
                        help="with --live: where the module's sockets go, as nl668-emu --resolve (repeatable)")
    parser.add_argument("--upload", action="append", default=[], metavar="FILE",
                        help="with --live: the body of the next redacted upload (e.g. the real TRUSTFILE)")
    parser.add_argument("--line-timeout", type=float, default=LINE_TIMEOUT, metavar="S",
                        help=f"with --live: how long to wait for each recorded module line (default {LINE_TIMEOUT:g})")
    args = parser.parse_args(argv)
    try:
        if args.live:
            uploads = [Path(f).read_bytes() for f in args.upload]
            result = replay_live(args.file, args.profile, resolve=args.resolve, uploads=uploads,
                                 line_timeout=args.line_timeout)
        else:
            result = replay_file(args.file, args.profile)
    except (OSError, ValueError, KeyError, ProfileError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2
    if result.matches:
        emit(f"{args.file}: the module side matches ({len(result.recorded)} lines)")
        return 0
    emit("\n".join(result.diff))  # `| head`: the diff's reader may stop early (emulator/stdout.py)
    return 1

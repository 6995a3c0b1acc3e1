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
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .core.errors import ProfileError
from .core.profile import Profile
from .profiles import DEFAULT_PROFILE, load_profile
from .runtime.in_memory import InMemoryModule

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
    text = Path(path).read_text(encoding="latin-1")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        return replay_trace([json.loads(line) for line in text.splitlines() if line.strip()], profile, str(path))
    return replay_plain(text, profile, str(path))


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
    args = parser.parse_args(argv)
    try:
        result = replay_file(args.file, args.profile)
    except (OSError, ValueError, KeyError, ProfileError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2
    if result.matches:
        print(f"{args.file}: the module side matches ({len(result.recorded)} lines)")
        return 0
    print("\n".join(result.diff))
    return 1

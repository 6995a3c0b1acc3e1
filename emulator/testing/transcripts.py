"""Transcripts: the manual's example sessions as files, replayed byte for byte.

A transcript is a text file of logical lines::

    # a comment
    @echo off                  what the renderer assumes from here on (default: on)
    > AT+GTSSLFILE="TRUSTFILE",{len:root-ca.pem}
    < >                        the data prompt (the profile's exact bytes)
    >> root-ca.pem             raw bytes of a file from certs/ (data mode; no CR added)
    < OK
    ~ 12                       let 12 s of virtual time pass (in-memory replays only)

``{name}`` is replaced from a context dict (per-profile values), ``{len:FILE}``
by the size of a file in ``certs/``.

Rendering (V.250 framing under ATV1): a ``>`` line is sent with CR and, when
echo is on, comes back as typed. The ``<`` lines after it are the module's
answer: information lines up to the final result code (``OK``, ``ERROR``,
``+CME ERROR: ...``) form one block (a bare ``<`` starts a new block, as when
two commands on one line both answer); lines after the final result code are
URCs, framed one by one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..servers.pki import cert_bytes

CRLF = "\r\n"
_FINAL = re.compile(r"^(OK|ERROR|\+CME ERROR: .*)$")


@dataclass(slots=True)
class Step:
    """What the host does, and the exact bytes the module must answer with."""

    send: bytes = b""
    advance: float = 0.0
    expect: bytes = b""
    source_line: int = 0
    text: str = ""


@dataclass(slots=True)
class Transcript:
    name: str
    steps: list[Step] = field(default_factory=list)


def _substitute(text: str, context: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("len:"):
            return str(len(cert_bytes(key[4:])))
        if key not in context:
            raise KeyError(f"transcript needs {{{key}}} in its context")
        return context[key]

    return re.sub(r"\{([^{}]+)\}", one, text)


def _render_answer(lines: list[str], prompt: str) -> str:
    out: list[str] = []
    block: list[str] = []
    final_seen = False
    for line in lines:
        if line == ">":
            out.append(prompt)
            continue
        if final_seen:
            out.append(CRLF + line + CRLF)  # a URC
        elif line == "":
            if block:
                out.append(CRLF + CRLF.join(block) + CRLF)
            block = []
        elif _FINAL.match(line):
            if block:
                out.append(CRLF + CRLF.join(block) + CRLF)
            block = []
            out.append(CRLF + line + CRLF)
            final_seen = True
        else:
            block.append(line)
    if block:
        out.append(CRLF + CRLF.join(block) + CRLF)
    return "".join(out)


def parse_transcript(
    text: str, *, name: str = "", context: Mapping[str, str] | None = None, prompt: str = "\r\n> "
) -> Transcript:
    """Turn transcript text into steps with their expected bytes."""
    ctx = dict(context or {})
    transcript = Transcript(name)
    echo = True
    step: Step | None = None
    answer: list[str] = []

    def close() -> None:
        nonlocal step, answer
        if step is not None:
            step.expect += _render_answer(answer, prompt).encode("latin-1")
            transcript.steps.append(step)
        step, answer = None, []

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("@echo "):
            close()
            echo = line.split()[1] == "on"
        elif line.startswith(">> "):
            close()
            step = Step(send=cert_bytes(_substitute(line[3:].strip(), ctx)), source_line=number, text=line)
        elif line.startswith("> "):
            close()
            typed = _substitute(line[2:], ctx).encode("latin-1") + b"\r"
            step = Step(send=typed, expect=typed if echo else b"", source_line=number, text=line)
        elif line.startswith("~ "):
            close()
            step = Step(advance=float(line[2:]), source_line=number, text=line)
        elif line == "<" or line.startswith("< "):
            if step is None:
                step = Step(source_line=number, text="(unsolicited)")
            answer.append(_substitute(line[2:], ctx))
        else:
            raise ValueError(f"{name}:{number}: cannot read {line!r}")
    close()
    return transcript


def load_transcript(path: Path, *, context: Mapping[str, str] | None = None, prompt: str = "\r\n> ") -> Transcript:
    return parse_transcript(path.read_text(), name=path.name, context=context, prompt=prompt)


def replay(
    transcript: Transcript,
    exchange: Callable[[Step], bytes],
) -> None:
    """Play every step through ``exchange`` (which returns the module's answer) and compare bytes.

    Raises:
        AssertionError: naming the transcript line whose answer differs.
    """
    for step in transcript.steps:
        got = exchange(step)
        if got != step.expect:
            raise AssertionError(
                f"{transcript.name}:{step.source_line} {step.text!r}\n"
                f"  expected {step.expect!r}\n"
                f"  got      {got!r}"
            )

"""``nl668-emu trace-view TRACE [-o FILE] [--open]``: a ``--trace`` file as a sequence diagram in HTML."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path

from ..stdout import emit
from .render import render_trace


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nl668-emu trace-view",
        description="Render a --trace file (JSON lines) as one self-contained HTML page: host, module and "
        "one network lifeline per socket, with the TLS steps and failures marked.",
    )
    parser.add_argument("trace", metavar="TRACE", help="the trace file written by --trace")
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write the page (default: TRACE with .html)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Returns 0, or 2 when the trace cannot be read or the page cannot be written (one line on stderr)."""
    args = _parser().parse_args(argv)
    source = Path(args.trace)
    target = Path(args.output) if args.output else source.with_suffix(".html")
    try:
        page = render_trace(source)
    except (OSError, UnicodeError) as exc:
        return _fail(f"cannot read the trace {source}: {_reason(exc)}")
    try:
        target.write_text(page, encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        return _fail(f"cannot write the page {target}: {_reason(exc)}")
    emit(str(target))
    if args.open:
        webbrowser.open(target.resolve().as_uri())
    return 0


def _reason(exc: OSError | UnicodeError) -> str:
    # strerror alone: the file is named once, by the caller, whichever of the two it was
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _fail(message: str) -> int:
    print(f"nl668-emu trace-view: error: {message}", file=sys.stderr)
    return 2

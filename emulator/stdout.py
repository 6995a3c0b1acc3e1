"""Writing to standard output when the reader may have gone: ``nl668-lab --list | head -1``.

Python ignores SIGPIPE, so a closed pipe surfaces as :class:`BrokenPipeError` at the
``print`` and again when the interpreter flushes stdout at exit: two tracebacks where a
Unix tool would end quietly. The command-line tools print through :func:`emit`, which
says whether the text went out; after a closed pipe, stdout points at ``/dev/null`` (as
Python's documentation on SIGPIPE recommends) so that nothing later can fail on it, and a
listing ends with status 1 while a server goes on serving (its banner is an announcement: the
ports serve whether or not anybody read it).
"""

from __future__ import annotations

import os
import sys


def emit(text: str, *, end: str = "\n") -> bool:
    """Print ``text`` and flush; False when nobody reads standard output any more."""
    try:
        sys.stdout.write(text + end)
        sys.stdout.flush()
        return True
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
        return False

"""A child process that must not outlive its parent (``--workers``' workers, ``nl668-emu run``'s emulator)."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1

#: the pid of the process that forked this one, noted in it just before the fork (a child reads its copy)
_forked_by: int | None = None


def _note_forker() -> None:
    global _forked_by
    _forked_by = os.getpid()


# Run before every fork: os.fork, multiprocessing's "fork", and subprocess with a preexec_fn.
os.register_at_fork(before=_note_forker)


def die_with_parent() -> None:
    """Have the kernel send SIGTERM to this process when its parent dies, even by SIGKILL (Linux; elsewhere
    nothing: the parent's own cleanup still stops it). Call it first thing in the child."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    # The parent died before the prctl (this process was re-parented): nobody is left to be outlived. Compared
    # with the parent's own pid, not with 1: in a container the parent may well be PID 1 and alive.
    if _forked_by is not None and os.getppid() != _forked_by:
        os.kill(os.getpid(), signal.SIGTERM)

"""A child process that must not outlive its parent (``--workers``' workers, ``nl668-emu run``'s emulator)."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel send SIGTERM to this process when its parent dies, even by SIGKILL (Linux; elsewhere
    nothing: the parent's own cleanup still stops it). Call it first thing in the child."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before the prctl: nobody is left to be outlived
        os.kill(os.getpid(), signal.SIGTERM)

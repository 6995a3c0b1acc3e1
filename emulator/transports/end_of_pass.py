"""Writes deferred to the end of the current loop pass, made together, in the order they were asked for.

Why: a write to a PTY or a loopback socket that finds its reader asleep wakes it (for a PTY, the kernel's
flush worker first), and the woken reader often preempts the writer on a busy machine. Written one at a time
between the callbacks of a busy pass, a worker's writes kept waking hosts and the echo server that then
interrupted the rest of the pass; written back to back, they share the wake-ups (a burst of 128 PTY writes
to sleeping readers costs 2.5 µs of CPU a write). One loop pass serves every module whose line or socket
was ready, so the writes of all of them go out together when the pass's callbacks have run. Measured with
``bench/scale.py --workers 2 256`` (bench/RESULTS.md, "Writes at the end of the pass"): more round trips a
second and a lower p99, the hosts' and server's CPU a round trip down. Nothing waits at low load: a pass is
then one callback, and the loop runs the batch right after it. Deferred: a PTY's output, and a TCP or TLS
link's sends (emulator/runtime/links.py); not UDP datagrams.

One batch per loop: the first write of a pass schedules :meth:`EndOfPass._run` with ``call_soon``, so it
runs after every callback already queued (the pass's I/O callbacks) and before the loop next waits.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable


class EndOfPass:
    """The jobs deferred in this pass of ``loop`` (use :func:`end_of_pass`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: _BATCHES's value would otherwise keep its own key, every loop that ever wrote, alive for good.
        self._loop = weakref.ref(loop)
        self._jobs: list[Callable[[], None]] = []

    def defer(self, job: Callable[[], None]) -> None:
        """Run ``job`` when the pass's callbacks have run (after the jobs deferred before it)."""
        if not self._jobs:
            loop = self._loop()
            assert loop is not None, "the caller's loop is alive"
            loop.call_soon(self._run)
        self._jobs.append(job)

    def _run(self) -> None:
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            try:
                job()
            except Exception as exc:  # noqa: BLE001 - one module's fault must not hold back the others' output
                if (loop := self._loop()) is not None:  # always: the loop is running this
                    loop.call_exception_handler({"message": f"end-of-pass write {job!r} failed", "exception": exc})


_BATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EndOfPass] = weakref.WeakKeyDictionary()


def end_of_pass(loop: asyncio.AbstractEventLoop) -> EndOfPass:
    """``loop``'s batch (one per loop, made on first use; call on the loop's thread)."""
    batch = _BATCHES.get(loop)
    if batch is None:
        batch = _BATCHES[loop] = EndOfPass(loop)
    return batch

"""``nl668-emu --modules N --workers K``: N modules spread over K processes, one asyncio loop each.

Why processes: one loop in one process is bound by one core (bench/RESULTS.md: about 6,000 TLS echo round
trips a second, closed loop at 256 modules); the modules share nothing but the scheduler, so they split
cleanly. Each worker is a forked copy of the CLI's ``_serve`` given a contiguous block of module indexes
(worker ``w`` of ``K`` serves ``w*N//K .. (w+1)*N//K - 1``), so everything indexed by module behaves as
with one process: ``--pty PATH`` gives ``PATH<i>``, ``--tcp HOST:PORT`` gives ``PORT+i``, ``--trace FILE``
gives ``FILE-<i>``, module ``i`` answers its own IMEI, IMSI and ICCID (:mod:`emulator.core.identity`) --
``i`` is always the global module index.

The parent process owns what the user sees:

* **Readiness**: each worker reports its banner lines and its modules' ports over a pipe once it listens;
  the parent writes ``--port-file`` (every module's port in module order, then ``--control``'s) and prints
  the banners (plus one ``NL668 worker W (pid P): modules A-B`` line per worker) only when all are ready.
* **The console** (chosen: one listener, in the parent): ``--control HOST:PORT`` is bound by the parent;
  each worker serves its own modules' console on a private ``127.0.0.1`` port, and the parent forwards every
  line to the worker that holds the current module (``module N`` takes a global index, ``modules`` counts
  them all). A script therefore talks to one port exactly as with one process.
* **Lifetime**: SIGINT/SIGTERM to the parent stops every worker (SIGTERM, then SIGKILL after 10 s). A worker
  that ends with status 0 was stopped by a signal (Ctrl-C reaches the whole process group): the parent stops
  the rest and exits 0; one that fails stops the others and the parent exits 1. A worker dies with its parent
  (Linux ``PR_SET_PDEATHSIG``), so a killed parent leaves no modules behind.

Workers are forked (not spawned): nothing is pickled, and the profile loaded by the parent is used as is.
Nothing runs on an event loop in the parent before the fork.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import partial
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from ..core.profile import Profile
from ..console import LineServer
from ..stdout import emit
from ..transports.tcp import DEFAULT_HOST
from .lifetime import die_with_parent
from .port_file import write_port_file
from .resolve import Resolver

logger = logging.getLogger(__name__)

#: how long a worker may take to build its modules and listen
READY_TIMEOUT = 120.0
#: how long a stopped worker may take to close its sockets before it is killed
STOP_TIMEOUT = 10.0

Ready = Callable[[list[str], list[int]], None]
#: held (blocked) from before the fork until each process's loop handles them: a Ctrl-C during start-up
#: is then a clean stop, not a KeyboardInterrupt in whichever process it caught half-built
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class Serve(Protocol):
    """The CLI's ``_serve``: serve the modules ``indexes`` and call ``ready(banners, ports)`` once listening."""

    def __call__(
        self, profile: Profile, initial_clock: datetime, args: argparse.Namespace, resolver: Resolver, *,
        indexes: range | None = None, ready: Ready | None = None,
    ) -> Coroutine[Any, Any, int]: ...


def split(modules: int, workers: int) -> list[range]:
    """Contiguous blocks of module indexes, as even as can be (never an empty block)."""
    workers = max(1, min(workers, modules))
    return [range(w * modules // workers, (w + 1) * modules // workers) for w in range(workers)]


def worker_count(requested: int) -> int:
    """``--workers`` as given; 0 (the option without a value) means one per core."""
    return requested if requested > 0 else (os.cpu_count() or 1)


class _Worker:
    def __init__(self, index: int, indexes: range, process: BaseProcess,
                 conn: multiprocessing.connection.Connection) -> None:
        self.index = index
        self.indexes = indexes
        self.process = process
        self.conn = conn
        self.banners: list[str] = []
        self.ports: list[int] = []
        self.control_port = 0


def _worker_main(serve: Serve, profile: Profile, initial_clock: datetime, args: argparse.Namespace,
                 resolver: Resolver, indexes: range, conn: multiprocessing.connection.Connection) -> None:
    """A worker's body (in the forked child): serve ``indexes`` until SIGINT/SIGTERM."""
    die_with_parent()
    child = copy.copy(args)
    child.port_file = None
    # The user's --control is the parent's; a worker's console is private, on loopback.
    child.control = (DEFAULT_HOST, 0) if args.control is not None else None

    def ready(banners: list[str], ports: list[int]) -> None:
        control = 0
        if child.control is not None:  # _serve appends the console last, to both lists
            banners, ports, control = banners[:-1], ports[:-1], ports[-1]
        conn.send(("ready", banners, ports, control))
        # The modules, profiles and contexts built so far live as long as the worker: out of the
        # collector's sight, a full collection no longer walks them (measured at 256 modules: pauses of
        # 13-26 ms -> 0.2-0.4 ms; closed-loop p99 74-110 -> 66-77 ms in 3 same-run pairs, bench/RESULTS.md).
        gc.freeze()
        # _serve adds its signal handlers right after this call: let the held signals in once it waits
        asyncio.get_running_loop().call_soon(signal.pthread_sigmask, signal.SIG_UNBLOCK, STOP_SIGNALS)

    try:
        code = asyncio.run(serve(profile, initial_clock, child, resolver, indexes=indexes, ready=ready))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which prints it
        code = 1 if isinstance(exc, OSError) else 2  # as the one-process CLI: 1 for an OSError (a port taken), else 2
        conn.send(("error", code, str(exc)))
    conn.close()
    sys.exit(code)


def serve_workers(serve: Serve, profile: Profile, initial_clock: datetime, args: argparse.Namespace,
                  resolver: Resolver) -> int:
    """Run ``args.modules`` modules in ``args.workers`` processes; returns the exit code (as the CLI's)."""
    context = multiprocessing.get_context("fork")
    workers: list[_Worker] = []
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # inherited by the workers
    for index, indexes in enumerate(split(args.modules, worker_count(args.workers))):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker_main, name=f"nl668-worker-{index}",
            args=(serve, profile, initial_clock, args, resolver, indexes, send),
        )
        process.start()
        send.close()
        workers.append(_Worker(index, indexes, process, receive))
    try:
        failure = _wait_ready(workers)
        if failure is not None:
            code, message = failure
            print(f"error: {message}", file=sys.stderr)
            return code
        return asyncio.run(_supervise(workers, args))
    finally:
        _stop(workers)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _wait_ready(workers: list[_Worker]) -> tuple[int, str] | None:
    """Every worker's ("ready", ...) message, or the first failure as (exit code, message)."""
    waiting: dict[Any, _Worker] = {w.conn: w for w in workers}
    deadline = time.monotonic() + READY_TIMEOUT
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            return 1, "workers did not start in time"
        for conn in multiprocessing.connection.wait(list(waiting), left):
            worker = waiting.pop(conn)
            try:
                message: tuple[Any, ...] = worker.conn.recv()
            except EOFError:
                return 1, f"worker {worker.index} exited during start-up"
            if message[0] == "error":
                return int(message[1]), str(message[2])
            worker.banners, worker.ports, worker.control_port = message[1], message[2], message[3]
    return None


def _stop(workers: list[_Worker]) -> None:
    for worker in workers:
        if worker.process.is_alive() and worker.process.pid is not None:
            os.kill(worker.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(STOP_TIMEOUT)
        worker.conn.close()


async def _supervise(workers: list[_Worker], args: argparse.Namespace) -> int:
    """Publish the ports and banners, forward the console, wait for a signal or a dead worker."""
    loop = asyncio.get_running_loop()
    ports = [port for w in workers for port in w.ports]
    banners = [line for w in workers for line in w.banners]
    banners += [f"NL668 worker {w.index} (pid {w.process.pid}): modules {w.indexes.start}-{w.indexes.stop - 1}"
                for w in workers]
    proxy: ControlProxy | None = None
    if args.control is not None:
        proxy = ControlProxy([(w.control_port, w.indexes) for w in workers], *args.control)
        await proxy.start()
        ports.append(proxy.address[1])
        banners.append(f"NL668 control on {proxy.address[0]}:{proxy.address[1]}")
    try:
        stop = asyncio.Event()
        died: list[_Worker] = []
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        loop.call_soon(signal.pthread_sigmask, signal.SIG_UNBLOCK, STOP_SIGNALS)
        if args.port_file:
            write_port_file(args.port_file, ports)
        emit("\n".join(banners))  # a reader gone after the banner changes nothing: serve on

        def on_exit(worker: _Worker) -> None:
            died.append(worker)
            stop.set()

        for worker in workers:
            loop.add_reader(worker.process.sentinel, on_exit, worker)
        await stop.wait()
        for worker in workers:
            loop.remove_reader(worker.process.sentinel)
        failed = [w for w in died if w.process.exitcode != 0]  # 0: stopped by a signal, as the parent is
        if failed:
            print(f"error: worker {failed[0].index} exited (code {failed[0].process.exitcode})", file=sys.stderr)
            return 1
        return 0
    finally:
        if proxy is not None:
            await proxy.close()


class ControlProxy(LineServer):
    """The ``--control`` line protocol for every module of every worker, forwarded to the workers' consoles.

    ``module N`` (global index) and ``modules`` are answered here; any other line goes to the worker that
    serves the current module, as ``module <local index>`` then the line, and its reply comes back.
    """

    def __init__(self, workers: list[tuple[int, range]], host: str = DEFAULT_HOST, port: int = 0) -> None:
        super().__init__(sum(len(indexes) for _, indexes in workers), host, port)
        self._workers = workers

    def _locate(self, index: int) -> tuple[int, int]:
        for worker, (_, indexes) in enumerate(self._workers):
            if index in indexes:
                return worker, index - indexes.start
        raise IndexError(index)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        try:
            await self._serve_lines(reader, writer, partial(self._forward, upstream))
        finally:
            for _, up in upstream.values():
                up.close()

    async def _forward(self, upstream: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]],
                       index: int, text: str) -> str:
        worker, local = self._locate(index)
        if worker not in upstream:
            try:
                upstream[worker] = await asyncio.open_connection(DEFAULT_HOST, self._workers[worker][0])
            except OSError as exc:
                return f"ERROR worker {worker} unreachable: {exc}"
        up_reader, up_writer = upstream[worker]
        up_writer.write(f"module {local}\n{text}\n".encode())
        await up_writer.drain()
        selected = await up_reader.readline()
        reply = await up_reader.readline()
        if not selected or not reply:
            upstream.pop(worker)[1].close()
            return f"ERROR worker {worker} closed its console"
        return reply.decode("utf-8", "replace").rstrip("\n")

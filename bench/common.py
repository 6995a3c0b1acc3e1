"""Shared helpers of the benchmarks: a raw host on a PTY, timing, percentiles, result files.

Why a raw host (``os.read``/``os.write`` on the slave fd) and not pyserial: the
figures are about the emulator, and pyserial's own per-call overhead would be
most of a 100 µs round trip. Every benchmark measures its baseline with the
same host code in the same run, so each figure is also a ratio that survives a
noisy, shared machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import select
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The emulator tree under test: this checkout, or another one (``BENCH_EMULATOR_ROOT=/path/to/worktree``)
#: so that a change can be compared against, e.g., a ``git worktree`` of the previous commit in one run.
EMULATOR_ROOT = Path(os.environ.get("BENCH_EMULATOR_ROOT", ROOT)).resolve()
sys.path.insert(0, str(EMULATOR_ROOT))  # `python bench/x.py` puts bench/ first, not the repository
RESULTS_JSON = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results.json"))

now = time.perf_counter


def percentile(values: Iterable[float], p: float) -> float:
    """The ``p``-th percentile (0-100), nearest-rank on the sorted values (no interpolation)."""
    data = sorted(values)
    if not data:
        raise ValueError("no values")
    rank = max(1, min(len(data), int(-(-p * len(data) // 100))))
    return data[rank - 1]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def machine() -> dict[str, Any]:
    """What the figures came from: core count, Python, CPU model."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "python": platform.python_version(), "cpu": cpu,
            "kernel": platform.release()}


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far, /proc/stat's first line (USER_HZ ticks): user, nice, system, idle, iowait,
    irq, softirq, steal."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def machine_split(before: list[int], after: list[int]) -> dict[str, float]:
    """Shares of the machine's time between two :func:`cpu_ticks`: ``busy``, ``idle`` (iowait included) and
    ``steal``, the time the hypervisor ran something else while a vCPU of ours wanted to run. Why: on a VM a
    figure is the VM's as much as the code's (bench/RESULTS.md, "Fourth look": 0 % steal with two busy loops,
    25-48 % during a closed loop that wakes processes 40,000 times a second); every run now says how much it had."""
    d = [b - a for a, b in zip(before, after)]
    total = sum(d) or 1
    user, nice, system, idle, iowait, irq, softirq, steal = d
    return {"busy": (user + nice + system + irq + softirq) / total, "idle": (idle + iowait) / total,
            "steal": steal / total}


def describe_split(split: dict[str, float]) -> str:
    """A :func:`machine_split` as the reports print it: ``machine during the run: busy 89%, idle 10%, steal 2%``."""
    return "machine during the run: " + ", ".join(f"{k} {v:.0%}" for k, v in split.items())


def rss_bytes() -> int:
    """This process's resident set size, from /proc (no psutil needed)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def record(name: str, figures: dict[str, Any]) -> None:
    """Merge one benchmark's figures into bench/results.json (the latest run, for comparison)."""
    try:
        data = json.loads(RESULTS_JSON.read_text())
    except (OSError, ValueError):
        data = {}
    data["machine"] = machine()
    data.setdefault("benchmarks", {})[name] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                              **figures}
    RESULTS_JSON.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def report(name: str, rows: list[tuple[str, str, str, str]]) -> None:
    """Print ``(figure, value, baseline, verdict)`` rows."""
    print(f"== {name}")
    for row in rows:
        print("  " + " | ".join(row))


class RawHost:
    """The host end of a PTY: raw fd, reads with a deadline (select), no pyserial."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.buf = bytearray()

    def close(self) -> None:
        os.close(self.fd)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"nothing from the module; buffered {bytes(self.buf[-200:])!r}")
        ready, _, _ = select.select([self.fd], [], [], left)
        if ready:
            self.buf += os.read(self.fd, 1 << 16)

    def until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        """Everything up to and including ``marker``."""
        deadline = time.monotonic() + timeout
        while (i := self.buf.find(marker)) < 0:
            self.fill(deadline)
        end = i + len(marker)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    def count(self, marker: bytes, n: int, timeout: float = 30.0) -> bytes:
        """Read until ``marker`` has been seen ``n`` times; return everything up to the last one."""
        deadline = time.monotonic() + timeout
        seen = 0
        out = bytearray()
        while seen < n:
            i = self.buf.find(marker)
            if i < 0:
                self.fill(deadline)
                continue
            end = i + len(marker)
            out += self.buf[:end]
            del self.buf[:end]
            seen += 1
        return bytes(out)

    def command(self, line: bytes, final: bytes = b"OK\r\n", timeout: float = 10.0) -> bytes:
        self.write(line + b"\r")
        return self.until(final, timeout)


class EchoPty:
    """The baseline: a PTY whose master end is served by an asyncio loop thread that echoes
    (or sinks, or sources) bytes with the same add_reader/os.write path as the emulator's transport."""

    def __init__(self, mode: str = "echo") -> None:
        import tty

        self.mode = mode
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self.received = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.loop.call_soon_threadsafe(self.loop.add_reader, self.master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 1 << 16)
        except BlockingIOError:
            return
        self.received += len(data)
        if self.mode == "echo":
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(self.master, view):]
                except BlockingIOError:
                    select.select([], [self.master], [], 1.0)

    def source(self, data: bytes) -> None:
        """Write ``data`` to the host from the loop thread (blocking on a full PTY, as a sink test needs)."""

        def run() -> None:
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(self.master, view):]
                except BlockingIOError:
                    select.select([], [self.master], [], 1.0)

        self.loop.call_soon_threadsafe(run)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.remove_reader, self.master)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
        os.close(self.master)
        os.close(self._slave)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` (benchmarks only; tests never poll)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.001)


def python_startup() -> float:
    """Seconds for a bare ``python -c pass`` here: the floor of any start-up figure."""
    t0 = now()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return now() - t0


HEX_URC = re.compile(rb"\+MIPRTCP: (\d+),(\d+),([0-9A-F]+)\r\n")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_tls() -> None:
    """The TLS server process's body: print the port, serve until stdin closes, then print what was negotiated."""
    from emulator.servers.tls_servers import TlsServer

    with TlsServer() as server:
        print(json.dumps({"port": server.port}), flush=True)
        sys.stdin.read()
        records = list(server.handshakes)
    # a handshake cut off mid-way has no version or suite: it is counted, not listed
    suites = sorted({(r.version, r.cipher) for r in records if r.version is not None and r.cipher is not None})
    print(json.dumps({"suites": suites, "count": len(records)}), flush=True)


class TlsServerProcess:
    """A default :class:`~emulator.servers.tls_servers.TlsServer` (echo) in a process of its own.

    Why a process: as a thread of the benchmark it competes for the GIL with
    the hosts, the direct client and an in-process emulator, and the figures
    then measure those hand-offs (a third more host CPU per round trip in
    scale.py; 1.5-1.9x instead of 1.1-1.5x in tls_handshake.py).
    """

    def __init__(self, argv: list[str] | None = None) -> None:
        """``argv``: another server speaking the same protocol (bench/tls_echo.c); default this file's."""
        self.proc = subprocess.Popen(argv or [sys.executable, __file__, "tls-server"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=EMULATOR_ROOT)
        assert self.proc.stdout is not None
        self.port = int(json.loads(self.proc.stdout.readline())["port"])
        self.pid = self.proc.pid

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def finish(self) -> dict[str, Any]:
        """Stop the server; returns ``{"suites": [[version, cipher], ...], "count": handshakes}``."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        result: dict[str, Any] = json.loads(self.proc.stdout.readline())
        self.proc.wait(30)
        return result


if __name__ == "__main__" and sys.argv[1:] == ["tls-server"]:
    serve_tls()

"""Scale: N modules in ONE process on ONE asyncio loop, each with an open TLS socket doing echo round trips.

The emulator side (this process) runs nothing but the modules: N PTYs, N
drivers, N PeerLinks on one loop thread sharing one AsyncioScheduler. The hosts
run in one child process (``--hosts``) and the TLS echo server in another
(:class:`common.TlsServerProcess`), as in a farm where host programs and servers are separate
processes: none of them competes for this process's GIL, nor for each other's
(the server on a thread of the hosts' process cost the load generator about a
third more CPU per round trip in GIL hand-offs). The machine has 2 cores.

A round trip: ``AT+MIPSEND=1,16`` -> ``>`` -> 16 bytes -> ``OK`` ... until the
echo's ``+MIPRTCP: 1,0,<hex>`` URC is read, timed by the host. Every host runs
its round trips back to back (closed loop, all N at once: the worst case), and
then again paced at 10 round trips a second each (a farm of chatty devices).
Memory: this process's RSS growth with all N sockets open and idle, divided by N.
Targets: 256 modules, p99 < 50 ms, < 2 MB per idle module.

Then the same load against ``nl668-emu --modules 256 --workers 2`` (issue 15): the modules in two worker
processes, one event loop each; ``python bench/scale.py --workers K [N]`` runs only that.

The load generator (issue 15): on a 2-core machine the Python hosts (63-91 µs of CPU a round trip) and the
Python TLS echo server (78-102 µs) took cores the emulator needed, so the figure measured them too. The
hosts and the echo server are therefore C programs, ``bench/hosts.c`` (epoll over the N PTYs, the same
protocol as :class:`AsyncHost`) and ``bench/tls_echo.c`` (epoll, OpenSSL, the Python server's defaults),
compiled with ``cc`` at run time into ``bench/build/``. Without ``cc`` or OpenSSL's headers
(``libssl-dev``), the Python ones above run instead (the report says which). ``--loadgen python|c|ab``
picks one, or alternates both in one run (A/B); ``--pin`` puts the emulator on core 0 and the load
generator on core 1 (an experiment, not the default).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import common  # noqa: I001
from common import (
    TlsServerProcess,
    cpu_ticks,
    describe_split,
    machine_split,
    median,
    percentile,
    process_cpu_seconds,
    record,
    report,
    rss_bytes,
)

BENCH = Path(__file__).resolve().parent
BUILD = BENCH / "build"  # ignored by git (.gitignore: build/)

HOST = "bench.example.test"
SIZES = (1, 16, 64, 256)
#: Round trips a second per module for the paced runs, two seconds each: the highest rate at which the
#: p99 of 256 modules stays under 50 ms is the farm's capacity on this machine.
PACED_RATES = (10, 15, 20)
#: An AT line every host sends after ATE0 (``--setup``, e.g. ``AT+GTSSLVER=4;+GTSSLCIPHER=7,1`` for TLS 1.2
#: AES128-SHA256 as bench/fleet.py uses); by default none: the profile's defaults (TLS 1.0 here).
SETUP = os.environ.get("SCALE_SETUP", "")


def cpu_seconds() -> float:
    """User + system CPU of this whole process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_nofile() -> None:
    """Each module holds a PTY pair and a socket; 256 of them pass the usual 1024 soft limit with the host's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# --- the host side (child process) -----------------------------------------------------------------


class AsyncHost:
    """One host on a PTY slave, on the child's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buf = bytearray()
        self.loop = loop
        self.waiter: asyncio.Future[None] | None = None
        loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            self.buf += os.read(self.fd, 65536)
        except BlockingIOError:
            return
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)  # a few dozen bytes: a PTY always takes them

    async def until(self, marker: bytes) -> None:
        # No wait_for per wait (a timer handle each time, a third of the host's CPU per round trip):
        # hosts_main bounds every phase as a whole instead.
        while (i := self.buf.find(marker)) < 0:
            self.waiter = self.loop.create_future()
            await self.waiter
        del self.buf[: i + len(marker)]

    async def command(self, line: bytes) -> None:
        self.write(line + b"\r")
        await self.until(b"OK\r\n")

    async def setup(self) -> None:
        await self.command(b"ATE0")
        if SETUP:
            await self.command(SETUP.encode())
        await self.command(b"AT+MIPCALL=1")
        await self.until(b"+MIPCALL: ")
        self.write(f'AT+MIPOPEN=1,,"{HOST}",443,2\r'.encode())
        await self.until(b"+MIPOPEN: 1,1\r\n")

    async def round_trips(self, count: int, interval: float) -> list[float]:
        out = []
        payload = os.urandom(8).hex().encode()  # 16 bytes
        echo = b"+MIPRTCP: 1,0," + payload.hex().upper().encode() + b"\r\n"
        if interval:
            await asyncio.sleep(random.random() * interval)
        for _ in range(count):
            t0 = time.perf_counter()
            self.write(b"AT+MIPSEND=1,16\r")
            await self.until(b"> ")
            self.write(payload)
            await self.until(echo)
            out.append(time.perf_counter() - t0)
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t0)))
        return out


async def hosts_main(server_pid: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    paths = json.loads(await reader.readline())
    hosts = [AsyncHost(loop, path) for path in paths]
    await asyncio.wait_for(asyncio.gather(*(h.setup() for h in hosts)), 60)
    print(json.dumps({"open": len(hosts)}), flush=True)
    await reader.readline()  # "go"
    rounds = max(20, 600 // len(hosts))
    cpu0, server0 = cpu_seconds(), process_cpu_seconds(server_pid)
    closed = await asyncio.wait_for(asyncio.gather(*(h.round_trips(rounds, 0) for h in hosts)), 120)
    host_cpu, server_cpu = cpu_seconds() - cpu0, process_cpu_seconds(server_pid) - server0
    paced = {}
    for rate in PACED_RATES:
        runs = await asyncio.wait_for(asyncio.gather(*(h.round_trips(2 * rate, 1 / rate) for h in hosts)), 120)
        paced[rate] = [x for r in runs for x in r]
    print(json.dumps({"closed": [x for r in closed for x in r], "paced": paced, "host_cpu": host_cpu,
                      "server_cpu": server_cpu}),
          flush=True)
    for h in hosts:
        loop.remove_reader(h.fd)
        os.close(h.fd)


# --- the C load generator (bench/hosts.c, bench/tls_echo.c) ----------------------------------------


def build_c() -> tuple[Path, Path] | str:
    """Compile the C hosts and echo server; returns their paths, or why they cannot be used."""
    import shutil

    cc = shutil.which("cc")
    if cc is None:
        return "no cc"
    if not Path("/usr/include/openssl/ssl.h").exists():
        return "no OpenSSL headers (apt-get install libssl-dev)"
    BUILD.mkdir(exist_ok=True)
    out = (BUILD / "hosts", BUILD / "tls_echo")
    for src, exe, libs in ((BENCH / "hosts.c", out[0], []), (BENCH / "tls_echo.c", out[1], ["-lssl", "-lcrypto"])):
        if exe.exists() and exe.stat().st_mtime >= src.stat().st_mtime:
            continue
        done = subprocess.run([cc, "-O2", "-Wall", "-o", str(exe), str(src), *libs], capture_output=True, text=True)
        if done.returncode:
            return f"cc failed on {src.name}: {done.stderr.strip()[:300]}"
    return out


def c_tls_server(exe: Path) -> TlsServerProcess:
    """bench/tls_echo.c behind :class:`common.TlsServerProcess` (the same stdin/stdout protocol), with the same
    certificates."""
    from emulator.servers.pki import pki_path

    return TlsServerProcess([str(exe), str(pki_path("server-chain.pem")), str(pki_path("server.key")),
                             str(pki_path("ffdhe2048.pem"))])


class LoadGen:
    """The hosts (a child process) and the TLS echo server (another), Python or C, behind one interface."""

    def __init__(self, kind: str, pin: int | None = None) -> None:
        self.kind = kind
        if kind == "c":
            built = build_c()
            if isinstance(built, str):
                raise RuntimeError(built)
            hosts_exe, echo_exe = built
            self.server = c_tls_server(echo_exe)
            self.out = BUILD / f"latencies-{os.getpid()}.txt"
            self.hosts_cmd = [str(hosts_exe), str(self.out), str(self.server.pid), HOST, "", *map(str, PACED_RATES)]
        else:
            self.server = TlsServerProcess()
            self.hosts_cmd = [sys.executable, __file__, "--hosts", str(self.server.pid)]
        self.pids = [self.server.pid]
        self.pin = pin
        self.child: subprocess.Popen[str] | None = None

    @property
    def port(self) -> int:
        return self.server.port

    def open(self, paths: list[str]) -> None:
        """Start the hosts on ``paths`` and wait until every one has its TLS socket open."""
        if self.kind == "c" and not self.hosts_cmd[4]:
            self.hosts_cmd[4] = str(max(20, 600 // len(paths)))  # rounds, as hosts_main
        self.child = subprocess.Popen(self.hosts_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pids.append(self.child.pid)
        if self.pin is not None:
            for pid in self.pids:
                os.sched_setaffinity(pid, {self.pin})
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write((" ".join(paths) if self.kind == "c" else json.dumps(paths)) + "\n")
        self.child.stdin.flush()
        self.child.stdout.readline()  # all open

    def go(self) -> dict[str, Any]:
        """Run the closed loop and the paced runs: ``{"closed", "paced", "host_cpu", "server_cpu"}``."""
        assert self.child is not None and self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write("go\n")
        self.child.stdin.flush()
        line = self.child.stdout.readline()
        if self.kind != "c":
            result: dict[str, Any] = json.loads(line)
            return result
        word, host_cpu, server_cpu = line.split()
        assert word == "done", line
        paced: dict[int, list[float]] = {}
        closed: list[float] = []
        for phase in self.out.read_text().splitlines():
            name, *values = phase.split(" ")
            if name == "closed":
                closed = [float(v) for v in values]
            else:
                paced[int(values[0])] = [float(v) for v in values[1:]]
        self.out.unlink()
        return {"closed": closed, "paced": paced, "host_cpu": float(host_cpu), "server_cpu": float(server_cpu)}

    def finish(self) -> dict[str, Any]:
        if self.child is not None:
            assert self.child.stdin is not None
            self.child.stdin.close()
            self.child.wait(30)
        return self.server.finish()


# --- the emulator side (this process) --------------------------------------------------------------


class Farm:
    """N modules on one loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.parts: list[tuple[object, ...]] = []

    def call(self, fn, *args):  # type: ignore[no-untyped-def]
        future: concurrent.futures.Future[object] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(60)

    def build(self, n: int, port: int) -> list[str]:
        from emulator.core.module import Module
        from emulator.profiles import load_profile
        from emulator.runtime.clocks import SystemClock
        from emulator.runtime.driver import AsyncioScheduler, ModuleDriver
        from emulator.runtime.links import PeerLinks
        from emulator.runtime.resolve import Resolver
        from emulator.transports.pty import PtyTransport

        profile = load_profile("NL668_AM_00")
        clock = SystemClock()
        resolver = Resolver.from_specs([f"{HOST}:443=127.0.0.1:{port}"])
        self.scheduler = AsyncioScheduler(self.loop, clock)
        paths = []
        for _ in range(n):
            module = Module(profile, clock)
            transport = PtyTransport(self.loop)
            driver = ModuleDriver(module, write=transport.write, scheduler=self.scheduler,
                                  name=transport.device_path)
            links = PeerLinks(self.loop, resolver, driver.deliver, name=transport.device_path)
            driver.links = links
            transport.flow = links.hold
            transport.start(driver.feed)
            driver.start()
            self.parts.append((transport, driver, links))
            paths.append(transport.device_path)
        return paths

    def teardown(self) -> None:
        async def closed() -> None:
            for transport, driver, links in self.parts:
                transport.close()  # type: ignore[attr-defined]
                driver.close()  # type: ignore[attr-defined]
            self.scheduler.close()
            for _, _, links in self.parts:
                await links.wait_closed()  # type: ignore[attr-defined]

        asyncio.run_coroutine_threadsafe(closed(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def run_size(n: int, loadgen: str = "python") -> dict[str, Any]:
    gen = LoadGen(loadgen)
    try:
        farm = Farm()
        rss0 = rss_bytes()
        paths = farm.call(farm.build, n, gen.port)
        gen.open(paths)
        time.sleep(0.2)  # let the handshakes' garbage go
        per_module = (rss_bytes() - rss0) / n
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        result = gen.go()
        emu_cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - t0
        farm.teardown()
    finally:
        gen.finish()
    closed, paced_by_rate = result["closed"], {int(k): v for k, v in result["paced"].items()}
    paced = paced_by_rate[PACED_RATES[0]]
    return {"n": n, "closed_p50_ms": median(closed) * 1e3, "closed_p99_ms": percentile(closed, 99) * 1e3,
            "paced_p50_ms": median(paced) * 1e3, "paced_p99_ms": percentile(paced, 99) * 1e3,
            "paced_p99_ms_by_rate": {rate: percentile(v, 99) * 1e3 for rate, v in paced_by_rate.items()},
            "rss_per_module_MB": per_module / 1e6, "samples": len(closed),
            # CPU per closed-loop round trip on each side: what bounds the closed-loop latency at large N
            # (N round trips in flight queue behind each other: p50 ~ N x the busier side's CPU per trip).
            "emu_cpu_us_per_rt": emu_cpu / (len(closed) + sum(map(len, paced_by_rate.values()))) * 1e6,
            "host_cpu_us_per_rt": result["host_cpu"] / len(closed) * 1e6,
            "server_cpu_us_per_rt": result["server_cpu"] / len(closed) * 1e6, "wall_s": wall}


def after_first_round(closed: list[float], n: int) -> list[float]:
    """The closed loop's latencies without each host's first round. ``closed`` is host-major (each host's rounds
    in order, as both load generators report them). Why a second figure: the first round is the synchronized
    start, all N hosts' first command at once, and its latencies alone were the run's top 1 %: with 20 rounds a
    host, round 0 is 5 % of the samples and its median was 1.3-1.6x the later rounds' (bench/RESULTS.md,
    "Fourth look"). The target is judged on every round, as before; this says what the steady loop gives."""
    rounds = len(closed) // n
    return [closed[h * rounds + j] for h in range(n) for j in range(1, rounds)]


def worker_rss(pids: list[int]) -> int:
    """Resident set size of the worker processes, summed (bytes)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


#: ``--pin`` layouts (cores of a 2-core machine): emulator workers, then the load generator (hosts + server)
PINS: dict[str, tuple[list[set[int]] | None, set[int] | None]] = {
    "none": (None, None),
    "split": ([{0}], {1}),  # every worker on core 0, the load generator on core 1
    "workers": ([{0}, {1}], None),  # worker w on core w, the load generator wherever the OS puts it
}


def run_workers(n: int, k: int, loadgen: str = "c", pin: str = "none", root: str | None = None) -> dict[str, Any]:
    """The same load against ``nl668-emu --modules N --workers K`` (PTYs), instead of one in-process loop.

    ``root``: the emulator of that tree (``--ab``) instead of this one's.
    """
    worker_cores, gen_cores = PINS[pin]
    load_before = list(os.getloadavg())
    gen = LoadGen(loadgen, pin=min(gen_cores) if gen_cores else None)
    env = None if root is None else {**os.environ, "PYTHONPATH": root}
    emu = subprocess.Popen([sys.executable, "-m", "emulator", "--modules", str(n), "--workers", str(k), "--resolve",
                            f"{HOST}:443=127.0.0.1:{gen.port}"], stdout=subprocess.PIPE, text=True,
                           cwd=root or common.EMULATOR_ROOT, env=env)
    assert emu.stdout is not None
    try:
        banner = [emu.stdout.readline() for _ in range(n + k)]
        paths = [line.rsplit(" on ", 1)[1].split()[0] for line in banner[:n]]
        pids = [int(line.split("(pid ")[1].split(")")[0]) for line in banner[n:]]
        if worker_cores:
            for w, pid in enumerate(pids):
                os.sched_setaffinity(pid, worker_cores[w % len(worker_cores)])
        rss_idle = worker_rss(pids)
        gen.open(paths)
        time.sleep(0.2)
        rss_open = worker_rss(pids)
        cpu0, wall0, ticks0 = [process_cpu_seconds(pid) for pid in pids], time.perf_counter(), cpu_ticks()
        result = gen.go()
        wall, split = time.perf_counter() - wall0, machine_split(ticks0, cpu_ticks())
        emu_cpus = [process_cpu_seconds(pid) - c0 for pid, c0 in zip(pids, cpu0)]
    finally:
        emu.send_signal(signal.SIGTERM)
        emu.wait(30)
        served = gen.finish()
    load_after = list(os.getloadavg())
    closed = result["closed"]
    paced_by_rate = {int(k): v for k, v in result["paced"].items()}
    paced = paced_by_rate[PACED_RATES[0]]
    trips = len(closed) + sum(map(len, paced_by_rate.values()))
    return {"n": n, "workers": k, "loadgen": loadgen, "pin": pin, "suites": served.get("suites"), "tree": root or "",
            "machine_split": split,
            "setup": os.environ.get("SCALE_SETUP", ""),
            "closed_p50_ms": median(closed) * 1e3, "closed_p99_ms": percentile(closed, 99) * 1e3,
            "closed_p99_after_first_round_ms": percentile(after_first_round(closed, n), 99) * 1e3,
            "closed_rt_per_s": len(closed) / sum(closed) * n if closed else 0.0,
            "paced_p50_ms": median(paced) * 1e3, "paced_p99_ms": percentile(paced, 99) * 1e3,
            "paced_p99_ms_by_rate": {rate: percentile(v, 99) * 1e3 for rate, v in paced_by_rate.items()},
            "rss_per_open_socket_MB": (rss_open - rss_idle) / n / 1e6, "rss_total_per_module_MB": rss_open / n / 1e6,
            "emu_cpu_us_per_rt": sum(emu_cpus) / trips * 1e6,
            "emu_cpu_share": [round(c / wall, 3) for c in emu_cpus],  # of a core, each worker, whole run
            "host_cpu_us_per_rt": result["host_cpu"] / len(closed) * 1e6,
            "server_cpu_us_per_rt": result["server_cpu"] / len(closed) * 1e6,
            "samples": len(closed),
            "load_average_before": load_before, "load_average": load_after}


def default_loadgen() -> str:
    """The C load generator when it builds here, else the Python one (and why, on stderr)."""
    built = build_c()
    if isinstance(built, str):
        print(f"scale.py: the Python load generator ({built})", file=sys.stderr)
        return "python"
    return "c"


def worker_row(row: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    by_rate = row["paced_p99_ms_by_rate"]
    n, k = row["n"], row["workers"]
    return [
        (f"N={n} --workers {k}, {row['loadgen']} load generator, pin {row['pin']}"
         + (f", setup {row['setup']}" if row["setup"] else ""),
         f"closed-loop p50 {row['closed_p50_ms']:.2f} ms p99 {row['closed_p99_ms']:.2f} ms"
         f" ({row['closed_rt_per_s']:,.0f} round trips/s); without the first round (the synchronized start)"
         f" p99 {row['closed_p99_after_first_round_ms']:.2f} ms",
         f"target p99 < 50 ms: {'met' if row['closed_p99_ms'] < 50 else 'MISSED'}",
         f"CPU/round trip: emulator {row['emu_cpu_us_per_rt']:.0f} us (both workers;"
         f" {'/'.join(f'{x:.2f}' for x in row['emu_cpu_share'])} of a core), hosts {row['host_cpu_us_per_rt']:.0f} us,"
         f" server {row['server_cpu_us_per_rt']:.0f} us"),
        ("paced", "p99 " + ", ".join(f"{by_rate[r]:.1f} ms at {r}/s" for r in PACED_RATES), "", ""),
        ("memory", f"{row['rss_per_open_socket_MB']:.3f} MB per open socket",
         f"{row['rss_total_per_module_MB']:.2f} MB per module with the workers' whole RSS", ""),
        ("load average before -> after", " ".join(f"{x:.2f}" for x in row["load_average_before"]) + " -> "
         + " ".join(f"{x:.2f}" for x in row["load_average"]), f"suites {row['suites']}",
         describe_split(row["machine_split"])),
    ]


def main_workers(n: int = 256, k: int = 2, loadgens: tuple[str, ...] = ("c",), pins: tuple[str, ...] = ("none",),
                 ab_root: str | None = None) -> None:
    """One run per entry of ``loadgens`` x ``pins`` (``("python", "c", "python", "c")``: an A/B in one session).

    ``ab_root`` (``--ab PATH``): each run is followed by the same run against that tree's emulator (a ``git
    worktree`` of another commit), and the pair's ratios are printed. The VM's speed drifts by 1.5x within
    minutes, so only runs side by side compare; the emulator's CPU a round trip is the steadiest figure of a pair.
    """
    raise_nofile()
    rows = []
    for kind, pin in ((kind, pin) for kind in loadgens for pin in pins):
        row = run_workers(n, k, kind, pin)
        report(f"Scale: N={n} modules, --workers {k}, TLS echo round trips", worker_row(row))
        rows.append(row)
        if ab_root is not None:
            other = run_workers(n, k, kind, pin, root=ab_root)
            report(f"Scale: the same against {ab_root}", worker_row(other))
            rows.append(other)
            print(f"  A/B this tree / that tree | CPU a round trip {row['emu_cpu_us_per_rt'] / other['emu_cpu_us_per_rt']:.3f}"
                  f" | round trips/s {row['closed_rt_per_s'] / other['closed_rt_per_s']:.3f}"
                  f" | p99 {row['closed_p99_ms']:.1f} vs {other['closed_p99_ms']:.1f} ms"
                  f" (after the first round {row['closed_p99_after_first_round_ms']:.1f}"
                  f" vs {other['closed_p99_after_first_round_ms']:.1f})")
    # the last run's figures, as before; an A/B keeps every run (in order) too
    record("scale_workers", rows[-1] if len(rows) == 1 else {**rows[-1], "runs": rows})


def main() -> None:
    raise_nofile()
    sys.path.insert(0, str(common.ROOT))
    # Warm the imports and OpenSSL once so N=1 does not carry the process's one-off costs.
    import emulator.runtime.links  # noqa: F401
    import emulator.tls.session  # noqa: F401

    loadgen = default_loadgen()
    rows = [run_size(n, loadgen) for n in SIZES]
    base = rows[0]
    out = []
    for row in rows:
        out.append((f"N={row['n']:>3}", f"closed-loop p50 {row['closed_p50_ms']:.2f} ms p99 {row['closed_p99_ms']:.2f} ms;"
                    f" paced 10/s p50 {row['paced_p50_ms']:.2f} ms p99 {row['paced_p99_ms']:.2f} ms",
                    f"{row['rss_per_module_MB']:.2f} MB/module; CPU/round trip emulator"
                    f" {row['emu_cpu_us_per_rt']:.0f} us, hosts {row['host_cpu_us_per_rt']:.0f} us,"
                    f" server {row['server_cpu_us_per_rt']:.0f} us",
                    f"p99 {row['closed_p99_ms'] / base['closed_p99_ms']:.1f}x of N=1"))
    top = rows[-1]
    by_rate = top["paced_p99_ms_by_rate"]
    out.append((f"N={top['n']} paced", "p99 " + ", ".join(f"{by_rate[r]:.1f} ms at {r}/s" for r in PACED_RATES),
                "round trips a second per module", ""))
    fits = [r for r in PACED_RATES if by_rate[r] < 50]
    capacity = f"{max(fits) * top['n']:,} round trips/s in total" if fits else "none of the rates"
    out.append(("capacity", f"p99 < 50 ms with {top['n']} modules up to {capacity}",
                f"closed loop reached {top['n'] / (top['closed_p50_ms'] / 1e3):,.0f}/s", ""))
    out.append(("target 256", f"p99 < 50 ms: closed {'met' if top['closed_p99_ms'] < 50 else 'MISSED'},"
                f" paced {'met' if top['paced_p99_ms'] < 50 else 'MISSED'}",
                f"< 2 MB/module: {'met' if top['rss_per_module_MB'] < 2 else 'MISSED'}", ""))
    report("Scale: N modules, one loop, TLS echo round trips", out)
    record("scale", {"sizes": rows, "loadgen": loadgen})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--hosts"]:
        raise_nofile()
        asyncio.run(hosts_main(int(sys.argv[2])))
    else:
        import argparse

        parser = argparse.ArgumentParser(description="Scale: N modules doing TLS echo round trips")
        parser.add_argument("--workers", type=int, help="only the run against nl668-emu --workers K")
        parser.add_argument("n", type=int, nargs="?", default=256, help="modules of the --workers run")
        parser.add_argument("--loadgen", choices=("c", "python", "ab"), help="default: c if it builds here;"
                            " ab: python, c, python, c in one session")
        parser.add_argument("--pin", default="none", help="CPU affinity, an experiment: " + ", ".join(PINS)
                            + "; several, comma-separated, alternate in one run")
        parser.add_argument("--repeat", type=int, default=1, help="runs of each load generator")
        parser.add_argument("--ab", metavar="PATH", help="with --workers: each run followed by one against the"
                            " emulator of that tree (a git worktree of another commit), and the pair's ratios")
        parser.add_argument("--setup", help="an AT line each host sends after ATE0 (e.g. AT+GTSSLVER=4;+GTSSLCIPHER=7,1);"
                            " several, separated by '|', alternate in one run (an empty one: the defaults)")
        args = parser.parse_args()
        kinds = ("python", "c") if args.loadgen == "ab" else (args.loadgen or default_loadgen(),)
        if args.workers is not None and args.setup is not None:
            for _ in range(args.repeat):
                for line in args.setup.split("|"):
                    os.environ["SCALE_SETUP"] = SETUP = line  # read by both hosts (children)
                    main_workers(args.n, args.workers, kinds, tuple(args.pin.split(",")))
        elif args.workers is not None:
            main_workers(args.n, args.workers, kinds * args.repeat, tuple(args.pin.split(",")),
                         os.path.abspath(args.ab) if args.ab else None)
        else:
            main()
            main_workers(256, 2, kinds)

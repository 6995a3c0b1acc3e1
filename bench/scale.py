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

import common  # noqa: I001
from common import TlsServerProcess, median, percentile, process_cpu_seconds, record, report, rss_bytes

HOST = "bench.example.test"
SIZES = (1, 16, 64, 256)
#: Round trips a second per module for the paced runs, two seconds each: the highest rate at which the
#: p99 of 256 modules stays under 50 ms is the farm's capacity on this machine.
PACED_RATES = (10, 15, 20)


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


def run_size(n: int) -> dict[str, float]:
    server = TlsServerProcess()
    child = subprocess.Popen([sys.executable, __file__, "--hosts", str(server.pid)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        port = server.port
        farm = Farm()
        rss0 = rss_bytes()
        paths = farm.call(farm.build, n, port)
        child.stdin.write(json.dumps(paths) + "\n")
        child.stdin.flush()
        json.loads(child.stdout.readline())  # all open
        time.sleep(0.2)  # let the handshakes' garbage go
        per_module = (rss_bytes() - rss0) / n
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        child.stdin.write("go\n")
        child.stdin.flush()
        result = json.loads(child.stdout.readline())
        emu_cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - t0
        farm.teardown()
    finally:
        child.stdin.close()
        child.wait(30)
        server.finish()
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


def worker_rss(pids: list[int]) -> int:
    """Resident set size of the worker processes, summed (bytes)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def run_workers(n: int, k: int) -> dict[str, float]:
    """The same load against ``nl668-emu --modules N --workers K`` (PTYs), instead of one in-process loop."""
    server = TlsServerProcess()
    emu = subprocess.Popen([sys.executable, "-m", "emulator", "--modules", str(n), "--workers", str(k), "--resolve",
                            f"{HOST}:443=127.0.0.1:{server.port}"], stdout=subprocess.PIPE, text=True,
                           cwd=common.EMULATOR_ROOT)
    child = subprocess.Popen([sys.executable, __file__, "--hosts", str(server.pid)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert emu.stdout is not None and child.stdin is not None and child.stdout is not None
    try:
        banner = [emu.stdout.readline() for _ in range(n + k)]
        paths = [line.rsplit(" on ", 1)[1].split()[0] for line in banner[:n]]
        pids = [int(line.split("(pid ")[1].split(")")[0]) for line in banner[n:]]
        rss_idle = worker_rss(pids)
        child.stdin.write(json.dumps(paths) + "\n")
        child.stdin.flush()
        json.loads(child.stdout.readline())  # all open
        time.sleep(0.2)
        rss_open = worker_rss(pids)
        cpu0 = sum(process_cpu_seconds(pid) for pid in pids)
        child.stdin.write("go\n")
        child.stdin.flush()
        result = json.loads(child.stdout.readline())
        emu_cpu = sum(process_cpu_seconds(pid) for pid in pids) - cpu0
    finally:
        child.stdin.close()
        child.wait(30)
        emu.send_signal(signal.SIGTERM)
        emu.wait(30)
        server.finish()
    closed, paced_by_rate = result["closed"], {int(k): v for k, v in result["paced"].items()}
    paced = paced_by_rate[PACED_RATES[0]]
    return {"n": n, "workers": k, "closed_p50_ms": median(closed) * 1e3, "closed_p99_ms": percentile(closed, 99) * 1e3,
            "paced_p50_ms": median(paced) * 1e3, "paced_p99_ms": percentile(paced, 99) * 1e3,
            "paced_p99_ms_by_rate": {rate: percentile(v, 99) * 1e3 for rate, v in paced_by_rate.items()},
            "rss_per_open_socket_MB": (rss_open - rss_idle) / n / 1e6, "rss_total_per_module_MB": rss_open / n / 1e6,
            "emu_cpu_us_per_rt": emu_cpu / (len(closed) + sum(map(len, paced_by_rate.values()))) * 1e6,
            "host_cpu_us_per_rt": result["host_cpu"] / len(closed) * 1e6, "samples": len(closed),
            "load_average": list(os.getloadavg())}


def main_workers(n: int = 256, k: int = 2) -> None:
    raise_nofile()
    row = run_workers(n, k)
    by_rate = row["paced_p99_ms_by_rate"]
    report(f"Scale: N={n} modules, --workers {k}, TLS echo round trips", [
        (f"N={n} --workers {k}", f"closed-loop p50 {row['closed_p50_ms']:.2f} ms p99 {row['closed_p99_ms']:.2f} ms",
         f"target p99 < 50 ms: {'met' if row['closed_p99_ms'] < 50 else 'MISSED'}",
         f"emulator CPU {row['emu_cpu_us_per_rt']:.0f} us/round trip (both workers)"),
        ("paced", "p99 " + ", ".join(f"{by_rate[r]:.1f} ms at {r}/s" for r in PACED_RATES), "", ""),
        ("memory", f"{row['rss_per_open_socket_MB']:.3f} MB per open socket",
         f"{row['rss_total_per_module_MB']:.2f} MB per module with the workers' whole RSS", ""),
        ("load average during the run", " ".join(f"{x:.2f}" for x in row["load_average"]), "", ""),
    ])
    record("scale_workers", row)


def main() -> None:
    raise_nofile()
    sys.path.insert(0, str(common.ROOT))
    # Warm the imports and OpenSSL once so N=1 does not carry the process's one-off costs.
    import emulator.runtime.links  # noqa: F401
    import emulator.tls.session  # noqa: F401

    rows = [run_size(n) for n in SIZES]
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
    record("scale", {"sizes": rows})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--hosts"]:
        raise_nofile()
        asyncio.run(hosts_main(int(sys.argv[2])))
    elif sys.argv[1:2] == ["--workers"]:  # only the K-process run: --workers K [N]
        main_workers(int(sys.argv[3]) if len(sys.argv) > 3 else 256, int(sys.argv[2]))
    else:
        main()
        main_workers(256, 2)

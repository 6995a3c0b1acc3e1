"""Fleet figures (issue 15): emulated modules under Locust, master + 2 local workers on this machine.

* **paced**: 1,000 modules (users), each with an open TLS socket doing 1 echo round trip a second
  (``tls-echo``, 16 bytes) against the TLS echo server in its own process (:class:`common.TlsServerProcess`).
  Statistics are reset ``SETTLE`` seconds after every user has spawned and the run goes on for
  ``PACED_SECONDS``: p50/p99 of ``+MIPSEND round trip`` in the steady state, from the master's CSV. Memory per module: the two
  workers' RSS growth from before the spawn to the end, divided by the modules (module, user, greenlet,
  AtClient: what a fleet costs per device).
* **reconnect storm**: 1,000 modules with an open socket; at one wall-clock instant every module's PDP context
  is dropped (``reconnect-storm``) and each driver reconnects (``+MIPCALL=1``, ``+MIPOPEN``). Figures: the
  ``reconnect`` requests (the storm's instant -> ``+MIPOPEN: 1,1``): count, failures, p50, and the maximum =
  the time to the last ``+MIPOPEN: 1,1``.

TLS 1.2 with AES128-SHA256 (``--nl668-at AT+GTSSLVER=4;+GTSSLCIPHER=7,1``), as tls_handshake.py uses (scale.py
keeps the profile's default, TLS 1.0 DHE-RSA-AES256-SHA, for comparability with its earlier figures): the
profiles' default DHE suites cost ~10 ms of CPU a handshake on each side, which would make the storm a
measure of modular exponentiation.

* **design** (A/B): why the modules run in the Locust worker's process on a real OS thread and not in a
  process of their own behind a socket (:func:`design`).

``python bench/fleet.py [paced|storm|design] [N]``; no argument runs all three.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.argv[1:2] == ["design"]:  # the design A/B runs as Locust users do
    from gevent import monkey

    monkey.patch_all()

import csv
import json
import os
import queue
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

import common  # noqa: I001
from common import TlsServerProcess, cpu_ticks, describe_split, machine_split, record, report

LOCUSTFILE = common.EMULATOR_ROOT / "emulator" / "fleet" / "locustfile.py"
#: The shipped user, plus a master-side reset of the statistics SETTLE seconds after the last user spawned:
#: the paced figure is the steady state, not the ramp (builds, handshakes and their garbage while users
#: spawn; Locust's own --reset-stats resets at the moment the last user starts).
SETTLED_LOCUSTFILE = """
import os

import gevent
from locust import events
from locust.runners import MasterRunner

from emulator.fleet.users import FleetUser

_env = []


@events.init.add_listener
def _keep(environment, **kwargs):
    _env.append(environment)


@events.spawning_complete.add_listener
def _settle(user_count, **kwargs):
    runner = _env[0].runner
    if isinstance(runner, MasterRunner):
        gevent.spawn_later(float(os.environ.get("FLEET_SETTLE", "10")), runner.stats.reset_all)
"""
SETTLE = 10
HOST = "fleet.example.test"
SETUP = "AT+GTSSLVER=4;+GTSSLCIPHER=7,1"
PACED_SECONDS = int(os.environ.get("FLEET_PACED_SECONDS", 30))
STORM_PERIOD = int(os.environ.get("FLEET_STORM_PERIOD", 40))
WORKERS = 2
#: What the master logs when the last expected worker has connected (locust/runners.py, Locust pinned in
#: pyproject.toml): every worker has imported Locust and the emulator and built its runner, and no user is
#: spawned yet (the master's --expect-workers loop looks again once a second).
ALL_CONNECTED = f"reported as ready. {WORKERS} workers connected.".encode()
CONNECT_DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tee(stream: IO[bytes], log: Path, marker: bytes, seen: queue.Queue[bool]) -> None:
    """Copy a process's stderr to its log file; put True in ``seen`` at the first line holding ``marker``, or
    False if the stream ends first (the process died: the log says why)."""
    found = False
    with stream, log.open("wb") as out:
        for line in stream:
            out.write(line)
            out.flush()
            if not found and marker in line:
                found = True
                seen.put(True)
    if not found:
        seen.put(False)


def rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Fleet:
    """A Locust master and WORKERS workers on 127.0.0.1, headless, writing CSV stats to a temp dir."""

    def __init__(self, users: int, rate: int, run_time: int, options: list[str], server_port: int,
                 settle: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nl668-fleet-"))
        port = free_port()
        locustfile = LOCUSTFILE
        if settle:
            locustfile = self.dir / "settled_locustfile.py"
            locustfile.write_text(SETTLED_LOCUSTFILE)
        locust = [sys.executable, "-m", "locust", "-f", str(locustfile)]
        env = {**os.environ, "PYTHONPATH": str(common.EMULATOR_ROOT), "FLEET_SETTLE": str(SETTLE)}
        self.workers = [subprocess.Popen([*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                         stdout=subprocess.DEVNULL, stderr=(self.dir / f"worker{i}.log").open("wb"),
                                         env=env, cwd=common.EMULATOR_ROOT) for i in range(WORKERS)]
        self.master = subprocess.Popen(
            [*locust, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--expect-workers", str(WORKERS), "--headless", "-u", str(users), "-r", str(rate), "-t", f"{run_time}s",
             "--csv", str(self.dir / "fleet"), "--only-summary", "--host", f"tls://{HOST}:443",
             "--nl668-resolve", f"{HOST}:443=127.0.0.1:{server_port}", "--nl668-at", SETUP, *options],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=common.EMULATOR_ROOT)
        # The workers' baseline RSS: once every worker is connected and before the first user spawns (the master
        # says so), not after a guessed sleep.
        connected: queue.Queue[bool] = queue.Queue()
        assert self.master.stderr is not None
        threading.Thread(target=tee, args=(self.master.stderr, self.dir / "master.log", ALL_CONNECTED, connected),
                         daemon=True).start()
        try:
            ok = connected.get(timeout=CONNECT_DEADLINE)
        except queue.Empty:
            ok = False
        if not ok:
            for proc in (self.master, *self.workers):
                proc.kill()
            raise RuntimeError(f"the Locust workers did not connect; logs in {self.dir}")
        self.rss0 = [rss(w.pid) for w in self.workers]
        self.peak = list(self.rss0)
        self.cpu0 = [common.process_cpu_seconds(w.pid) for w in self.workers]
        self.cpu = list(self.cpu0)
        self.t0 = time.monotonic()
        self.elapsed = 0.0
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while self.master.poll() is None:
            self.peak = [max(p, rss(w.pid)) for p, w in zip(self.peak, self.workers)]
            try:
                self.cpu = [common.process_cpu_seconds(w.pid) for w in self.workers]
                self.elapsed = time.monotonic() - self.t0
            except OSError:
                pass
            time.sleep(0.5)

    def worker_cpu_share(self) -> list[float]:
        """Each worker's CPU over the run, as a share of one core."""
        return [(c - c0) / max(self.elapsed, 1e-9) for c, c0 in zip(self.cpu, self.cpu0)]

    def wait(self, timeout: float) -> dict[tuple[str, str], dict[str, str]]:
        self.master.wait(timeout)
        for worker in self.workers:
            worker.wait(60)
        self._sampler.join(5)
        with open(self.dir / "fleet_stats.csv", newline="") as f:
            return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}

    def failures(self) -> list[dict[str, str]]:
        with open(self.dir / "fleet_failures.csv", newline="") as f:
            return list(csv.DictReader(f))


def paced(n: int = 1000) -> dict[str, object]:
    server = TlsServerProcess()
    try:
        load0, ticks0 = os.getloadavg(), cpu_ticks()
        fleet = Fleet(n, 100, n // 100 + SETTLE + PACED_SECONDS, ["--nl668-scenario", "tls-echo", "--nl668-rate", "1"],
                      server.port, settle=True)
        stats = fleet.wait(n // 100 + SETTLE + PACED_SECONDS + 120)
        load1, split = os.getloadavg(), machine_split(ticks0, cpu_ticks())
    finally:
        server.finish()
    echo = stats[("TLS", "+MIPSEND round trip")]
    growth = sum(p - r for p, r in zip(fleet.peak, fleet.rss0))
    figures = {"modules": n, "round_trips": int(echo["Request Count"]), "failures": int(echo["Failure Count"]),
               "rt_per_s": float(echo["Requests/s"]), "p50_ms": float(echo["50%"]), "p99_ms": float(echo["99%"]),
               "max_ms": float(echo["Max Response Time"]), "rss_per_module_MB": growth / n / 1e6,
               "worker_rss_MB": [p / 1e6 for p in fleet.peak], "worker_cpu_share": fleet.worker_cpu_share(),
               "load_average_before": list(load0),
               "load_average_after": list(load1), "machine_split": split, "failure_names": fleet.failures(),
               "dir": str(fleet.dir)}
    report(f"Fleet: {n} modules paced at 1 echo round trip/s, Locust master + {WORKERS} workers", [
        ("+MIPSEND round trip", f"p50 {figures['p50_ms']:.0f} ms, p99 {figures['p99_ms']:.0f} ms, max {figures['max_ms']:.0f} ms",
         f"{figures['round_trips']} round trips, {figures['failures']} failed, {figures['rt_per_s']:.0f}/s",
         f"target p99 < 50 ms: {'met' if figures['p99_ms'] < 50 else 'MISSED'}"),
        ("memory per module", f"{figures['rss_per_module_MB']:.3f} MB", "workers' RSS growth / modules",
         f"target < 1 MB: {'met' if figures['rss_per_module_MB'] < 1 else 'MISSED'}"),
        ("load average", f"before {load0[0]:.2f}, after {load1[0]:.2f}",
         "workers' CPU " + ", ".join(f"{c:.0%}" for c in fleet.worker_cpu_share()) + " of a core (whole run)",
         describe_split(split)),
    ])
    record("fleet_paced", figures)
    return figures


def storm(n: int = 1000) -> dict[str, object]:
    server = TlsServerProcess()
    try:
        # Start right after a storm boundary: every module is up long before the next one (STORM_PERIOD s).
        time.sleep((STORM_PERIOD - time.time() % STORM_PERIOD + 0.5) % STORM_PERIOD)
        load0, ticks0 = os.getloadavg(), cpu_ticks()
        server_cpu0 = server.cpu_seconds()
        fleet = Fleet(n, 250, STORM_PERIOD + 15,  # one storm: the users start ~2.5 s after the boundary
                      ["--nl668-scenario", "reconnect-storm", "--nl668-storm-period", str(STORM_PERIOD)], server.port)
        stats = fleet.wait(STORM_PERIOD + 180)
        server_cpu = server.cpu_seconds() - server_cpu0
        load1, split = os.getloadavg(), machine_split(ticks0, cpu_ticks())
    finally:
        server.finish()
    again = stats.get(("TLS", "reconnect"), {})
    opened = stats[("TLS", "+MIPOPEN handshake")]
    figures = {"modules": n, "opened": int(opened["Request Count"]), "open_failures": int(opened["Failure Count"]),
               "reconnects": int(again.get("Request Count", 0)), "reconnect_failures": int(again.get("Failure Count", 0)),
               "p50_ms": float(again.get("50%", "nan")), "p99_ms": float(again.get("99%", "nan")),
               "last_ms": float(again.get("Max Response Time", "nan")), "load_average_before": list(load0),
               # the TLS server's CPU for all the run's handshakes (n at the start, n in the storm): the
               # server side of a handshake (RSA private key) is one Python process's, like a small backend's
               "server_cpu_ms_per_handshake": server_cpu / max(1, int(opened["Request Count"])
                                                                + int(again.get("Request Count", 0))) * 1e3,
               "worker_cpu_share": fleet.worker_cpu_share(), "machine_split": split,
               "load_average_after": list(load1), "failure_names": fleet.failures(), "dir": str(fleet.dir)}
    report(f"Fleet: reconnect storm, {n} modules, Locust master + {WORKERS} workers", [
        ("drop -> +MIPOPEN: 1,1", f"last after {figures['last_ms'] / 1e3:.2f} s", f"p50 {figures['p50_ms']:.0f} ms,"
         f" p99 {figures['p99_ms']:.0f} ms", f"{figures['reconnects']} reconnected, {figures['reconnect_failures']} failed"),
        ("load average", f"before {load0[0]:.2f}, after {load1[0]:.2f}",
         f"TLS server CPU {figures['server_cpu_ms_per_handshake']:.2f} ms a handshake",
         describe_split(split)),
    ])
    record("fleet_storm", figures)
    return figures


def design(n: int = 64, rounds: int = 30) -> dict[str, object]:
    """The design A/B, in a gevent-patched process as a Locust worker is: N greenlets doing closed-loop TLS
    echo round trips through ``FleetModule`` (A: modules in this process on the real loop thread) and through
    the same AT client over pyserial ``socket://`` to ``nl668-emu --modules N --tcp`` (B: modules in their own
    process). CPU per round trip counts this process and, for B, the emulator's."""
    import resource

    import gevent
    import serial

    from emulator.at_client import AtClient
    from emulator.fleet.module import FleetModule

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    class Remote(FleetModule):
        def __init__(self, url: str) -> None:  # the same driver methods, over a socket
            self.report = lambda *a: None
            self.timeout = 30.0
            self.client = AtClient(serial.serial_for_url(url, timeout=1), timeout=30)  # type: ignore[arg-type]

    def run(mods: list[FleetModule], other_pid: int | None = None) -> dict[str, float]:
        for m in mods:
            m.at(SETUP)
        gevent.joinall([gevent.spawn(lambda m=m: (m.attach(), m.open_tls(HOST, 443))) for m in mods], raise_error=True)
        lat: list[float] = []

        def loop(m: FleetModule) -> None:
            for _ in range(rounds):
                t = time.perf_counter()
                assert m.echo(b"0123456789abcdef")
                lat.append(time.perf_counter() - t)

        c0, e0, t0 = cpu(), common.process_cpu_seconds(other_pid) if other_pid else 0.0, time.perf_counter()
        gevent.joinall([gevent.spawn(loop, m) for m in mods], raise_error=True)
        wall = time.perf_counter() - t0
        used = cpu() - c0 + (common.process_cpu_seconds(other_pid) - e0 if other_pid else 0.0)
        return {"rt_per_s": n * rounds / wall, "p50_ms": common.median(lat) * 1e3,
                "p99_ms": common.percentile(lat, 99) * 1e3, "cpu_us_per_rt": used / (n * rounds) * 1e6}

    server = TlsServerProcess()
    out: dict[str, list[dict[str, float]]] = {"in_process": [], "tcp_process": []}
    try:
        for _ in range(2):  # alternated, so the machine's load hits both alike
            mods = [FleetModule("NL668_AM_00", resolve=[f"{HOST}:443=127.0.0.1:{server.port}"]) for _ in range(n)]
            out["in_process"].append(run(mods))
            for m in mods:
                m.close()
            port_file = Path(tempfile.mkdtemp()) / "ports"
            emu = subprocess.Popen([sys.executable, "-m", "emulator", "--modules", str(n), "--tcp", "127.0.0.1:0",
                                    "--port-file", str(port_file), "--resolve", f"{HOST}:443=127.0.0.1:{server.port}"],
                                   stdout=subprocess.PIPE, cwd=common.EMULATOR_ROOT)
            assert emu.stdout is not None
            for _ in range(n):
                emu.stdout.readline()
            remotes: list[FleetModule] = [Remote(f"socket://127.0.0.1:{p}") for p in port_file.read_text().split()]
            out["tcp_process"].append(run(remotes, emu.pid))
            for r in remotes:
                r.client.port.close()
            emu.terminate()
            emu.wait(30)
    finally:
        server.finish()
    figures: dict[str, object] = {"modules": n, "rounds": rounds, **out, "load_average": list(os.getloadavg())}
    rows = []
    for name, runs in out.items():
        rows.append((name, ", ".join(f"{r['rt_per_s']:.0f} rt/s p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms"
                                     for r in runs),
                     "CPU/round trip " + ", ".join(f"{r['cpu_us_per_rt']:.0f} us" for r in runs), ""))
    report(f"Fleet design A/B under gevent, {n} modules closed loop", rows)
    record("fleet_design", figures)
    return figures


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    if which == "design":
        design(count if len(sys.argv) > 2 else 64)
    if which in ("paced", "all"):
        print(json.dumps(paced(count), default=str)[:2000])
    if which in ("storm", "all"):
        print(json.dumps(storm(count), default=str)[:2000])
    if which == "all":  # the A/B needs a gevent-patched process of its own
        subprocess.run([sys.executable, __file__, "design"], check=True)

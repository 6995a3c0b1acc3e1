"""A Locust master and two workers (separate processes, 127.0.0.1) run the shipped locustfile's ``tls-connect``
for 50 emulated modules against real local TLS servers; the master's CSV and JSON statistics are the evidence.

The servers run in this (unpatched) test process on the test servers' loop thread; every module, its asyncio
loop and its sockets live in the two Locust worker processes.
"""

from __future__ import annotations

import csv
from collections import Counter
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

import emulator.fleet
from emulator.lab.server import Lab
from emulator.servers.pki import pki_path
from emulator.servers.tls_servers import TlsServer

pytestmark = pytest.mark.integration

LOCUSTFILE = Path(emulator.fleet.__file__).with_name("locustfile.py")
USERS = 50
RUN_TIME = "4s"
DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def run_fleet(tmp_path: Path, *options: str) -> dict[str, Any]:
    """Master + 2 workers, headless, ``USERS`` users for ``RUN_TIME``; returns the master's statistics."""
    port = free_port()
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    prefix = tmp_path / "fleet"
    logs = [tmp_path / f"{name}.log" for name in ("master", "worker0", "worker1")]
    with ExitStack() as files, _processes() as procs:
        err = [files.enter_context(log.open("wb")) for log in logs]
        procs.append(subprocess.Popen(
            [*locust, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--expect-workers", "2", "--expect-workers-max-wait", "30", "--headless", "-u", str(USERS),
             "-r", str(USERS), "-t", RUN_TIME, "--csv", str(prefix), "--json-file", str(prefix), "--only-summary",
             "--nl668-scenario", "tls-connect", *options],
            stdout=subprocess.DEVNULL, stderr=err[0]))
        for log in err[1:]:
            procs.append(subprocess.Popen(
                [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                stdout=subprocess.DEVNULL, stderr=log))
        try:
            code = procs[0].wait(DEADLINE)
            for worker in procs[1:]:
                worker.wait(DEADLINE)  # a worker quits when its master does
        except subprocess.TimeoutExpired:
            pytest.fail("the fleet did not finish:\n" + "\n".join(log.read_text()[-3000:] for log in logs))
    stats = json.loads(prefix.with_suffix(".json").read_text())
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(f"{prefix}_failures.csv", newline="") as f:
        failures = list(csv.DictReader(f))
    return {"code": code, "json": stats, "csv": rows, "failures": failures, "logs": logs}


def entry(result: dict[str, Any], method: str, name: str) -> dict[str, Any]:
    found = [e for e in result["json"] if e["method"] == method and e["name"] == name]
    assert found, (f"no {method} {name!r} in the statistics", [(e["method"], e["name"]) for e in result["json"]],
                   result["logs"][0].read_text()[-3000:])
    return found[0]


def csv_row(result: dict[str, Any], method: str, name: str) -> dict[str, str]:
    return next(r for r in result["csv"] if r["Type"] == method and r["Name"] == name)


def test_tls_connect_with_two_workers_has_only_successful_handshakes(tmp_path: Path) -> None:
    with TlsServer() as server:
        # TLS 1.2 with RSA key exchange (id 7): the default DHE suites cost ~10 ms of CPU a handshake on each
        # side, and 50 modules on a shared 2-core machine would then measure the queue, not the fleet.
        result = run_fleet(tmp_path, "--host", f"tls://fleet.example.test:{server.port}",
                           "--nl668-resolve", "fleet.example.test=127.0.0.1",
                           "--nl668-at", "AT+GTSSLVER=4;+GTSSLCIPHER=7,1")
        handshakes = entry(result, "TLS", "+MIPOPEN handshake")
        # Each reported handshake is a real one at the server (whose loop may still be reading the last ones).
        deadline = time.monotonic() + 10
        while len(completed := [h for h in server.handshakes if h.version is not None]) < handshakes["num_requests"]:
            assert time.monotonic() < deadline, (len(completed), handshakes["num_requests"],
                                                 Counter(h.error for h in server.handshakes))
            time.sleep(0.05)
        suites = {(h.version, h.cipher) for h in completed}  # not those cut by the stop (no version)
    assert handshakes["num_requests"] >= USERS  # every module connected at least once in the run
    assert handshakes["num_failures"] == 0, result["failures"]
    row = csv_row(result, "TLS", "+MIPOPEN handshake")
    assert int(row["Request Count"]) == handshakes["num_requests"] and row["Failure Count"] == "0"
    assert entry(result, "AT", "AT+MIPCALL=")["num_requests"] == USERS  # one bring-up per module
    assert result["failures"] == []
    assert suites == {("TLSv1.2", "AES128-SHA256")}  # the --nl668-at setup reached every module of both workers
    assert result["code"] == 0


def test_tls_connect_to_an_expired_certificate_fails_with_45(tmp_path: Path) -> None:
    with Lab(["expired"]) as lab:
        port = lab.endpoint("expired").port
        result = run_fleet(tmp_path, "--host", f"tls://www.example.test:{port}",
                           "--nl668-resolve", "www.example.test=127.0.0.1", "--nl668-trust", str(pki_path("root-ca.pem")))
    handshakes = entry(result, "TLS", "+MIPOPEN handshake")
    assert handshakes["num_requests"] >= USERS
    assert handshakes["num_failures"] == handshakes["num_requests"]
    named = {(f["Method"], f["Name"], f["Error"]): int(f["Occurrences"]) for f in result["failures"]}
    assert named == {("TLS", "+MIPOPEN handshake", "+GTSSLERR: 45"): handshakes["num_failures"]}
    assert entry(result, "AT", "AT+GTSSLFILE=")["num_failures"] == 0  # the trust file went in on every module
    assert result["code"] == 1  # Locust's exit code when any request failed


def test_reconnect_storm_in_one_locust_process(tmp_path: Path) -> None:
    """The storm scenario as shipped: every 2 s of wall-clock time each module loses its PDP context and
    reconnects; each recovery is one ``TLS reconnect`` request, timed to ``+MIPOPEN: 1,1``."""
    prefix = tmp_path / "storm"
    with TlsServer() as server:
        proc = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "10", "-r", "10", "-t", "5s",
             "--host", f"tls://fleet.example.test:{server.port}", "--nl668-resolve", "fleet.example.test=127.0.0.1",
             "--nl668-at", "AT+GTSSLVER=4;+GTSSLCIPHER=7,1", "--nl668-scenario", "reconnect-storm",
             "--nl668-storm-period", "2", "--json-file", str(prefix), "--only-summary"],
            capture_output=True, timeout=DEADLINE)
    stats = {(e["method"], e["name"]): e for e in json.loads(prefix.with_suffix(".json").read_text())}
    assert stats[("TLS", "+MIPOPEN handshake")]["num_requests"] == 10, proc.stderr[-3000:]
    reconnects = stats[("TLS", "reconnect")]
    assert reconnects["num_requests"] >= 10 and reconnects["num_failures"] == 0  # every module, at least once
    # one attach at start and one per recovery (and one more for a recovery the stop cut short)
    assert stats[("AT", "AT+MIPCALL=")]["num_requests"] >= 10 + reconnects["num_requests"]
    assert proc.returncode == 0

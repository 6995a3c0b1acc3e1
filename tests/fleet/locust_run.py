"""Running the shipped locustfile as a user does: a Locust master and two workers as separate processes on
127.0.0.1, headless, and the master's CSV and JSON statistics read back (tests/fleet and tests/e2e use it)."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

import emulator.fleet

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

"""A Locust master and two workers (separate processes, 127.0.0.1) run the shipped locustfile's ``tls-connect``
for 50 emulated modules against real local TLS servers; the master's CSV and JSON statistics are the evidence.

The servers run in this (unpatched) test process on the test servers' loop thread; every module, its asyncio
loop and its sockets live in the two Locust worker processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.lab.server import Lab
from emulator.servers.pki import pki_path
from emulator.servers.tls_servers import TlsServer
from tests.fleet.locust_run import DEADLINE, LOCUSTFILE, USERS, csv_row, entry, run_fleet

pytestmark = pytest.mark.integration


def test_tls_connect_with_two_workers_has_only_successful_handshakes(tmp_path: Path) -> None:
    with TlsServer() as server:
        # TLS 1.2 with RSA key exchange (id 7): the default DHE suites cost ~10 ms of CPU a handshake on each
        # side, and 50 modules on a shared 2-core machine would then measure the queue, not the fleet.
        result = run_fleet(tmp_path, "--host", f"tls://fleet.example.test:{server.port}",
                           "--nl668-resolve", "fleet.example.test=127.0.0.1",
                           "--nl668-at", "AT+GTSSLVER=4;+GTSSLCIPHER=7,1")
        handshakes = entry(result, "TLS", "+MIPOPEN handshake")
        # Each reported handshake is a real one at the server (whose loop may still be reading the last ones);
        # those cut by the stop are recorded too, with no version.
        completed = server.wait_handshakes(handshakes["num_requests"], 10, where=lambda h: h.version is not None)
        suites = {(h.version, h.cipher) for h in completed}
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

"""A fleet meets a third-party backend: the shipped locustfile (a Locust master and two workers, separate
processes on 127.0.0.1) runs ``tls-connect`` for 50 emulated modules, a mix of two variants, against
Debian's mosquitto, whose TLS listener speaks TLS 1.2 only, as most brokers are configured today.

It is the story a backend team runs a fleet for: out of the box a module offers its ``+GTSSLVER`` default
(TLS 1.0 on these variants) and the broker refuses every one of them, named in Locust's failure table by the
code the module reports; with the fix a host team applies (``AT+GTSSLVER=4``) every handshake succeeds,
verified against the broker's chain, and the broker logs each connection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.servers.pki import pki_path
from tests.e2e.conftest import BROKER_NAME, BROKER_PORT, Broker
from tests.fleet.locust_run import USERS, entry, run_fleet

pytestmark = pytest.mark.integration

#: +GTSSLERR for a protocol_version alert (70) on both variants (profiles' [gtsslerr] tables: alert class)
PROTOCOL_VERSION = "+GTSSLERR: 70"


def fleet(broker: Broker, run_dir: Path, *extra: str) -> dict[str, object]:
    run_dir.mkdir()
    return run_fleet(run_dir, "--host", f"tls://{BROKER_NAME}:{BROKER_PORT}",
                     "--nl668-resolve", f"{BROKER_NAME}:{BROKER_PORT}=127.0.0.1:{broker.tls_port}",
                     "--nl668-trust", str(pki_path("root-ca.pem")),
                     "--nl668-profiles", "NL668_EU_00:50,M910:50", *extra)


def connections(broker: Broker) -> int:
    """Connections mosquitto has logged: it logs a TLS refusal at accept as a failed client connection instead of
    a new one."""
    log = broker.log.read_text(errors="replace")
    return log.count("New connection from 127.0.0.1") + log.count("Client connection from 127.0.0.1 failed")


def test_a_tls12_only_broker_refuses_the_default_and_takes_the_fix(broker: Broker, tmp_path: Path) -> None:
    before = connections(broker)

    refused = fleet(broker, tmp_path / "defaults")
    handshakes = entry(refused, "TLS", "+MIPOPEN handshake")
    assert handshakes["num_requests"] >= USERS, broker.log_tail()
    named = {(f["Method"], f["Name"], f["Error"]): int(f["Occurrences"]) for f in refused["failures"]}
    assert named == {("TLS", "+MIPOPEN handshake", PROTOCOL_VERSION): handshakes["num_requests"]}, named

    fixed = fleet(broker, tmp_path / "tls12", "--nl668-at", "AT+GTSSLVER=4")
    handshakes = entry(fixed, "TLS", "+MIPOPEN handshake")
    assert handshakes["num_requests"] >= USERS  # every module of both variants connected at least once
    assert handshakes["num_failures"] == 0 and fixed["failures"] == [], (fixed["failures"], broker.log_tail())
    assert entry(fixed, "AT", "AT+GTSSLFILE=")["num_failures"] == 0  # the trust file went in on every module
    assert fixed["code"] == 0

    # The broker saw them: a connection per handshake of both runs, the first run's refused for their version.
    refused_count = entry(refused, "TLS", "+MIPOPEN handshake")["num_requests"]
    assert connections(broker) - before >= refused_count + handshakes["num_requests"]
    assert broker.log.read_text(errors="replace").count("unsupported protocol") >= refused_count

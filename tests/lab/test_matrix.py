"""The lab matrix: every scenario x each +GTSSLMODE x NL668_AM_00 and M910, through the AT interface.

One lab per test module; one running module per (variant, mode), reused
across scenarios (+MIPOPEN, then +MIPCLOSE if it opened). The expectation is
the scenario table's (emulator/lab/scenarios.py): the same data the lab
prints and docs/LAB.md shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from emulator.core.codes import GtsslErr
from emulator.lab.scenarios import ALERTS, HOST, SCENARIOS, VARIANTS, Outcome, Scenario
from emulator.lab.server import Lab
from emulator.profiles import load_profile
from emulator.at_client import AtClient, AtError
from emulator.servers.pki import cert_bytes
from emulator.runtime.running import RunningModule
from tests.lab_session import lab_rules

pytestmark = pytest.mark.integration

#: the module's open timeout in the matrix (handshake-stall waits for it)
OPEN_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


class Session:
    """One running module set up as the table assumes, for one (variant, mode)."""

    def __init__(self, lab: Lab, variant: str, mode: int) -> None:
        base = load_profile(variant)
        profile = replace(base, sockets=replace(base.sockets, open_timeout_s=OPEN_TIMEOUT_S))
        self.lab = lab
        self.running = RunningModule(profile, strict=True, resolve=lab_rules(lab))
        self.port = self.running.open_serial(timeout=10)
        self.at = AtClient(self.port)
        self.at.command("AT+MIPCALL=1")
        self.at.wait_urc("+MIPCALL: ")
        self.upload("TRUSTFILE", "root-ca.pem")
        self.at.command(f"AT+GTSSLMODE={mode}")
        self.client_cert = False

    def upload(self, kind: str, name: str) -> None:
        data = cert_bytes(name)
        self.at.command_with_data(f'AT+GTSSLFILE="{kind}",{len(data)}', data)

    def attempt(self, scenario: Scenario) -> Outcome:
        at = self.at
        if scenario.client_cert and not self.client_cert:
            self.upload("CERTFILE", "client.pem")
            self.upload("KEYFILE", "client.key")
            self.client_cert = True
        try:
            for line in scenario.setup:
                try:
                    at.command(line)
                except AtError:
                    return Outcome(None)
            port = self.lab.endpoint(scenario.name).port
            at.command(f'AT+MIPOPEN=1,,"{HOST}",{port},2')
            opened = at.wait_urc("+MIPOPEN: 1,", timeout=20) == "+MIPOPEN: 1,1"
            lines = at.command("AT+GTSSLERR?")
            code = int(lines[0].split(": ")[1]) if lines else None
            if opened:
                self.close_link()
            return Outcome(opened, code)
        finally:
            for line in scenario.restore:
                try:
                    at.command(line)
                except AtError:
                    pass

    def close_link(self) -> None:
        try:
            self.at.command("AT+MIPCLOSE=1")
        except AtError:
            # The peer ended it first (close-without-close_notify): its URC freed the id.
            self.at.wait_urc("+MIP", timeout=5)
        else:
            self.at.wait_urc("+MIPCLOSE: 1,")
        self.at.urcs.clear()

    def close(self) -> None:
        self.port.close()
        self.running.close()


# Scenarios needing the client certificate run last: once loaded it cannot be removed (manual §1.1.4).
ORDERED = sorted(SCENARIOS, key=lambda s: s.client_cert)


@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_scenario_gives_the_tables_outcome(lab: Lab, variant: str, mode: int) -> None:
    session = Session(lab, variant, mode)
    try:
        got = {s.name: session.attempt(s) for s in ORDERED}
    finally:
        session.close()
    expected = {s.name: s.outcome(variant, mode) for s in ORDERED}
    wrong = {name: (got[name].text(), expected[name].text()) for name in got if got[name] != expected[name]}
    assert not wrong, f"{variant} mode {mode}: (got, expected): {wrong}"


def test_every_code_a_server_or_local_verification_can_cause_is_in_the_table() -> None:
    produced = frozenset().union(*(s.codes for s in SCENARIOS))
    # docs/LAB.md explains these: 150/151/154 have no trigger; 152 is a module-side file fault.
    not_from_a_server = {GtsslErr.BAD_CERTIFICATE_SIGN, GtsslErr.BAD_CERTIFICATE_ISSUER, GtsslErr.INVALID, 154}
    assert {int(c) for c in GtsslErr if c} - {int(c) for c in not_from_a_server} <= produced
    assert set(ALERTS) - {112} <= produced and 155 in produced


def test_scenario_names_are_the_issues() -> None:
    names = {s.name for s in SCENARIOS}
    issue = {"valid", "expired", "not-yet-valid", "wrong-host", "self-signed", "untrusted-root", "incomplete-chain",
             "client-cert-required", "client-cert-from-other-CA", "tls1.2-only", "tls1.0-only", "no-shared-cipher",
             "weak-dh", "sha1-signed", "reset-during-handshake", "garbage-instead-of-hello", "handshake-stall",
             "close-without-close_notify", "reset-mid-transfer", "slow-drip", "big-chain", "sslv3-only", "3des-only"}
    assert issue <= names
    assert {f"alert-{n}" for n in ALERTS} <= names

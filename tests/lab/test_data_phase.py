"""The post-handshake scenarios: what the host sees after +MIPOPEN: 1,1, on both engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.lab.scenarios import DRIP_TEXT, HOST, VARIANTS
from emulator.lab.server import Lab
from emulator.at_client import AtClient
from emulator.servers.tls_servers import pattern
from tests.lab_session import lab_rules, online_module

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(["close-without-close_notify", "reset-mid-transfer", "slow-drip"]) as running:
        yield running


@pytest.fixture(params=VARIANTS)
def at(request: pytest.FixtureRequest, lab: Lab) -> Iterator[AtClient]:
    with online_module(request.param, lab_rules(lab), strict=True) as (_running, client):
        yield client


def open_ssl(at: AtClient, lab: Lab, name: str) -> str:
    at.command(f'AT+MIPOPEN=1,,"{HOST}",{lab.endpoint(name).port},2')
    return at.wait_urc("+MIPOPEN: 1,", timeout=20)


def test_close_without_close_notify(at: AtClient, lab: Lab) -> None:
    assert open_ssl(at, lab, "close-without-close_notify") == "+MIPOPEN: 1,1"
    line = bytes.fromhex(at.wait_urc("+MIPRTCP: 1,").split(",", 2)[2])
    assert line == b"closing without close_notify\r\n"
    assert at.wait_urc("+MIPSTAT: 1,") == "+MIPSTAT: 1,2"  # an orderly close (FIN), not a reset
    assert at.command("AT+GTSSLERR?") == []  # not an SSL error


def test_reset_mid_transfer(at: AtClient, lab: Lab) -> None:
    assert open_ssl(at, lab, "reset-mid-transfer") == "+MIPOPEN: 1,1"
    at.command_with_data("AT+MIPSEND=1,32", pattern(32))
    assert at.wait_urc("+MIPSTAT: 1,") == "+MIPSTAT: 1,1"


def test_slow_drip_arrives_a_byte_at_a_time(at: AtClient, lab: Lab) -> None:
    assert open_ssl(at, lab, "slow-drip") == "+MIPOPEN: 1,1"
    first = at.wait_urc("+MIPRTCP: 1,")
    second = at.wait_urc("+MIPRTCP: 1,", timeout=5)
    assert [first, second] == [f"+MIPRTCP: 1,0,{DRIP_TEXT[i:i + 1].hex().upper()}" for i in (0, 1)]
    at.command("AT+MIPCLOSE=1")
    assert at.wait_urc("+MIPCLOSE: 1,").startswith("+MIPCLOSE: 1,")

"""AtClient against a real module in-process (``nl668://``): what a refusal carries."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator

import pytest
import serial

import emulator  # noqa: F401 - registers nl668://
from emulator.at_client import AtClient, AtError


@pytest.fixture
def port() -> Iterator[serial.SerialBase]:
    p = serial.serial_for_url("nl668://NL668_AM_00?strict=1", timeout=5)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def at(port: serial.SerialBase) -> AtClient:
    return AtClient(port, timeout=10)


def test_a_refusal_carries_the_final_result_code(at: AtClient) -> None:
    with pytest.raises(AtError) as plain:
        at.command("AT+NOSUCH")
    assert (plain.value.command, plain.value.result, plain.value.cme) == ("AT+NOSUCH", "ERROR", None)
    assert str(plain.value) == "'AT+NOSUCH' -> ERROR"
    at.command("AT+CMEE=1")
    with pytest.raises(AtError) as numeric:
        at.command("AT+MIPCLOSE=1")  # no such socket open
    assert (numeric.value.result, numeric.value.cme) == ("+CME ERROR: 3", 3)
    assert str(numeric.value) == "'AT+MIPCLOSE=1' -> +CME ERROR: 3"
    at.command("AT+CMEE=2")
    with pytest.raises(AtError) as verbose:
        at.command("AT+GTSSLVER=9")
    assert verbose.value.result.startswith("+CME ERROR: ") and verbose.value.cme is None  # words, no number
    for again in (pickle.loads(pickle.dumps(numeric.value)), copy.copy(numeric.value)):
        assert (again.result, again.cme, str(again)) == ("+CME ERROR: 3", 3, str(numeric.value))


def test_a_refused_mipread_carries_its_command(at: AtClient) -> None:
    at.command("AT+CMEE=1")
    with pytest.raises(AtError) as refused:
        at.mipread(1, 10, timeout=5)  # no socket 1
    assert (refused.value.command, refused.value.result, refused.value.cme) == ("AT+MIPREAD=1,10", "+CME ERROR: 3", 3)

"""AtClient against a real module in-process (``nl668://``): what a refusal carries, and waiting for the first of
several URCs with a timeout or a shared deadline."""

from __future__ import annotations

import copy
import pickle
import time

import pytest
import serial

import emulator  # noqa: F401 - registers nl668://
from emulator.at_client import AtClient, AtError
from emulator.servers.tls_servers import TlsServer

HOST = "peer.example.test"


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


def test_the_first_urc_of_several_prefixes_others_stay_queued(port: serial.SerialBase, at: AtClient) -> None:
    console = port.running.console
    for urc in ('+SIM "first"', "+MIPSTAT: 2,1", "+MIPRTCP: 1,0,41", "+MIPSTAT: 1,2"):
        console.inject_urc(urc)
    assert at.wait_urc(("+MIPRTCP: 1,", "+MIPSTAT: 1,")) == "+MIPRTCP: 1,0,41"
    assert at.wait_urc(("+MIPRTCP: 1,", "+MIPSTAT: 1,")) == "+MIPSTAT: 1,2"
    assert list(at.urcs) == ['+SIM "first"', "+MIPSTAT: 2,1"]  # met on the way, kept in order
    assert at.wait_urc("+MIPSTAT: ") == "+MIPSTAT: 2,1"  # the single-prefix form as before


def test_a_deadline_bounds_the_wait_and_loses_nothing(port: serial.SerialBase, at: AtClient) -> None:
    port.running.console.inject_urc("+MIPSTAT: 2,1")
    deadline = time.monotonic() + 0.5
    with pytest.raises(TimeoutError):
        at.wait_urc(("+MIPRTCP: 1,", "+MIPSTAT: 1,"), deadline=deadline)
    assert time.monotonic() >= deadline
    assert list(at.urcs) == ["+MIPSTAT: 2,1"]
    with pytest.raises(TimeoutError):
        at.wait_urc("+MIPRTCP: ", deadline=time.monotonic() - 1)  # already past: no wait at all
    with pytest.raises(TypeError):
        at.wait_urc("+MIPRTCP: ", timeout=1, deadline=time.monotonic() + 1)


def test_echo_data_then_the_sockets_end_over_real_tls() -> None:
    with TlsServer() as server, serial.serial_for_url(
        f"nl668://NL668_AM_00?resolve={HOST}:443=127.0.0.1:{server.port}", timeout=5
    ) as port:
        at = AtClient(port)
        at.command("AT+MIPCALL=1")
        at.wait_urc("+MIPCALL: ")
        at.command(f'AT+MIPOPEN=1,,"{HOST}",443,2')
        assert at.wait_urc("+MIPOPEN: 1,", timeout=20) == "+MIPOPEN: 1,1"
        at.command_with_data("AT+MIPSEND=1,5", b"hello")
        deadline = time.monotonic() + 10  # one deadline for every piece of the echo
        received = ""
        while len(received) < len(b"hello".hex()):
            urc = at.wait_urc(("+MIPRTCP: 1,", "+MIPSTAT: 1,"), deadline=deadline)
            assert urc.startswith("+MIPRTCP: 1,"), urc
            received += urc.rsplit(",", 1)[1]
        assert received == b"hello".hex().upper()
        assert port.running.console.execute("socket-reset 1") == "OK"
        assert at.wait_urc(("+MIPRTCP: 1,", "+MIPSTAT: 1,"), timeout=10) == "+MIPSTAT: 1,1"
        assert server.wait_handshakes(1)[0].version is not None

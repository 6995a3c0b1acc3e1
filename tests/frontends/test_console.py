"""Every console verb, from Python and as a line of the control protocol, seen on the wire.

The module runs in-process (``nl668://``); an :class:`AtClient` plays the
host. Each test changes the world through the console and asserts what the
host reads: a URC, or a different answer to a command.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import serial

import emulator  # noqa: F401 - registers nl668://
from emulator.console import Console, ControlServer
from emulator.at_client import AtClient
from emulator.servers.pki import cert_bytes
from emulator.servers.tls_servers import TcpServer, TlsServer
from tests.frontends.helpers import TIMEOUT, control

HOST = "peer.example.test"


@pytest.fixture(params=["python", "line"])
def do(request: pytest.FixtureRequest, port: serial.SerialBase) -> Callable[..., Any]:
    """Run a verb through the Python API or through :meth:`Console.execute` (the line protocol's parser)."""
    console: Console = port.running.console

    def run(python: Callable[[Console], Any], line: str) -> Any:
        if request.param == "python":
            return python(console)
        reply = console.execute(line)
        assert reply.startswith("OK"), reply
        return json.loads(reply[3:]) if reply != "OK" else None

    return run


def test_power_cycle(at: AtClient, do: Callable[..., Any]) -> None:
    data = cert_bytes("root-ca.pem")
    at.command_with_data(f'AT+GTSSLFILE="TRUSTFILE",{len(data)}', data)
    do(lambda c: c.power_cycle(), "power-cycle")
    assert at.wait_urc("+SIM READY") == "+SIM READY"
    at.command("ATE0")  # echo is back on after the reboot
    assert at.command("AT+GTSSLFILE?") == ["+GTSSLFILE: CERTFILE,0", "+GTSSLFILE: KEYFILE,0",
                                           "+GTSSLFILE: TRUSTFILE,0"]


def test_set_clock(at: AtClient, do: Callable[..., Any]) -> None:
    from datetime import datetime

    do(lambda c: c.set_clock(datetime(2031, 2, 3, 4, 5, 6)), "clock 2031-02-03T04:05:06")
    (line,) = at.command("AT+CCLK?")
    assert line.startswith('+CCLK: "31/02/03,04:05:0'), line


@pytest.mark.parametrize("text", [
    "2031-02-03T04:05:06Z",
    "2031-02-03T04:05:06z",  # RFC 3339's lower-case z (datetime.fromisoformat alone refuses it)
    "2031-02-03T06:05:06+02:00",  # an offset, converted to UTC
    "2031-02-02T23:05:06-05:00",
])
def test_clock_line_over_the_control_socket_reads_any_iso_spelling(
    port: serial.SerialBase, at: AtClient, text: str
) -> None:
    """The ``clock`` verb reads its instant as ``--clock`` does (:func:`emulator.isotime.parse_utc`)."""
    running = port.running
    server = ControlServer([running.console])  # the --control listener, on the module's loop
    asyncio.run_coroutine_threadsafe(server.start(), running.loop).result(TIMEOUT)
    try:
        assert control(server.address[1], f"clock {text}") == ["OK"]
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), running.loop).result(TIMEOUT)
    (line,) = at.command("AT+CCLK?")
    assert line.startswith('+CCLK: "31/02/03,04:05:0'), line


def test_set_signal(at: AtClient, do: Callable[..., Any]) -> None:
    do(lambda c: c.set_signal(5, 3), "signal 5 3")
    assert at.command("AT+CSQ") == ["+CSQ: 5,3"]
    do(lambda c: c.set_signal(17), "signal 17")  # the BER stays
    assert at.command("AT+CSQ") == ["+CSQ: 17,3"]


def test_set_registration_answers_and_reports(at: AtClient, do: Callable[..., Any]) -> None:
    at.command("AT+CEREG=1")
    do(lambda c: c.set_registration(5), "registration 5")
    assert at.wait_urc("+CEREG: ") == "+CEREG: 5"
    assert at.command("AT+CREG?") == ["+CREG: 0,5"]


def test_drop_pdp(at: AtClient, do: Callable[..., Any]) -> None:
    at.command("AT+MIPCALL=1")
    at.wait_urc("+MIPCALL: ")
    do(lambda c: c.drop_pdp(), "pdp-drop")
    assert at.wait_urc("+MIPCALL: ") == "+MIPCALL: 0"
    assert at.command("AT+MIPCALL?") == ["+MIPCALL: 0"]


def test_drop_pdp_takes_the_sockets(do: Callable[..., Any]) -> None:
    with TcpServer() as server, serial.serial_for_url(
        f"nl668://NL668_AM_00?resolve={HOST}:80=127.0.0.1:{server.port}", timeout=5
    ) as port:
        at = AtClient(port)
        open_tcp(at)
        port.running.console.drop_pdp()
        assert at.wait_urc("+MIPSTAT: ") == "+MIPSTAT: 1,1"
        assert at.wait_urc("+MIPCALL: ") == "+MIPCALL: 0"
        assert server.wait_endings(1)


def open_tcp(at: AtClient) -> None:
    at.command("AT+MIPCALL=1")
    at.wait_urc("+MIPCALL: ")
    at.command(f'AT+MIPOPEN=1,,"{HOST}",80,0')
    assert at.wait_urc("+MIPOPEN: 1,") == "+MIPOPEN: 1,1"


@pytest.mark.parametrize(("verb", "urc"), [("socket-close", "+MIPSTAT: 1,2"), ("socket-reset", "+MIPSTAT: 1,1")])
def test_socket_close_and_reset_from_the_network(verb: str, urc: str) -> None:
    with TcpServer() as server, serial.serial_for_url(
        f"nl668://NL668_AM_00?resolve={HOST}:80=127.0.0.1:{server.port}", timeout=5
    ) as port:
        at = AtClient(port)
        open_tcp(at)
        console = port.running.console
        assert console.execute(f"{verb} 1") == "OK"
        assert at.wait_urc("+MIPSTAT: ") == urc
        assert at.command("AT+MIPOPEN?") == ["+MIPOPEN: 1,2,3,4,5,6"]  # every id free again
        assert console.execute(f"{verb} 1").startswith("ERROR socket 1 is not open")
        assert server.wait_endings(1)


def test_inject_urc(at: AtClient, do: Callable[..., Any]) -> None:
    do(lambda c: c.inject_urc("+MIPSTAT: 3,1"), "urc +MIPSTAT: 3,1")
    assert at.wait_urc("+MIPSTAT: ") == "+MIPSTAT: 3,1"
    do(lambda c: c.inject_urc('+SIM "odd" text'), 'urc +SIM "odd" text')  # quotes kept as typed
    assert at.wait_urc("+SIM ") == '+SIM "odd" text'


def test_certificate_store_shows_subjects_never_bytes(at: AtClient, do: Callable[..., Any]) -> None:
    for kind, name in (("TRUSTFILE", "root-ca.pem"), ("KEYFILE", "client.key"), ("CERTFILE", "client.pem")):
        data = cert_bytes(name)
        at.command_with_data(f'AT+GTSSLFILE="{kind}",{len(data)}', data)
    store = do(lambda c: c.certificates(), "certs")
    assert store["keyfile"] == {"count": 1}
    assert store["trustfile"]["count"] == 1 and store["certfile"]["count"] == 1
    assert "CN=nl668-emulator-client" in store["certfile"]["subjects"][0]
    assert "BEGIN" not in json.dumps(store) and "MII" not in json.dumps(store)


def test_last_tls_why() -> None:
    with TlsServer() as server, serial.serial_for_url(
        f"nl668://NL668_AM_00?resolve={HOST}:443=127.0.0.1:{server.port}", timeout=5
    ) as port:
        console = port.running.console
        assert console.last_why() == {}
        at = AtClient(port)
        at.command("AT+MIPCALL=1")
        at.wait_urc("+MIPCALL: ")
        at.command("AT+GTSSLMODE=1")  # verify the server, with no trusted root loaded
        at.command(f'AT+MIPOPEN=1,,"{HOST}",443,2')
        assert at.wait_urc("+MIPOPEN: 1,", timeout=20) == "+MIPOPEN: 1,0"
        why = json.loads(console.execute("why")[3:])
        assert why["link"] == 1 and why["gtsslerr"] is not None and why["why"], why
        assert at.command("AT+GTSSLERR?") == [f"+GTSSLERR: {why['gtsslerr']}"]


@pytest.mark.parametrize(
    ("line", "error"),
    [("", "empty"), ("fly", "unknown command"), ("signal", "missing"), ("signal 40", "rssi"),
     ("registration 9", "stat"), ("clock yesterday", "Invalid isoformat"), ("urc", "urc needs")],
)
def test_bad_lines_are_answered_error(port: serial.SerialBase, line: str, error: str) -> None:
    reply = port.running.console.execute(line)
    assert reply.startswith("ERROR") and error in reply, reply


def test_help_lists_every_verb(port: serial.SerialBase) -> None:
    verbs = {item.split()[0] for item in json.loads(port.running.console.execute("help")[3:])}
    assert {"power-cycle", "clock", "signal", "registration", "pdp-drop", "socket-close", "socket-reset",
            "urc", "certs", "why"} <= verbs

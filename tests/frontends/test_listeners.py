"""TCP and RFC 2217 listeners: one host a line, loopback by default, baud rate and DTR, port files."""

from __future__ import annotations

import asyncio
import socket

import pytest
import serial

from emulator.console import ControlServer
from emulator.runtime.running import RunningModule
from emulator.transports.tcp import TcpTransport, parse_endpoint
from tests.frontends.helpers import at_ok

#: pyserial 3.5's rfc2217 client names and starts its reader thread with deprecated calls
PYSERIAL_RFC2217 = pytest.mark.filterwarnings(r"ignore:set(Daemon|Name)\(\) is deprecated:DeprecationWarning")

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("text", ["0", ":0", "127.0.0.1:0"])
def test_endpoints_default_to_loopback(text: str) -> None:
    assert parse_endpoint(text) == ("127.0.0.1", 0)


@pytest.mark.parametrize("front_end", ["tcp", "rfc2217"])
def test_every_listener_binds_loopback_by_default(front_end: str) -> None:
    with RunningModule(front_end=front_end) as running:
        assert running.transport.address[0] == "127.0.0.1"  # type: ignore[union-attr]
        assert running.transport.address[1] != 0  # type: ignore[union-attr]


def test_the_control_listener_binds_loopback_by_default() -> None:
    loop = asyncio.new_event_loop()
    try:
        server = ControlServer([])
        assert server.address[0] == "127.0.0.1" and server.address[1] != 0
        loop.run_until_complete(server.close())
    finally:
        loop.close()


def test_a_second_tcp_connection_is_refused_and_the_first_keeps_the_line() -> None:
    with RunningModule(front_end="tcp") as running:
        first = serial.serial_for_url(running.url, timeout=5)
        try:
            at_ok(first)
            host, port = running.transport.address  # type: ignore[union-attr]
            with socket.create_connection((host, port), timeout=5) as second:
                second.sendall(b"AT\r")
                try:
                    assert second.recv(100) == b""  # closed by the emulator, nothing answered
                except ConnectionResetError:
                    pass  # the abort may arrive as an RST
            at_ok(first)
        finally:
            first.close()
        # Once the first host has left, the next one gets the line.
        transport = running.transport
        assert isinstance(transport, TcpTransport)
        asyncio.run_coroutine_threadsafe(transport.wait_free(), running.loop).result(5)
        with serial.serial_for_url(running.url, timeout=5) as again:
            at_ok(again)


@PYSERIAL_RFC2217
def test_rfc2217_baud_rate_and_dtr_drop_power_cycles() -> None:
    with RunningModule("M910", front_end="rfc2217", dtr_drop="power-cycle") as running:
        port = serial.serial_for_url(running.url, 9600, timeout=5)
        try:
            at_ok(port)
            assert running.call(lambda: running.transport.settings.baudrate) == 9600  # type: ignore[union-attr]
            port.baudrate = 57600
            at_ok(port)  # the setting went through before this answer
            assert running.call(lambda: running.transport.settings.baudrate) == 57600  # type: ignore[union-attr]
            port.dtr = False
            assert port.read(14) == b"\r\n+SIM READY\r\n"  # the module rebooted
            assert port.cts and port.dsr and port.cd
        finally:
            port.close()


@PYSERIAL_RFC2217
def test_rfc2217_dtr_drop_is_ignored_by_default() -> None:
    with RunningModule("M910", front_end="rfc2217") as running:
        port = serial.serial_for_url(running.url, 115200, timeout=5)
        try:
            port.write(b"ATE0\r")
            assert port.read(11) == b"ATE0\r\r\nOK\r\n"
            port.dtr = False
            port.write(b"AT\r")
            assert port.read(6) == b"\r\nOK\r\n"  # echo still off: no reboot happened
        finally:
            port.close()

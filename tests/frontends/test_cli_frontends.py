"""The command line: --tcp/--rfc2217 with --port-file, --control over a real socket, --modules N."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
import serial

from emulator.trace import read_trace
from tests.frontends.helpers import TIMEOUT, at_ok, control, serving

pytestmark = pytest.mark.integration


def test_tcp_port_file_and_control(tmp_path: Path) -> None:
    port_file = tmp_path / "ports"
    with serving("--tcp", "127.0.0.1:0", "--control", ":0", "--port-file", str(port_file), lines=2) as (
        proc,
        banner,
    ):
        tcp_port, control_port = (int(p) for p in port_file.read_text().split())
        assert banner == [
            f"NL668 emulator (NL668_AM_00) on socket://127.0.0.1:{tcp_port}",
            f"NL668 control on 127.0.0.1:{control_port}",
        ]
        with serial.serial_for_url(f"socket://127.0.0.1:{tcp_port}", timeout=5) as port:
            at_ok(port)
            assert control(control_port, "signal 9 1", "modules", "module 3") == ["OK", "OK 1", "ERROR module 0-0"]
            # a negative index is refused too (it once picked a module from the end of the list)
            assert control(control_port, "module -1", "module x", "module") == ["ERROR module 0-0"] * 3
            port.write(b"AT+CSQ\r")
            answer = b"AT+CSQ\r\r\n+CSQ: 9,1\r\n\r\nOK\r\n"
            assert port.read(len(answer)) == answer
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0


@pytest.mark.filterwarnings(r"ignore:set(Daemon|Name)\(\) is deprecated:DeprecationWarning")
def test_two_rfc2217_modules_on_free_ports(tmp_path: Path) -> None:
    port_file = tmp_path / "ports"
    with serving("--rfc2217", "0", "--modules", "2", "--profile", "M910", "--port-file", str(port_file), lines=2):
        ports = [int(p) for p in port_file.read_text().split()]
        assert len(set(ports)) == 2
        first = serial.serial_for_url(f"rfc2217://127.0.0.1:{ports[0]}", timeout=5)
        second = serial.serial_for_url(f"rfc2217://127.0.0.1:{ports[1]}", timeout=5)
        try:
            first.write(b"ATE0\r")
            assert first.read(11) == b"ATE0\r\r\nOK\r\n"
            at_ok(second)  # its own module: echo still on
        finally:
            first.close()
            second.close()


def test_modules_on_their_own_ptys_and_traces(tmp_path: Path) -> None:
    link = tmp_path / "ttyNL"
    trace = tmp_path / "t.jsonl"
    with serving("--modules", "3", "--pty", str(link), "--trace", str(trace), lines=3) as (_, banner):
        devices = []
        for index, line in enumerate(banner):
            match = re.fullmatch(rf"NL668 emulator \(NL668_AM_00\) on (\S+) -> {link}{index}", line)
            assert match, line
            devices.append(match.group(1))
        assert len(set(devices)) == 3
        with serial.Serial(f"{link}0", 115200, timeout=5) as a, serial.Serial(f"{link}2", 115200, timeout=5) as c:
            a.write(b"ATE0\r")
            assert a.read(11) == b"ATE0\r\r\nOK\r\n"
            at_ok(c)
    hosts = [[r["data"] for r in read_trace(tmp_path / f"t-{i}.jsonl") if r["dir"] == "host"] for i in range(3)]
    assert hosts == [["ATE0\r"], [], ["AT\r"]]  # each line in its own trace

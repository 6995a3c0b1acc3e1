"""``nl668-emu --modules N --workers K``: modules served by K processes, one console and one port file for all."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import serial

from emulator.core.identity import luhn_ok, profile_for_unit
from emulator.profiles import DEFAULT_PROFILE, load_profile
from emulator.runtime.workers import split
from tests.frontends.helpers import TIMEOUT, control, exits_within, serving

pytestmark = pytest.mark.integration


def listening_pid(port: int, pids: list[int]) -> int:
    """Which of ``pids`` holds the socket listening on 127.0.0.1:``port`` (its inode, from /proc)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: LISTEN
            inode = fields[9]
    assert inode is not None, f"nothing listens on {port}"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"port {port} is not held by any of {pids}")


def test_split_is_contiguous_and_even() -> None:
    assert split(5, 2) == [range(0, 2), range(2, 5)]
    assert split(2, 8) == [range(0, 1), range(1, 2)]  # never an empty worker
    assert [i for r in split(1000, 3) for i in r] == list(range(1000))


def test_two_workers_each_answer_at_and_the_console_reaches_both(tmp_path: Path) -> None:
    port_file = tmp_path / "ports"
    args = ("--modules", "4", "--workers", "2", "--tcp", "127.0.0.1:0", "--control", ":0",
            "--port-file", str(port_file), "--trace", str(tmp_path / "t.jsonl"))
    with serving(*args, lines=7) as (proc, banner):
        ports = [int(p) for p in port_file.read_text().split()]
        assert len(ports) == 5  # four modules in module order, then the console
        module_ports, control_port = ports[:4], ports[4]
        assert banner[:4] == [f"NL668 emulator (NL668_AM_00) on socket://127.0.0.1:{p}" for p in module_ports]
        workers = [re.fullmatch(r"NL668 worker (\d) \(pid (\d+)\): modules (\d)-(\d)", line) for line in banner[4:6]]
        assert all(workers), banner
        pids = [int(m.group(2)) for m in workers if m]
        assert [(m.group(3), m.group(4)) for m in workers if m] == [("0", "1"), ("2", "3")]
        assert len(set(pids)) == 2 and proc.pid not in pids
        assert banner[6] == f"NL668 control on 127.0.0.1:{control_port}"
        # Modules 0-1 live in the first worker, 2-3 in the second: each process answers on its own sockets.
        assert [listening_pid(p, pids) for p in module_ports] == [pids[0], pids[0], pids[1], pids[1]]
        lines = [serial.serial_for_url(f"socket://127.0.0.1:{p}", timeout=5) for p in module_ports]
        try:
            for line in lines:
                line.write(b"AT\r")
                assert line.read(9) == b"AT\r\r\nOK\r\n"
            # One console for all: global indexes, forwarded to the worker holding the module.
            assert control(control_port, "modules", "module 4") == ["OK 4", "ERROR module 0-3"]
            assert control(control_port, "module 1", "signal 7 2", "module 3", "signal 12 0", "socket-close 1") == [
                "OK", "OK", "OK", "OK", "ERROR socket 1 is not open"]
            for line, csq in zip(lines, (b"99,99", b"7,2", b"99,99", b"12,0")):
                line.write(b"AT+CSQ\r")
                answer = line.read_until(b"OK\r\n")
                assert answer.startswith(b"AT+CSQ\r\r\n+CSQ: "), answer
                if csq != b"99,99":  # the untouched modules keep their profile's value
                    assert b"+CSQ: " + csq + b"\r\n" in answer
        finally:
            for line in lines:
                line.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    for pid in pids:  # the workers went with the parent
        assert exits_within(pid, 0), f"worker {pid} outlived a clean stop"
    # Traces are per module with the global index, as with one process.
    assert sorted(p.name for p in tmp_path.glob("t-*.jsonl")) == [f"t-{i}.jsonl" for i in range(4)]


def test_workers_on_ptys(tmp_path: Path) -> None:
    link = tmp_path / "tty"
    with serving("--modules", "2", "--workers", "--pty", str(link), lines=2) as (proc, banner):
        for i, line in enumerate(banner):
            assert line.endswith(f" -> {link}{i}"), banner
            with serial.Serial(f"{link}{i}", 115200, timeout=5) as port:
                port.write(b"AT\r")
                assert port.read(9) == b"AT\r\r\nOK\r\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    assert not list(tmp_path.glob("tty*"))  # the workers removed their links


def test_each_module_of_each_worker_has_its_own_imei(tmp_path: Path) -> None:
    """Module indexes are global: worker 1's first module (index 1) is no copy of worker 0's first."""
    link = tmp_path / "tty"
    imeis = []
    with serving("--modules", "3", "--workers", "2", "--pty", str(link), lines=5) as (proc, banner):
        assert [line.rsplit(": ", 1)[1] for line in banner[3:]] == ["modules 0-0", "modules 1-2"], banner
        for i in range(3):
            with serial.Serial(f"{link}{i}", 115200, timeout=5) as port:
                port.write(b"ATE0\r")
                assert port.read_until(b"OK\r\n").endswith(b"OK\r\n")
                port.write(b"AT+CGSN\r")
                answer = port.read_until(b"OK\r\n")
                match = re.fullmatch(rb"\r\n(\d{15})\r\n\r\nOK\r\n", answer)
                assert match, answer
                imeis.append(match.group(1).decode())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    profile = load_profile(DEFAULT_PROFILE)
    assert imeis[0] == profile.identity.imei  # module 0 keeps the profile's value
    assert imeis == [profile_for_unit(profile, i).identity.imei for i in range(3)]
    assert len(set(imeis)) == 3 and all(map(luhn_ok, imeis))


def test_a_worker_that_cannot_listen_fails_the_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # modules 0 and 1 on port-1 and port: the second worker's listener is taken
        with pytest.raises(pytest.fail.Exception, match="Address already in use"):
            with serving("--modules", "2", "--workers", "2", "--tcp", f"127.0.0.1:{port - 1}", lines=1):
                pass


def test_ctrl_c_to_the_group_stops_all_with_status_0(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the parent and the workers at once: a clean stop, not a worker failure."""
    port_file = tmp_path / "ports"
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "--modules", "2", "--workers", "2", "--tcp",
                             "127.0.0.1:0", "--port-file", str(port_file)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().decode() for _ in range(4)]
        pids = [int(re.search(r"pid (\d+)", line).group(1)) for line in lines[2:]]  # type: ignore[union-attr]
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(TIMEOUT) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)
    for pid in pids:
        assert exits_within(pid, 0), f"worker {pid} outlived a clean stop"


def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "--modules", "2", "--workers", "2", "--tcp",
                             "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    lines = [proc.stdout.readline().decode() for _ in range(4)]
    pids = [int(re.search(r"pid (\d+)", line).group(1)) for line in lines[2:]]  # type: ignore[union-attr]
    proc.kill()  # no chance to stop its workers
    proc.communicate(timeout=TIMEOUT)
    for pid in pids:  # the kernel's SIGTERM; the worker then closes its modules
        assert exits_within(pid), f"worker {pid} outlived its parent"

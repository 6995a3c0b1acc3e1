"""What the front-end tests share: a CLI subprocess that is ready when its banner is out, its console, the AT / OK
round trip that shows a port is served, and waiting for a process that is not ours to end."""

from __future__ import annotations

import os
import select
import selectors
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import serial

TIMEOUT = 10.0


@contextmanager
def serving(*args: str, lines: int = 1) -> Iterator[tuple[subprocess.Popen[bytes], list[str]]]:
    """Start ``python -m emulator ARGS``; yield it with its first ``lines`` banner lines (it listens by then)."""
    with subprocess.Popen(
        [sys.executable, "-bb", "-m", "emulator", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        try:
            assert proc.stdout is not None
            banner: list[str] = []
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                ready = sel.select(TIMEOUT)
            # The banner is one write, once everything listens: after the first byte, read it whole
            # (readline returns b"" if the process dies).
            while ready and len(banner) < lines and (line := proc.stdout.readline().decode()):
                banner.append(line.rstrip("\n"))
            if len(banner) < lines:
                proc.kill()
                _, err = proc.communicate(timeout=TIMEOUT)
                pytest.fail(f"no banner from the emulator ({banner}); stderr:\n{err.decode()}")
            yield proc, banner
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.communicate(timeout=TIMEOUT)


def control(port: int, *lines: str) -> list[str]:
    """Send lines to the console; one reply line each."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        f = sock.makefile("rwb")
        replies = []
        for line in lines:
            f.write(line.encode() + b"\n")
            f.flush()
            replies.append(f.readline().decode().rstrip("\n"))
        return replies


def at_ok(port: serial.SerialBase) -> None:
    port.write(b"AT\r")
    assert port.read(9) == b"AT\r\r\nOK\r\n"


def exits_within(pid: int, timeout: float = TIMEOUT) -> bool:
    """Whether process ``pid`` (not our child, so no wait()) ends within ``timeout``: its pidfd turns
    readable when it does, zombie or reaped, so nothing polls."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True  # already reaped
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)

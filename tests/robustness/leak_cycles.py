"""Open/handshake/close cycles through the AT interface, with file-descriptor and memory figures.

Shared by tests/robustness/test_leaks.py (a bounded loop in the suite) and bench/leaks.py (the full
10,000 TLS cycles). Why through the AT interface and real sockets: a leak of a transport, a TLS
session, a timer or a link record only shows when everything the module builds per socket is built,
i.e. the PTY, the driver, PeerLinks, the TLS engine and the servers, all in this process.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from emulator.at_client import AtClient
from emulator.runtime.running import RunningModule
from emulator.servers.tls_servers import TcpServer, TlsServer

HOST = "leak.test"


def open_fds() -> int:
    """File descriptors of this process (sockets, PTYs, pipes, files)."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Figures:
    cycles: int
    seconds: float
    fds_before: int
    fds_after: int
    rss_before: int
    rss_after: int
    #: sessions in the TLS test server's own cache (stdlib ssl keeps up to 20480, ~1.6 KiB each, outside Python)
    server_sessions: int = 0

    @property
    def per_cycle_ms(self) -> float:
        return 1000 * self.seconds / max(1, self.cycles)

    def __str__(self) -> str:
        return (f"{self.cycles} cycles in {self.seconds:.1f} s ({self.per_cycle_ms:.2f} ms each); "
                f"fds {self.fds_before} -> {self.fds_after}; "
                f"RSS {self.rss_before / 2**20:.1f} -> {self.rss_after / 2**20:.1f} MiB; "
                f"test server's session cache: {self.server_sessions}")


def cached_sessions(server: TlsServer | TcpServer) -> int:
    """Sessions the TLS test server's context caches (it is the server's memory, not the module's)."""
    context = getattr(server, "_context", None)
    return int(context.session_stats()["number"]) if context is not None else 0


@contextmanager
def session(tls: bool) -> Iterator[tuple[AtClient, TlsServer | TcpServer]]:
    server = TlsServer() if tls else TcpServer()
    with server, RunningModule("NL668_AM_00", strict=True, resolve=[f"{HOST}:443=127.0.0.1:{server.port}"]) as running:
        port = running.open_serial(timeout=10)
        try:
            at = AtClient(port)
            at.command("AT+MIPCALL=1")
            at.wait_urc("+MIPCALL: ")
            if tls:
                # RSA key exchange (id 3): every per-socket object of the module is the same as with DHE,
                # but the test server's 2048-bit DH work is skipped, so 10,000 cycles fit in CI (~4 ms each).
                at.command("AT+GTSSLCIPHER=3,1")
            yield at, server
        finally:
            port.close()


def cycle(at: AtClient, tls: bool, link_id: int = 1) -> None:
    """One socket's life: open (and shake hands), one byte each way, close, and the close confirmed."""
    at.command(f'AT+MIPOPEN={link_id},,"{HOST}",443,{2 if tls else 0}')
    result = at.wait_urc(f"+MIPOPEN: {link_id},")
    assert result == f"+MIPOPEN: {link_id},1", result
    at.command(f'AT+MIPSEND={link_id},"2a"')
    at.command(f"AT+MIPPUSH={link_id}")
    assert at.wait_urc(f"+MIPRTCP: {link_id},") == f"+MIPRTCP: {link_id},0,2A"
    at.command(f"AT+MIPCLOSE={link_id}")
    at.wait_urc(f"+MIPCLOSE: {link_id},")


def run(cycles: int, *, tls: bool, warmup: int = 50) -> Figures:
    """``warmup`` cycles first (caches, lazily built contexts), then measure ``cycles`` more."""
    with session(tls) as (at, server):
        for _ in range(warmup):
            cycle(at, tls)
        gc.collect()
        fds, rss = open_fds(), rss_bytes()
        start = time.monotonic()
        for i in range(cycles):
            cycle(at, tls, link_id=1 + i % 6)
        seconds = time.monotonic() - start
        gc.collect()
        assert at.command("AT+MIPOPEN?") == ["+MIPOPEN: 1,2,3,4,5,6"]
        return Figures(cycles, seconds, fds, open_fds(), rss, rss_bytes(), cached_sessions(server))

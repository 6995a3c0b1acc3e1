"""Payload through one TLS socket, each way, vs the same bytes over a plain PTY.

host -> server: ``AT+MIPSEND=1,<2048>`` + the bytes at ``>``, repeated; timed up
to ``+MIPCLOSE: 1,`` after ``AT+MIPCLOSE=1`` (the emulator reports it once the
socket has really closed, i.e. every byte and the close_notify were flushed to
the server, which reads and discards: ``stall``).
server -> host: the server writes the payload right after the handshake
(``greet``); the host decodes ``+MIPRTCP: 1,<left>,<HEX>`` (IPRFMT 0, 1024
bytes a URC) until it has every byte; timed from ``+MIPOPEN: 1,1``.
Baseline: the same number of payload bytes written host -> loop and loop -> host
over a bare PTY in the same harness. Target: >= 2 MB/s of payload each way.
"""

from __future__ import annotations

import binascii

import common  # noqa: I001
from common import HEX_URC, EchoPty, RawHost, now, record, report, wait_for

from emulator.runtime.running import RunningModule
from emulator.servers.tls_servers import ServerSettings, TlsServer, pattern

HOST = "bench.example.test"
UP = 4 * 1024 * 1024
DOWN = 4 * 1024 * 1024
CHUNK = 2048


def pty_baseline(size: int) -> tuple[float, float]:
    """(host->loop, loop->host) MB/s over a bare PTY."""
    data = pattern(65536) * (size // 65536)
    sink = EchoPty("sink")
    host = RawHost(sink.path)
    t0 = now()
    host.write(data)
    wait_for(lambda: sink.received >= len(data), 60, "pty sink")
    up = len(data) / (now() - t0) / 1e6
    t0 = now()
    sink.source(data)
    got = 0
    while got < len(data):
        host.fill(now() + 60)
        got += len(host.buf)
        host.buf.clear()
    down = len(data) / (now() - t0) / 1e6
    host.close()
    sink.close()
    return up, down


def module_session(server: TlsServer, fn) -> float:
    with RunningModule("NL668_AM_00", resolve=[f"{HOST}:443=127.0.0.1:{server.port}"]) as running:
        host = RawHost(running.device_path)
        host.command(b"ATE0")
        host.command(b"AT+MIPCALL=1")
        host.until(b"+MIPCALL: ")
        try:
            return fn(host)
        finally:
            host.close()


def upload(host: RawHost) -> float:
    host.write(f'AT+MIPOPEN=1,,"{HOST}",443,2\r'.encode())
    host.until(b"+MIPOPEN: 1,1\r\n", 20)
    block = pattern(CHUNK)
    t0 = now()
    for _ in range(UP // CHUNK):
        host.write(b"AT+MIPSEND=1,2048\r")
        host.until(b"> ")
        host.write(block)
        host.until(b"OK\r\n")
    host.command(b"AT+MIPCLOSE=1")
    host.until(b"+MIPCLOSE: 1,", 60)
    return UP / (now() - t0) / 1e6


def download(host: RawHost) -> float:
    host.write(f'AT+MIPOPEN=1,,"{HOST}",443,2\r'.encode())
    host.until(b"+MIPOPEN: 1,1\r\n", 20)
    t0 = now()
    got = 0
    deadline = now() + 120
    while got < DOWN:
        match = HEX_URC.search(host.buf)
        if match is None:
            host.fill(deadline)
            continue
        got += len(binascii.unhexlify(match.group(3)))
        del host.buf[: match.end()]
    return DOWN / (now() - t0) / 1e6


def main() -> None:
    base_up, base_down = pty_baseline(UP)
    with TlsServer(ServerSettings(behaviour="stall")) as server:
        up = module_session(server, upload)
    with TlsServer(ServerSettings(behaviour="greet", greet_bytes=DOWN)) as server:
        down = module_session(server, download)
    figures = {"up_MBps": up, "down_MBps": down, "pty_up_MBps": base_up, "pty_down_MBps": base_down,
               "up_ratio": up / base_up, "down_ratio": down / base_down, "bytes_each_way": UP}
    report("TLS payload, one socket", [
        ("host->server (+MIPSEND=1,2048)", f"{up:.2f} MB/s", f"bare PTY {base_up:.1f} MB/s",
         f"{up / base_up:.3f}x; target >= 2 MB/s: {'met' if up >= 2 else 'MISSED'}"),
        ("server->host (+MIPRTCP hex)", f"{down:.2f} MB/s", f"bare PTY {base_down:.1f} MB/s",
         f"{down / base_down:.3f}x; target >= 2 MB/s: {'met' if down >= 2 else 'MISSED'}"),
    ])
    record("payload", figures)


if __name__ == "__main__":
    main()

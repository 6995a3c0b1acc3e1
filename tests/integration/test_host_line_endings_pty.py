"""Issue 11 over the real PTY with pyserial: a host that ends every command with CR LF, as real host
programs do, gets exactly its bytes to a real TCP peer on 127.0.0.1 and exactly its PEM stored."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import serial

from emulator.runtime.running import RunningModule
from emulator.servers.pki import cert_bytes
from emulator.servers.tls_servers import TlsServer

pytestmark = pytest.mark.integration

PROFILE = "NL668_AM_00"
ROOT = cert_bytes("root-ca.pem")


class TcpSink:
    """A plain TCP listener on 127.0.0.1 that keeps every byte of one connection until the peer closes."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.data = bytearray()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._listener.settimeout(20)
        try:
            conn, _ = self._listener.accept()
        except OSError:
            self._done.set()
            return
        with conn:
            conn.settimeout(20)
            while chunk := conn.recv(4096):
                self.data += chunk
        self._done.set()

    def received(self, timeout: float = 10) -> bytes:
        """Everything the peer sent, once it closed the connection."""
        assert self._done.wait(timeout), "the module never closed the connection"
        return bytes(self.data)

    def close(self) -> None:
        self._listener.close()
        self._thread.join(5)


def expect(ser: serial.Serial, terminator: bytes) -> bytes:
    """Read up to ``terminator`` (pyserial's timeout is the deadline); fail if it does not come."""
    data = ser.read_until(terminator)
    assert data.endswith(terminator), data
    return data


@contextmanager
def host(**kwargs: object) -> Iterator[tuple[RunningModule, serial.Serial]]:
    with RunningModule(PROFILE, strict=True, **kwargs) as running:  # type: ignore[arg-type]
        ser = running.open_serial(timeout=10)
        try:
            ser.write(b"AT\r\n")  # past any power-on URC
            expect(ser, b"OK\r\n")
            ser.write(b"AT+MIPCALL=1\r\n")
            expect(ser, b"OK\r\n")
            expect(ser, b"+MIPCALL: ")
            expect(ser, b"\r\n")
            yield running, ser
        finally:
            ser.close()


@pytest.mark.parametrize("lf", ["with-the-line", "after-the-prompt"])
def test_mipsend_after_cr_lf_sends_exactly_the_block_to_a_tcp_peer(lf: str) -> None:
    """The issue's repro: +MIPOPEN to a sink, ``AT+MIPSEND=2,2`` CR LF, ``> ``, ``AB``: the sink gets b"AB"."""
    sink = TcpSink()
    try:
        with host() as (_, ser):
            ser.write(f'AT+MIPOPEN=2,,"127.0.0.1",{sink.port},0\r'.encode())
            assert expect(ser, b"+MIPOPEN: 2,1\r\n").startswith(b'AT+MIPOPEN=2,,"127.0.0.1",')
            if lf == "with-the-line":
                ser.write(b"AT+MIPSEND=2,2\r\n")
                assert expect(ser, b"> ") == b"AT+MIPSEND=2,2\r\r\n> "
            else:  # the LF reaches the module after it wrote the prompt
                ser.write(b"AT+MIPSEND=2,2\r")
                assert expect(ser, b"> ") == b"AT+MIPSEND=2,2\r\r\n> "
                ser.write(b"\n")
            ser.write(b"AB")
            answer = expect(ser, b"OK\r\n")
            assert re.fullmatch(rb"\r\n\+MIPSEND: 2,0,\d+\r\n\r\nOK\r\n", answer), answer  # nothing echoed
            ser.write(b"AT\r\n")
            assert expect(ser, b"OK\r\n") == b"AT\r\r\nOK\r\n"  # no byte of the block left as command text
            ser.write(b"AT+MIPCLOSE=2\r\n")
            expect(ser, b"+MIPCLOSE: 2")
            assert sink.received() == b"AB"
    finally:
        sink.close()


def test_gtsslfile_after_cr_lf_stores_the_exact_pem_and_a_verified_tls_open_works() -> None:
    with TlsServer() as server, host(resolve=[f"www.example.test:443=127.0.0.1:{server.port}"]) as (running, ser):
        ser.write(f'AT+GTSSLFILE="TRUSTFILE",{len(ROOT)}\r\n'.encode())
        assert expect(ser, b"> ").endswith(b"\r\r\n> ")
        ser.write(ROOT)
        assert expect(ser, b"OK\r\n") == b"\r\nOK\r\n"
        ser.write(b"AT+GTSSLFILE?\r\n")
        assert b"+GTSSLFILE: TRUSTFILE,1\r\n" in expect(ser, b"OK\r\n")
        assert running.call(lambda: list(running.module.state.certs.trustfiles)) == [ROOT]  # byte for byte
        ser.write(b"AT+GTSSLMODE=1\r\n")
        expect(ser, b"OK\r\n")
        ser.write(b'AT+MIPOPEN=1,,"www.example.test",443,2\r\n')
        expect(ser, b"OK\r\n")
        assert expect(ser, b"+MIPOPEN: 1,")[-1:] == b","
        assert ser.read(1) == b"1"  # verified against the uploaded CA
        (record,) = server.wait_handshakes(1)
        assert record.error is None and record.version

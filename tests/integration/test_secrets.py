"""Key and certificate bodies never reach a trace or a log, even at -v."""

from __future__ import annotations

from pathlib import Path

import pytest
import serial

from emulator.servers.pki import cert_bytes
from emulator.trace import read_trace
from tests.integration.test_cli import serving, stop

pytestmark = pytest.mark.integration


def body_lines(pem: bytes) -> list[str]:
    """The base64 lines of a PEM file: what must never leak."""
    return [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]


def test_uploads_are_redacted_from_trace_and_log(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    link = tmp_path / "ttyNL"
    key, cert = cert_bytes("client.key"), cert_bytes("client.pem")
    with serving("--pty", str(link), "--trace", str(trace), "-v") as (proc, _):
        with serial.Serial(str(link), 115200, timeout=5) as port:
            for kind, data in (("KEYFILE", key), ("CERTFILE", cert)):
                port.write(f'AT+GTSSLFILE="{kind}",{len(data)}\r'.encode())
                assert port.read_until(b"> ").endswith(b"\r\n> ")
                # In pieces, so the redaction holds for every chunk the reader sees.
                for i in range(0, len(data), 100):
                    port.write(data[i : i + 100])
                assert port.read_until(b"OK\r\n").endswith(b"\r\nOK\r\n")
            port.write(b"AT+GTSSLFILE?\r")
            answer = port.read_until(b"OK\r\n")
        code, log = stop(proc)
    assert code == 0, log
    assert b"+GTSSLFILE: CERTFILE,1\r\n+GTSSLFILE: KEYFILE,1" in answer
    text = trace.read_text()
    records = read_trace(trace)
    assert any("<redacted" in r["data"] for r in records if r["dir"] == "host")
    assert "module->host" in log  # -v really logged the traffic that was searched
    for line in body_lines(key) + body_lines(cert):
        assert line not in text
        assert line not in log
    assert "PRIVATE KEY" not in text.replace('"KEYFILE"', "")

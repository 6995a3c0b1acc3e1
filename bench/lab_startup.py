"""How long the lab takes to start and list its endpoints (issue 4: under 2 s), and the legacy engine's speed.

Run: ``.venv/bin/python bench/lab_startup.py``. Prints figures; asserts nothing
(timing belongs in a benchmark, not in the test suite).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone

from emulator.core.tls_request import TlsRequest
from emulator.lab.server import Lab
from emulator.servers.pki import CERTS_DIR, cert_bytes
from emulator.tls.legacy import BufferSocket, LegacyTlsClient


def in_process() -> float:
    start = time.monotonic()
    with Lab() as lab:
        assert lab.endpoints
        return time.monotonic() - start


def console_script() -> float:
    """From process start to the JSON list on stdout (imports included)."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "emulator.lab.cli", "--json"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    endpoints = json.loads(proc.stdout.readline())
    took = time.monotonic() - start
    proc.terminate()
    proc.wait(10)
    assert endpoints
    return took


def legacy_engine(version: int, ids: tuple[int, ...], size: int = 1 << 20) -> tuple[float, float]:
    """Handshake (ms) and bulk (MB/s, client -> server) of the legacy engine against a tlslite server."""
    from tlslite.api import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey

    request = TlsRequest(version=version, cipher_ids=ids, verify=True, trust_pems=(cert_bytes("root-ca.pem"),),
                         cert_pem=None, key_pem=None, server_name="www.example.test",
                         module_time=datetime.now(timezone.utc))
    sock = BufferSocket()
    server = TLSConnection(sock)
    chain = X509CertChain()
    chain.parsePemList((CERTS_DIR / "server-chain.pem").read_text())
    settings = HandshakeSettings()
    settings.minVersion = (3, 0)
    settings.cipherNames = ["3des", "aes128", "aes256"]
    handshake = server.handshakeServerAsync(
        certChain=chain, privateKey=parsePEMKey((CERTS_DIR / "server.key").read_text(), private=True),
        settings=settings)
    start = time.perf_counter()
    client = LegacyTlsClient(request)
    client.initiate()
    done = False
    while not (done and client.handshake_done):
        sock.feed(client.outgoing())
        if not done:
            for step in handshake:
                if isinstance(step, int) and step == 0:
                    break
            else:
                done = True
        client.feed(sock.drain())
    shake = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    client.send(b"x" * size)
    sock.feed(client.outgoing())
    got = 0
    while got < size:
        got += len(server.read())
    return shake, size / (time.perf_counter() - start) / 1e6


def main() -> None:
    print(f"lab start, in process ({len(Lab().scenarios)} endpoints): {in_process():.3f} s")
    print(f"nl668-lab --json, process start to JSON list: {console_script():.3f} s")
    for version, ids, what in ((1, (6,), "SSL 3.0 DES-CBC3-SHA"), (1, (1,), "SSL 3.0 EDH-RSA-DES-CBC3-SHA"),
                               (4, (1, 2, 3), "TLS 1.2 M910 defaults")):
        shake, bulk = legacy_engine(version, ids)
        print(f"legacy engine {what}: handshake {shake:.1f} ms, bulk {bulk:.1f} MB/s")


if __name__ == "__main__":
    main()

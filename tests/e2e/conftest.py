"""The broker every end-to-end test meets: Debian's mosquitto on 127.0.0.1, a plain listener for ordinary MQTT
clients and a TLS 1.2 one that offers only what the modules' suites can meet."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.servers.pki import pki_path

BROKER_NAME = "www.example.test"  # a SAN of certs/server.pem; --resolve sends it to the broker
BROKER_PORT = 8883  # what the host dials; the rule maps it to the broker's real port
# Every suite any NL668 / M910 / L610 build can offer over TLS 1.2 (RSA key exchange and DHE-RSA, no ECDHE).
MODULE_SUITES = ":".join([
    "DHE-RSA-AES256-SHA", "DHE-RSA-AES128-SHA", "AES256-SHA", "AES128-SHA",
    "DHE-RSA-AES256-SHA256", "DHE-RSA-AES128-SHA256", "AES256-SHA256", "AES128-SHA256",
])


@dataclass
class Broker:
    plain_port: int
    tls_port: int
    log: Path

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mosquitto() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.fail("mosquitto is not installed: `make install` installs it (Debian package mosquitto)")
    return found


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """mosquitto on 127.0.0.1: a plain listener and a TLS 1.2 one with the test PKI's server chain."""
    work = tmp_path_factory.mktemp("mosquitto")
    plain, tls = _free_port(), _free_port()
    conf = work / "mosquitto.conf"
    conf.write_text("\n".join([
        "per_listener_settings false",
        "allow_anonymous true",
        "persistence false",
        "log_dest stderr",
        "log_type all",
        # as root mosquitto drops to the user "mosquitto", which cannot read pytest's 0700 temp dirs
        *(["user root"] if os.geteuid() == 0 else []),
        f"listener {plain} 127.0.0.1",
        f"listener {tls} 127.0.0.1",
        f"certfile {pki_path('server-chain.pem')}",
        f"keyfile {pki_path('server.key')}",
        "tls_version tlsv1.2",
        f"ciphers {MODULE_SUITES}",
        f"dhparamfile {pki_path('ffdhe2048.pem')}",
        "",
    ]))
    log = work / "mosquitto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([_mosquitto(), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    found = Broker(plain, tls, log)
    try:
        deadline = time.monotonic() + 10
        for port in (plain, tls):
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"mosquitto exited ({proc.returncode}):\n{found.log_tail()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"mosquitto does not listen on {port}:\n{found.log_tail()}")
                    time.sleep(0.05)  # polling a listener that has no event to await, bounded by the deadline
        yield found
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

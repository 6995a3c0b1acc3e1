"""Manual §2.6 examples 1-5 end to end: PTY + pyserial -> emulator -> real TLS -> local servers.

The manual's hosts ("www.baidu.com",443; "114.255.225.39",20444; "188.93.19.231",5555)
stay as the manual writes them; ``--resolve`` maps each to a server on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from emulator.profiles import load_profile
from emulator.runtime.running import RunningModule
from emulator.servers.tls_servers import ServerSettings, TlsServer
from emulator.testing.transcripts import Step, load_transcript, replay
from tests.conftest import MANUAL_PROFILES

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent / "tls"
TIME_LINE = b"Wed Jan 21 15:58:04 MSK 2015\n"  # the first line of the manual's example 5 stream

#: transcript -> (the host:port it dials, the server behind it)
SCENES = {
    "manual_2_6_example_1": ("www.baidu.com:443", ServerSettings()),
    "manual_2_6_example_2": ("www.baidu.com:443", ServerSettings()),
    "manual_2_6_example_3": ("114.255.225.39:20444", ServerSettings(cert="@expired-chain", key="server-expired.key")),
    "manual_2_6_example_4": ("114.255.225.39:20444", ServerSettings()),
    "manual_2_6_example_5": (
        "188.93.19.231:5555",
        ServerSettings(client_ca="root-ca.pem", behaviour="greet", greeting=TIME_LINE),
    ),
}


@contextmanager
def scene(name: str, tmp_path: Path) -> Iterator[tuple[str, TlsServer]]:
    target, settings = SCENES[name]
    if settings.cert == "@expired-chain":
        from dataclasses import replace

        from emulator.servers.pki import cert_bytes

        chain = tmp_path / "expired-chain.pem"
        chain.write_bytes(cert_bytes("server-expired.pem") + cert_bytes("intermediate-ca.pem"))
        settings = replace(settings, cert=str(chain))
    with TlsServer(settings) as server:
        yield f"{target}=127.0.0.1:{server.port}", server


def test_every_example_has_a_scene() -> None:
    assert {p.stem for p in HERE.glob("*.at")} == set(SCENES)


@pytest.mark.parametrize("profile_name", MANUAL_PROFILES)
@pytest.mark.parametrize("name", sorted(SCENES))
def test_example_over_a_pty(name: str, profile_name: str, tmp_path: Path) -> None:
    profile = load_profile(profile_name)
    transcript = load_transcript(
        HERE / f"{name}.at", context={"local_ip": profile.network.local_ip}, prompt=profile.at.prompt
    )
    with scene(name, tmp_path) as (rule, server), RunningModule(profile, strict=True, resolve=[rule]) as running:
        port = running.open_serial(timeout=10)
        try:
            port.write(b"ATE1\r")  # a known echo state whatever the boot left on the line
            assert port.read_until(b"OK\r\n").endswith(b"OK\r\n")

            def exchange(step: Step) -> bytes:
                port.write(step.send)
                return port.read(len(step.expect)) if step.expect else b""

            replay(transcript, exchange)
            port.write(b"AT\r")
            assert port.read(len(b"AT\r\r\nOK\r\n")) == b"AT\r\r\nOK\r\n"  # nothing stray left on the line
        finally:
            port.close()
    if name == "manual_2_6_example_5":
        record = server.handshakes[0]
        assert record.client_cert_subject and "nl668-emulator-client" in record.client_cert_subject

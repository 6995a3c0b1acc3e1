"""Security: loopback-only listeners, no key or certificate content in any output, no host file access.

* Every listener the project's test helpers start binds 127.0.0.1 (checked in the kernel's socket
  table, not in the object's attributes), and the module itself listens nowhere.
* A private key and a certificate loaded through every path (accepted, refused by type, refused by
  content, used in a mutual-TLS handshake, used in a failing one) never appear in the log at DEBUG,
  the ``--trace`` file, what the host received, or any exception the loop recorded.
* Host names that look like files (``/etc/passwd``, ``../x``, ``file://...``) only fail to resolve;
  nothing is created, and no socket goes anywhere the host did not name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from emulator.at_client import AtClient, AtError
from emulator.servers.hostile_servers import HostileServer
from emulator.servers.pki import cert_bytes
from emulator.runtime.running import RunningModule
from emulator.servers.tls_servers import ServerSettings, StallServer, TcpServer, TlsServer, UdpEchoServer
from tests.lab_session import online_module

pytestmark = pytest.mark.integration

LOOPBACK_HEX = "0100007F"  # 127.0.0.1 as /proc/net shows it


def own_socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listeners() -> list[tuple[str, str, int]]:
    """(protocol, local address hex, port) of this process's listening TCP and unconnected UDP sockets."""
    mine = own_socket_inodes()
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        path = Path(f"/proc/self/net/{proto}")
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            fields = row.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if inode not in mine:
                continue
            listening = state == "0A" if proto.startswith("tcp") else remote.endswith(":0000")
            if listening:
                addr, port = local.rsplit(":", 1)
                found.append((proto, addr, int(port, 16)))
    return found


@pytest.mark.parametrize("make", [
    TcpServer, StallServer, TlsServer, UdpEchoServer,
    lambda: HostileServer("client_hello", "stall"), lambda: HostileServer("server_hello", "alert"),
], ids=["tcp", "stall", "tls", "udp", "hostile-raw", "hostile-relay"])
def test_every_test_server_listens_on_loopback_only(make: object) -> None:
    server = make()  # type: ignore[operator]
    with server:
        mine = [entry for entry in listeners() if entry[2] == server.port]
        assert mine, "the server's socket is not in the kernel's table"
        assert all(addr == LOOPBACK_HEX for _, addr, _ in mine), mine
        assert server.host == "127.0.0.1"


def test_the_module_itself_listens_nowhere() -> None:
    before = set(listeners())
    with RunningModule("NL668_AM_00") as running:
        port = running.open_serial()
        try:
            at = AtClient(port)
            at.command("AT+MIPCALL=1")
            assert set(listeners()) == before
        finally:
            port.close()


# --- secrets ---------------------------------------------------------------------------------------------

KEY = cert_bytes("client.key")
CERT = cert_bytes("client.pem")


def secret_fragments() -> list[bytes]:
    """Body lines of the key and certificate (what must never leak), and the key's armour label."""
    lines = [line for pem in (KEY, CERT) for line in pem.splitlines() if line and not line.startswith(b"-----")]
    return lines


@contextmanager
def traced_module(tmp_path: Path, *rules: str) -> Iterator[tuple[RunningModule, AtClient, Path]]:
    trace = tmp_path / "trace.jsonl"
    with online_module("NL668_AM_00", rules, trace) as (running, at):
        at.command("AT+CMEE=2")
        yield running, at, trace
    assert not running.errors


def test_keys_and_certificates_never_reach_a_log_a_trace_or_the_host(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    received: list[str] = []
    broken_key = KEY[:200] + b"!!" + KEY[202:]  # same length, not base64 any more
    with TlsServer(ServerSettings(client_ca="root-ca.pem")) as mtls, TlsServer(
        ServerSettings(client_ca="other-root-ca.pem")
    ) as wrong_ca, traced_module(
        tmp_path, f"mtls.test:443=127.0.0.1:{mtls.port}", f"wrong.test:443=127.0.0.1:{wrong_ca.port}"
    ) as (running, at, trace):
        for kind, data in (("TRUSTFILE", KEY), ("CERTFILE", KEY), ("KEYFILE", broken_key), ("KEYFILE", CERT)):
            with pytest.raises(AtError) as refused:  # refused after the data: the content is wrong
                at.command_with_data(f'AT+GTSSLFILE="{kind}",{len(data)}', data)
            received.append(str(refused.value))
        at.command_with_data(f'AT+GTSSLFILE="KEYFILE",{len(KEY)}', KEY)
        at.command_with_data(f'AT+GTSSLFILE="CERTFILE",{len(CERT)}', CERT)
        received += at.command("AT+GTSSLFILE?")
        for host in ("mtls.test", "wrong.test"):  # the key signs a handshake; then one the server refuses
            at.command(f'AT+MIPOPEN=1,,"{host}",443,2')
            received.append(at.wait_urc("+MIPOPEN: 1,", timeout=20))
            received += at.command("AT+GTSSLERR?")
            if received[-2 if received[-1].startswith("+GTSSLERR") else -1].endswith(",1"):
                at.command("AT+MIPCLOSE=1")
                received.append(at.wait_urc("+MIPCLOSE: 1,"))
        received += list(at.urcs)
        received.append(bytes(at._buffer).decode("latin-1"))
    assert "+MIPOPEN: 1,1" in received and "+MIPOPEN: 1,0" in received  # both handshakes really ran
    outputs = {
        "log": caplog.text.encode(),
        "trace": trace.read_bytes(),
        "host": "\n".join(received).encode(),
        "errors": "\n".join(repr(e) for e in running.errors).encode(),
        "records": "\n".join(repr(r) for r in mtls.handshakes + wrong_ca.handshakes).encode(),
    }
    assert b"<redacted" in outputs["trace"]  # the uploads were traced, redacted
    assert b"module->host" in outputs["log"] and b"GTSSLERR" in outputs["log"]  # DEBUG really was captured
    for name, text in outputs.items():
        for fragment in secret_fragments():
            assert fragment not in text, f"{name} shows key or certificate content"
        assert b"PRIVATE KEY-----" not in text, name


# --- no host file, no unnamed address --------------------------------------------------------------------

FILEISH = ["/etc/passwd", "../x", "file:///etc/passwd", "..\\..\\boot.ini", "/dev/tty", "~/.ssh/id_rsa", "%2e%2e/x"]


def test_file_ish_hosts_only_fail_to_resolve_and_touch_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with StallServer() as decoy, online_module("NL668_AM_00", strict=True) as (_running, at):
        for host in FILEISH:
            for proto in (0, 2):
                at.command(f'AT+MIPOPEN=1,,"{host}",{decoy.port},{proto}')
                assert at.wait_urc("+MIPOPEN: 1,", timeout=20) == "+MIPOPEN: 1,0", host
            with pytest.raises(AtError):
                at.command(f'AT+MIPDNS="{host}"', timeout=20)
            with pytest.raises(AtError):  # not a file type: refused before any prompt
                at.command(f'AT+GTSSLFILE="{host}",10')
        assert at.command("AT") == []
    assert decoy.accepted == 0  # nothing reached the one local server that was there to be found
    assert sorted(os.listdir(tmp_path)) == before

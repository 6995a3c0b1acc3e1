"""The key log: a session the emulator makes (either engine) is decrypted from a capture with its secrets.

The capture is taken on the server side this test controls: a TCP relay in front of the
lab's ``valid`` endpoint records the bytes each way. The decryption is done here, from the
NSS ``CLIENT_RANDOM`` line alone: TLS 1.2 PRF (SHA-256) -> key block -> AES-128-CBC with
HMAC-SHA1 records (RFC 5246 §6.3, §6.2.3.2), recovering what ``+MIPSEND`` sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from emulator.at_client import AtClient
from emulator.lab.scenarios import HOST
from emulator.lab.server import Lab
from emulator.tls import keylog
from tests.lab_session import online_module

pytestmark = pytest.mark.integration

SECRET = b"meter 42: 17.3 kWh, do not read this on the wire"


class Relay:
    """127.0.0.1 TCP relay to ``target`` on its own loop thread; records client->server and server->client bytes."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.up = bytearray()
        self.down = bytearray()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()
        # Pipes still open (the far side's FIN not yet relayed) end here, closing their sockets: none may be
        # left to the garbage collector's ResourceWarning.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, log: bytearray) -> None:
            try:
                while data := await src.read(65536):
                    log += data
                    dst.write(data)
            finally:  # a reset or the relay's stop too: the socket is closed before the loop is
                dst.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await dst.wait_closed()

        await asyncio.gather(pipe(reader, up_writer, self.up), pipe(up_reader, writer, self.down),
                             return_exceptions=True)

    def __enter__(self) -> Relay:
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def records(stream: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i + 5 <= len(stream):
        kind, length = stream[i], int.from_bytes(stream[i + 3:i + 5], "big")
        out.append((kind, stream[i + 5:i + 5 + length]))
        i += 5 + length
    return out


def prf_sha256(secret: bytes, label: bytes, seed: bytes, size: int) -> bytes:
    """TLS 1.2 PRF, P_SHA256 (RFC 5246 §5)."""
    seed = label + seed
    out, a = b"", seed
    while len(out) < size:
        a = hmac.new(secret, a, hashlib.sha256).digest()
        out += hmac.new(secret, a + seed, hashlib.sha256).digest()
    return out[:size]


def decrypt_client_data(up: bytes, down: bytes, keylog_text: str) -> bytes:
    """The client's application data, decrypted with the logged master secret (AES-128-CBC, HMAC-SHA1)."""
    hello = next(body for kind, body in records(up) if kind == 22)
    client_random = hello[6:38]  # handshake header (4) + client_version (2)
    server_hello = next(body for kind, body in records(down) if kind == 22)
    server_random = server_hello[6:38]
    sid_len = server_hello[38]
    suite = int.from_bytes(server_hello[39 + sid_len:41 + sid_len], "big")
    assert suite in (0x002F, 0x0033), f"suite {suite:#06x}: this decryptor does AES128-SHA only"
    lines = [line.split() for line in keylog_text.splitlines()]
    master = next(bytes.fromhex(m) for label, r, m in lines if label == "CLIENT_RANDOM" and r == client_random.hex())
    block = prf_sha256(master, b"key expansion", server_random + client_random, 2 * 20 + 2 * 16)
    mac_key, key = block[:20], block[40:56]
    plain = b""
    after_ccs = False
    seq = 0
    for kind, body in records(up):
        if kind == 20:
            after_ccs = True
            continue
        if not after_ccs:
            continue
        # Both engines negotiate encrypt_then_mac (RFC 7366) with an OpenSSL server: IV, ciphertext, then the
        # MAC over them; without it (RFC 5246) the MAC is inside the ciphertext, before the padding.
        etm = (len(body) - 16) % 16 != 0
        iv, data = body[:16], body[16:-20] if etm else body[16:]
        dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = dec.update(data) + dec.finalize()
        content = padded[: len(padded) - padded[-1] - 1]
        if etm:
            payload, mac, covered = content, body[-20:], body[:-20]
        else:
            payload, mac = content[:-20], content[-20:]
            covered = payload
        header = seq.to_bytes(8, "big") + bytes([kind]) + b"\x03\x03" + len(covered).to_bytes(2, "big")
        assert hmac.compare_digest(mac, hmac.new(mac_key, header + covered, hashlib.sha1).digest())
        seq += 1
        if kind == 23:
            plain += payload
    return plain


@pytest.fixture()
def keylog_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "keys.log"
    keylog.configure(str(path))
    try:
        yield path
    finally:
        keylog.configure(None)


@pytest.mark.parametrize(("variant", "ciphers"), [("NL668_AM_00", (3,)), ("M910", (1, 3))],
                         ids=["openssl", "tlslite-ng"])
def test_a_captured_session_decrypts_with_the_emulators_key_log(
    keylog_file: Path, variant: str, ciphers: tuple[int, ...]
) -> None:
    with Lab(["valid"]) as lab, Relay(lab.endpoint("valid").port) as relay:
        with online_module(variant, [f"{HOST}=127.0.0.1:{relay.port}"]) as (_running, at):
            at.command("AT+GTSSLVER=4")
            for cid in ciphers:  # ids 1 (3DES) + 3: M910's offer then runs on tlslite-ng
                at.command(f"AT+GTSSLCIPHER={cid},1")
            at.command(f'AT+MIPOPEN=1,,"{HOST}",443,2')
            assert at.wait_urc("+MIPOPEN: 1,", timeout=20) == "+MIPOPEN: 1,1"
            at.command_with_data(f"AT+MIPSEND=1,{len(SECRET)}", SECRET)
            at.command("AT+MIPPUSH=1")
            echoed = b""
            while len(echoed) < len(SECRET):  # the echo proves the records went through the relay
                echoed += bytes.fromhex(at.wait_urc("+MIPRTCP: 1,", timeout=10).split(",", 2)[2])
            at.command("AT+MIPCLOSE=1")
            at.wait_urc("+MIPCLOSE: 1,")
        up, down = bytes(relay.up), bytes(relay.down)
    text = keylog_file.read_text()
    # one CLIENT_RANDOM a session (OpenSSL adds an "RSA" pre-master line for RSA key exchange)
    assert [line.split()[0] for line in text.splitlines()].count("CLIENT_RANDOM") == 1
    assert SECRET not in up  # it really was encrypted on the wire ...
    assert decrypt_client_data(up, down, text) == SECRET  # ... and the key log opens it
    assert keylog_file.stat().st_mode & 0o077 == 0  # secrets: owner only


def test_sslkeylogfile_is_honoured_and_nothing_is_logged_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(path))
    assert keylog.target() == str(path)
    keylog.write_line(keylog.client_random_line(b"\x01" * 32, b"\x02" * 48))
    assert path.read_text() == f"CLIENT_RANDOM {'01' * 32} {'02' * 48}\n"
    monkeypatch.delenv("SSLKEYLOGFILE")
    assert keylog.target() is None
    keylog.write_line("CLIENT_RANDOM x y")  # no key log: nowhere
    assert path.read_text().count("\n") == 1


def test_nl668_emu_keylog_option_writes_the_sessions_secrets(tmp_path: Path) -> None:
    import serial

    from tests.frontends.helpers import serving

    keys, ports = tmp_path / "emu-keys.log", tmp_path / "ports"
    with Lab(["valid"]) as lab:
        rule = f"{HOST}=127.0.0.1:{lab.endpoint('valid').port}"
        with serving("--tcp", "127.0.0.1:0", "--port-file", str(ports), "--resolve", rule, "--keylog", str(keys)):
            with serial.serial_for_url(f"socket://127.0.0.1:{int(ports.read_text())}", timeout=10) as port:
                at = AtClient(port)
                at.command("AT+MIPCALL=1")
                at.wait_urc("+MIPCALL: ")
                at.command(f'AT+MIPOPEN=1,,"{HOST}",443,2')
                assert at.wait_urc("+MIPOPEN: 1,", timeout=20) == "+MIPOPEN: 1,1"
                at.command("AT+MIPCLOSE=1")
                at.wait_urc("+MIPCLOSE: 1,")
    lines = keys.read_text().splitlines()
    assert [line.split()[0] for line in lines].count("CLIENT_RANDOM") == 1, lines


def test_an_unwritable_key_log_is_an_error_at_once(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        keylog.configure(str(tmp_path / "no-such-dir" / "keys.log"))
    assert keylog.target() is None or keylog.target() != str(tmp_path / "no-such-dir" / "keys.log")

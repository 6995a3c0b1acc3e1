"""MemoryBio: the per-record OpenSSL calls TlsClient makes directly, against a real OpenSSL server in memory.

Each test checks what the pyOpenSSL call it replaces did: every byte, the close_notify, the errors as
pyOpenSSL's own classes.
"""

from __future__ import annotations

import socket

import pytest
from OpenSSL import SSL

from emulator.tls.membio import CHUNK, MemoryBio
from tests.tls.conftest import server_context


def _pair() -> tuple[SSL.Connection, MemoryBio, SSL.Connection]:
    """A finished TLS 1.2 handshake between a memory-BIO client and server."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
    client = SSL.Connection(ctx, None)
    client.set_connect_state()
    server = SSL.Connection(server_context(), None)
    server.set_accept_state()
    bio = MemoryBio(client)
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except SSL.WantReadError:
                pass
        if wire := bio.take_ciphertext():
            server.bio_write(wire)
        _to_client(server, bio)
    assert client.get_state_string() == b"SSL negotiation finished successfully"
    return client, bio, server


def _to_client(server: SSL.Connection, bio: MemoryBio) -> None:
    while True:
        try:
            bio.put_ciphertext(server.bio_read(CHUNK))
        except SSL.WantReadError:
            return


def test_payload_both_ways_and_nothing_left_is_an_empty_answer() -> None:
    _, bio, server = _pair()
    assert bio.take_ciphertext() == b""  # nothing queued: b"", no WantReadError
    got = bytearray()
    assert bio.read_payload(got) is False and got == b""
    bio.write_payload(b"hello")
    server.bio_write(bio.take_ciphertext())
    assert server.recv(100) == b"hello"
    server.sendall(b"one")
    server.sendall(b"two")  # two records in one feed: both read in one drain
    _to_client(server, bio)
    assert bio.read_payload(got) is False
    assert got == b"onetwo"


def test_more_than_a_chunk_of_ciphertext_and_payload() -> None:
    _, bio, server = _pair()
    payload = bytes(range(256)) * 1024  # 256 KiB: 16 records, ciphertext beyond one CHUNK read
    bio.write_payload(payload)
    wire = bio.take_ciphertext()
    assert len(wire) > 4 * CHUNK
    assert bio.take_ciphertext() == b""
    server.bio_write(wire)
    received = bytearray()
    while len(received) < len(payload):
        received += server.recv(CHUNK)
    assert received == payload
    server.sendall(payload)
    _to_client(server, bio)
    got = bytearray()
    bio.read_payload(got)
    assert got == payload


def test_close_notify_after_data_ends_the_drain_with_the_data_kept() -> None:
    _, bio, server = _pair()
    server.sendall(b"last words")
    server.shutdown()
    _to_client(server, bio)
    got = bytearray()
    assert bio.read_payload(got) is True
    assert got == b"last words"


def test_a_corrupt_record_raises_pyopenssl_error_and_alerts_the_peer() -> None:
    _, bio, server = _pair()
    server.sendall(b"x" * 64)
    record = bytearray(server.bio_read(CHUNK))
    record[-1] ^= 0xFF  # the MAC no longer matches
    bio.put_ciphertext(bytes(record))
    with pytest.raises(SSL.Error) as raised:
        bio.read_payload(bytearray())
    assert "bad record mac" in str(raised.value) or "decryption failed" in str(raised.value)
    alert = bio.take_ciphertext()
    assert alert[:1] == b"\x15"  # the fatal alert OpenSSL queued for the server


def test_write_after_close_raises_pyopenssl_error() -> None:
    client, bio, _ = _pair()
    client.shutdown()
    with pytest.raises(SSL.Error):
        bio.write_payload(b"too late")
    bio.write_payload(b"")  # nothing to send is nothing to refuse, as sendall(b"")


def test_a_socket_connection_is_refused() -> None:
    left, right = socket.socketpair()
    try:
        with pytest.raises(TypeError):
            MemoryBio(SSL.Connection(SSL.Context(SSL.TLS_CLIENT_METHOD), left))
    finally:
        left.close()
        right.close()

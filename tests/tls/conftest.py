"""In-memory TLS servers for the engine tests: real OpenSSL, no sockets, no mocks.

A test server is a pyOpenSSL ``Connection(server_ctx, None)`` in accept state;
:func:`pump` moves bytes between it and a :class:`TlsClient` until neither
side has anything to say. Server contexts are cached (building one loads
keys and DH parameters), one per distinct configuration.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from OpenSSL import SSL, crypto

from emulator.core.tls_request import TlsRequest
from emulator.servers.pki import CERTS_DIR, cert_bytes
from emulator.tls import TlsClient

UTC = dt.timezone.utc
#: A module clock inside every "valid" window of the test PKI (2025-2045).
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)
ROOT = cert_bytes("root-ca.pem")


def request(**changes: object) -> TlsRequest:
    """A TLS 1.2, AES128-SHA, verifying request trusting root-ca, plus ``changes``."""
    fields: dict[str, object] = {
        "version": 4,
        "cipher_ids": (3,),
        "verify": True,
        "trust_pems": (ROOT,),
        "cert_pem": None,
        "key_pem": None,
        "server_name": "www.example.test",
        "module_time": NOW,
    }
    fields.update(changes)
    return TlsRequest(**fields)  # type: ignore[arg-type]


def load_cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert_bytes(name))


def load_key(name: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(cert_bytes(name), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@functools.cache
def server_context(
    leaf: str = "server.pem",
    key: str = "server.key",
    chain: tuple[str, ...] = ("intermediate-ca.pem",),
    *,
    min_version: int = SSL.TLS1_VERSION,
    max_version: int = SSL.TLS1_2_VERSION,
    ciphers: str = "ALL:@SECLEVEL=0",
    client_ca: str | None = None,
    reject_sni: bool = False,
) -> SSL.Context:
    """A server context (cached per configuration).

    Args:
        leaf, key: the server certificate and key files in certs/.
        chain: extra certificates the server sends after the leaf.
        client_ca: require a client certificate issued by this CA file.
        reject_sni: the servername callback raises: pyOpenSSL then answers
            with a fatal unrecognized_name (112).
    """
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(min_version)
    ctx.set_max_proto_version(max_version)
    ctx.set_cipher_list(ciphers.encode())
    ctx.use_certificate(load_cert(leaf))
    for name in chain:
        ctx.add_extra_chain_cert(extra_cert(name))
    ctx.use_privatekey(load_key(key))
    ctx.load_tmp_dh(str(CERTS_DIR / "ffdhe2048.pem"))
    if client_ca is not None:
        store = ctx.get_cert_store()
        assert store is not None
        store.add_cert(crypto.X509.from_cryptography(load_cert(client_ca)))
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
    if reject_sni:

        def refuse(conn: SSL.Connection) -> None:
            raise LookupError("no such virtual host")

        ctx.set_tlsext_servername_callback(refuse)
    return ctx


def extra_cert(name: str) -> x509.Certificate:
    """A chain certificate by file name."""
    return load_cert(name)


@dataclass
class Server:
    """The server end of an in-memory pair."""

    conn: SSL.Connection
    received: bytearray = field(default_factory=bytearray)
    failed: SSL.Error | None = None
    handshake_done: bool = False
    closed_by_peer: bool = False

    def step(self) -> None:
        if self.failed is not None:
            return
        try:
            if not self.handshake_done:
                self.conn.do_handshake()
                self.handshake_done = True
            while not self.closed_by_peer:
                self.received += self.conn.recv(65536)
        except SSL.WantReadError:
            pass
        except SSL.ZeroReturnError:
            self.closed_by_peer = True
        except SSL.Error as exc:
            self.failed = exc

    def drain(self) -> bytes:
        out = []
        while True:
            try:
                out.append(self.conn.bio_read(65536))
            except SSL.WantReadError:
                return b"".join(out)


def new_server(ctx: SSL.Context) -> Server:
    conn = SSL.Connection(ctx, None)
    conn.set_accept_state()
    return Server(conn)


def pump(client: TlsClient, server: Server, *, split: Callable[[bytes], list[bytes]] | None = None) -> None:
    """Move bytes both ways until both ends are quiet. A client TlsFailure propagates."""
    while True:
        out = client.outgoing()
        if out:
            server.conn.bio_write(out)
        server.step()
        back = server.drain()
        for chunk in split(back) if split and back else [back]:
            client.feed(chunk)
        if not out and not back:
            return


def connect(req: TlsRequest, server_ctx: SSL.Context) -> tuple[TlsClient, Server]:
    """Build a client for ``req``, start it and pump the handshake to its end."""
    client = TlsClient(req)
    server = new_server(server_ctx)
    client.initiate()
    pump(client, server)
    return client, server

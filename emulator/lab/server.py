"""The lab's endpoints: one local server per scenario, all on 127.0.0.1, in-process.

Why these server kinds: most scenarios are a configuration of the test
suite's stdlib-``ssl`` :class:`~emulator.servers.tls_servers.TlsServer` (the
system's OpenSSL 3.0, an independent build from the module's engine). What no
OpenSSL here can serve (SSL 3.0, 3DES, a 512-bit DH group) runs on a
tlslite-ng server; what is not TLS at all (alerts as the first answer, resets,
garbage, silence) is a raw TCP endpoint. Every server runs on the test
servers' shared asyncio loop (:func:`~emulator.servers.tls_servers.server_loop`).

Use::

    with Lab() as lab:                       # or Lab(["expired", "alert-49"])
        for ep in lab.endpoints:
            print(ep.scenario.name, ep.host, ep.port)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from tlslite.api import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey
from tlslite.errors import TLSError

from emulator.servers.pki import pki_path
from emulator.servers.tls_servers import (
    ServerSettings,
    StallServer,
    TlsServer,
    _Connection,
    _StreamServer,
    _TlsConnection,
    server_loop,
)
from emulator.tls.legacy import BufferSocket

from .scenarios import DRIP_TEXT, SCENARIOS, LiteSettings, RawReply, Scenario, TlsAfter, by_name

__all__ = ["Endpoint", "Lab", "LiteServer", "RawServer", "server_for"]

#: Small DH groups a field server may still use (p, g). 768 bits: RFC 2409 group 1 (Oakley).
#: 512 bits: the prime OpenSSL's ``dhparam 512`` gave once (data, like the committed PKI).
DH_GROUPS: dict[int, tuple[int, int]] = {
    768: (
        int(
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF",
            16,
        ),
        2,
    ),
    512: (
        int(
            "9CA5850945B5FB3AF3219E5DEEF82FD71C596592F44E685777218B6AB410FC34"
            "5588787C7D35D490EAE754A326AC517CD191A48E88BF300E1F3D0B8909089C17",
            16,
        ),
        2,
    ),
}


class RawServer(_StreamServer):
    """A raw TCP endpoint for the non-TLS scenarios (:class:`~emulator.lab.scenarios.RawReply`)."""

    def __init__(self, spec: RawReply) -> None:
        super().__init__(StallServer().script)
        self.spec = spec

    def _connection(self) -> _Connection:
        return _RawConnection(self)


class _RawConnection(_Connection):
    server: RawServer

    def opened(self) -> None:
        """Wait for the ClientHello."""

    def data_received(self, data: bytes) -> None:
        if self.ending is not None:
            return
        spec = self.server.spec
        if spec.reply:
            self.send(spec.reply)
        if spec.reset:
            self.abort("server_reset", rst=True)
        elif spec.reply:
            self.close("server_close")


class _AfterTlsServer(TlsServer):
    """The stdlib TLS server with a lab behaviour after the handshake (:class:`TlsAfter`)."""

    def __init__(self, spec: TlsAfter) -> None:
        super().__init__(spec.settings)
        self.after = spec.after

    def _connection(self) -> _Connection:
        assert self._context is not None
        return _AfterTlsConnection(self, self._context)


class _AfterTlsConnection(_TlsConnection):
    server: _AfterTlsServer

    def __init__(self, server: _AfterTlsServer, context: Any) -> None:
        super().__init__(server, context)
        self.started = False
        self.timer: asyncio.TimerHandle | None = None

    def step(self) -> None:
        super().step()
        if self.handshake_done and not self.started and self.ending is None:
            self.started = True
            if self.server.after == "fin":
                self.send(b"closing without close_notify\r\n")
                _Connection.close(self, "server_fin")  # FIN, skipping the TLS close_notify
            else:
                self.drip(0)

    def drip(self, index: int) -> None:
        # The server's own pacing (one byte a second), not a test's synchronisation.
        if self.ending is not None:
            return
        self.send(DRIP_TEXT[index % len(DRIP_TEXT) : index % len(DRIP_TEXT) + 1])
        self.timer = asyncio.get_running_loop().call_later(1.0, self.drip, index + 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        super().connection_lost(exc)


class LiteServer(_StreamServer):
    """A tlslite-ng TLS server (echo after the handshake): SSL 3.0, 3DES, small DH groups.

    :attr:`negotiated` lists ``(version, IANA suite)`` per finished handshake.
    """

    def __init__(self, spec: LiteSettings) -> None:
        super().__init__(StallServer().script)
        self.spec = spec
        self.negotiated: list[tuple[tuple[int, int], int]] = []
        self._chain: X509CertChain | None = None
        self._key: Any = None

    def _prepare(self) -> None:
        chain = X509CertChain()
        chain.parsePemList(pki_path("server-chain.pem").read_text())
        self._chain = chain
        self._key = parsePEMKey(pki_path("server.key").read_text(), private=True)

    def settings(self) -> HandshakeSettings:
        spec = self.spec
        settings = HandshakeSettings()
        settings.minVersion, settings.maxVersion = spec.min_version, spec.max_version
        settings.cipherNames = list(spec.ciphers)
        settings.keyExchangeNames = list(spec.key_exchange)
        if spec.dh_bits is not None:
            prime, generator = DH_GROUPS[spec.dh_bits]
            settings.dhParams = (generator, prime)
        return settings

    def _connection(self) -> _Connection:
        return _LiteConnection(self)


class _WeakDhConnection(TLSConnection):  # type: ignore[misc]
    """A tlslite server connection that serves its small ``dhParams`` whatever groups the client lists.

    tlslite follows RFC 7919: a client listing FFDHE groups (OpenSSL does)
    gets one of them, or insufficient_security when none is shared. A field
    server with a weak group ignores the list; so does this one. tlslite asks
    ``_groupNamesToList`` twice per handshake: first for the overlap check
    (answer: every FFDHE group, so DHE stays allowed), then for the key
    exchange (answer: none, so ``dhParams`` is used). Private API, tlslite-ng 0.8.2.
    """

    _asked = 0

    def _groupNamesToList(self, settings: Any) -> list[int]:
        self._asked += 1
        return list(range(256, 261)) if self._asked == 1 else []


class _LiteConnection(_Connection):
    server: LiteServer

    def __init__(self, server: LiteServer) -> None:
        super().__init__(server)
        self.sock = BufferSocket()
        self.conn = (_WeakDhConnection if server.spec.dh_bits else TLSConnection)(self.sock)
        self.conn.closeSocket = False
        self.handshake = self.conn.handshakeServerAsync(
            certChain=server._chain, privateKey=server._key, settings=server.settings()
        )
        self.done = False
        self.reader: Any = None

    def opened(self) -> None:
        """Wait for the ClientHello."""

    def data_received(self, data: bytes) -> None:
        if self.ending is not None:
            return
        self.sock.feed(data)
        try:
            if not self.done:
                for step in self.handshake:
                    if isinstance(step, int) and step == 0:
                        self.flush()
                        return
                self.done = True
                self.server.negotiated.append((tuple(self.conn.version), self.conn.session.cipherSuite))
            self.echo()
        except TLSError:
            self.flush()
            self.close("handshake_failed" if not self.done else "error")
            return
        self.flush()

    def echo(self) -> None:
        while True:
            if self.reader is None:
                self.reader = self.conn.readAsync(max=65536)
            for step in self.reader:
                if isinstance(step, int):
                    if step == 0:
                        return
                    continue
                self.reader = None
                if not step:
                    self.close("close_notify")
                    return
                for _ in self.conn.writeAsync(bytes(step)):
                    pass
                break
            else:
                self.reader = None

    def flush(self) -> None:
        data = self.sock.drain()
        if data and self.transport is not None:
            self.transport.write(data)

    def eof_received(self) -> bool:
        self.end("eof")
        return False


def server_for(scenario: Scenario) -> _StreamServer:
    """An unstarted server for ``scenario`` (the server kind follows the table's data type)."""
    spec = scenario.server
    if isinstance(spec, ServerSettings):
        return TlsServer(spec)
    if isinstance(spec, TlsAfter):
        return _AfterTlsServer(spec)
    if isinstance(spec, LiteSettings):
        return LiteServer(spec)
    if spec.stall:
        return StallServer()
    return RawServer(spec)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One running scenario: where a module (or ``--resolve``) must point."""

    scenario: Scenario
    host: str
    port: int
    server: _StreamServer

    def as_json(self) -> dict[str, object]:
        # trust_file: the CA the module side uploads as TRUSTFILE, by its installed path (a wheel's user has
        # no certs/ directory to find it in).
        return {"scenario": self.scenario.name, "host": self.host, "port": self.port,
                "description": self.scenario.description, "trust_file": str(pki_path("root-ca.pem"))}


class Lab:
    """Every scenario's endpoint on 127.0.0.1 (ephemeral ports), in this process.

    Args:
        scenarios: names to run (default: all of :data:`~emulator.lab.scenarios.SCENARIOS`).

    Raises:
        KeyError: an unknown scenario name.
    """

    def __init__(self, scenarios: Iterable[str] | None = None) -> None:
        self.scenarios: tuple[Scenario, ...] = (
            SCENARIOS if scenarios is None else tuple(by_name(n) for n in dict.fromkeys(scenarios))
        )
        self.endpoints: list[Endpoint] = []

    def start(self) -> Lab:
        server_loop()  # start the shared loop once, before the first server
        try:
            for scenario in self.scenarios:
                server = server_for(scenario).start()
                self.endpoints.append(Endpoint(scenario, server.host, server.port, server))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        endpoints, self.endpoints = self.endpoints, []
        for endpoint in endpoints:
            endpoint.server.stop()

    def endpoint(self, name: str) -> Endpoint:
        return next(e for e in self.endpoints if e.scenario.name == name)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

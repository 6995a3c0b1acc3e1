"""The field-failure lab's scenario table, as data: one source for the docs, the printout and the tests.

Each :class:`Scenario` names a failure a module meets in the field, says how
a local endpoint reproduces it (:attr:`Scenario.server`, served by
:mod:`emulator.lab.server`) and what the module reports: the ``+MIPOPEN``
result and the ``+GTSSLERR`` code, per ``+GTSSLMODE`` and per variant.

The module side every expectation assumes (the matrix test does exactly this,
and so should a host reproducing a field report): ``AT+MIPCALL=1``, the lab's
``root-ca.pem`` uploaded as TRUSTFILE, ``AT+GTSSLMODE=<mode>``, the variant's
default ``+GTSSLVER`` and cipher ids, no CERTFILE/KEYFILE unless
:attr:`Scenario.client_cert`, the commands of :attr:`Scenario.setup`, then
``AT+MIPOPEN=<s>,,"www.example.test",<port>,2`` with ``www.example.test``
resolved to the endpoint (``--resolve``). Handshake-stall needs a short
``sockets.open_timeout_s`` (the tests use 1 s).

Variants: expectations are given for ``NL668_AM_00`` (OpenSSL engine: ids
2,3,4) and ``M910`` (defaults 1,2,3 include 3DES, so its connections run on
the legacy tlslite-ng engine, ``emulator/tls/engine.py``); ``*`` is the
fallback for other variants of the same kind as AM_00.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from emulator.servers.tls_servers import ServerSettings

__all__ = [
    "ALERTS",
    "HOST",
    "SCENARIOS",
    "VARIANTS",
    "LiteSettings",
    "Outcome",
    "RawReply",
    "Scenario",
    "TlsAfter",
    "by_name",
]

#: the host name every scenario's module dials (the committed leaves carry it)
HOST = "www.example.test"
#: the variants the table states expectations for (the matrix test runs both)
VARIANTS = ("NL668_AM_00", "M910")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the module reports for one attempt.

    ``opened`` is None when a :attr:`Scenario.setup` command is refused
    (``ERROR``) on the variant: the attempt cannot be made at all.
    ``code`` is ``AT+GTSSLERR?`` afterwards (None: plain ``OK``).
    """

    opened: bool | None
    code: int | None = None

    def text(self) -> str:
        if self.opened is None:
            return "setup ERROR"
        result = "1" if self.opened else "0"
        return f"+MIPOPEN: s,{result}" + ("" if self.code is None else f" +GTSSLERR: {self.code}")


OK = Outcome(True)
REFUSED = Outcome(None)


def fail(code: int | None) -> Outcome:
    return Outcome(False, code)


# --- how an endpoint is served -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsAfter:
    """A stdlib-ssl TLS server (:class:`ServerSettings`) with a lab behaviour after the handshake.

    ``drip``: send :data:`DRIP_TEXT` one byte a second; ``fin``: send a line,
    then close TCP without a close_notify.
    """

    settings: ServerSettings
    after: Literal["drip", "fin"]


@dataclass(frozen=True, slots=True)
class LiteSettings:
    """A tlslite-ng server: for what no OpenSSL here serves (SSL 3.0, 3DES, tiny DH groups)."""

    min_version: tuple[int, int] = (3, 0)
    max_version: tuple[int, int] = (3, 3)
    ciphers: tuple[str, ...] = ("aes128", "aes256", "3des")
    key_exchange: tuple[str, ...] = ("rsa", "dhe_rsa")
    dh_bits: int | None = None  #: serve this small DH group (RFC 2409 group 1 = 768 bits, or 512)


@dataclass(frozen=True, slots=True)
class RawReply:
    """A raw TCP endpoint: after the client's first bytes, answer ``reply`` then close (FIN), or reset (RST).

    ``stall``: accept and read, never answer (a handshake hangs).
    """

    reply: bytes = b""
    reset: bool = False
    stall: bool = False


Server = ServerSettings | TlsAfter | LiteSettings | RawReply

#: a fatal alert record as a server's first answer (TLS 1.0 record version, like the tests' injection)
ALERT_RECORD = "150301000202"

#: The alerts a server can send as the handshake's answer: every alert of the manual's list
#: (§1.3.4, 10-100) and 112 unrecognized_name (reported as 155).
ALERTS: tuple[int, ...] = (10, 20, 21, 22, 30, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 60, 70, 71, 80, 90,
                           100, 112)

GARBAGE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
DRIP_TEXT = b"slow drip: one byte a second\r\n"


# --- the table -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """One lab endpoint and what a module reports against it.

    ``expect`` maps a variant name (or ``*``) to ``{+GTSSLMODE: Outcome}``.
    """

    name: str
    description: str
    server: Server
    expect: Mapping[str, Mapping[int, Outcome]]
    setup: tuple[str, ...] = ()  #: AT commands before +MIPOPEN
    restore: tuple[str, ...] = ()  #: AT commands that undo ``setup`` (errors ignored)
    client_cert: bool = False  #: CERTFILE/KEYFILE client.pem/client.key loaded
    why: str = ""  #: what the "why" side channel shows (engine detail), for the docs

    def outcome(self, variant: str, mode: int) -> Outcome:
        table = self.expect.get(variant.upper()) or self.expect["*"]
        return table[mode]

    @property
    def codes(self) -> frozenset[int]:
        return frozenset(o.code for t in self.expect.values() for o in t.values() if o.code is not None)


def same(outcome: Outcome) -> dict[str, dict[int, Outcome]]:
    """Every variant, both modes."""
    return {"*": {0: outcome, 1: outcome}}


def verified(code: int) -> dict[str, dict[int, Outcome]]:
    """Fails with ``code`` when the module verifies (mode 1), connects when it does not (mode 0)."""
    return {"*": {0: OK, 1: fail(code)}}


def per_variant(am: Outcome | tuple[Outcome, Outcome], m910: Outcome | tuple[Outcome, Outcome]) -> dict[str, dict[int, Outcome]]:
    def modes(o: Outcome | tuple[Outcome, Outcome]) -> dict[int, Outcome]:
        return {0: o[0], 1: o[1]} if isinstance(o, tuple) else {0: o, 1: o}

    return {"*": modes(am), "NL668_AM_00": modes(am), "M910": modes(m910)}


def _chain(cert: str, key: str = "server.key", **kw: object) -> ServerSettings:
    return ServerSettings(cert=cert, key=key, **kw)  # type: ignore[arg-type]


_BASE: tuple[Scenario, ...] = (
    Scenario("valid", "an echo server with a valid chain for www.example.test", ServerSettings(), same(OK)),
    Scenario("expired", "leaf expired in 2020 (judged by the module clock)",
             _chain("server-expired-chain.pem", "server-expired.key"), verified(45)),
    Scenario("not-yet-valid", "leaf valid from 2040", _chain("server-not-yet-valid-chain.pem",
             "server-not-yet-valid.key"), verified(42)),
    Scenario("wrong-host", "leaf only for wrong.example.test", _chain("server-wrong-host-chain.pem",
             "server-wrong-host.key"), verified(153), why="X509 error 62, sent alert 42"),
    Scenario("self-signed", "self-signed leaf", _chain("server-self-signed.pem", "server-self-signed.key"),
             verified(48)),
    Scenario("untrusted-root", "leaf from a root the module does not trust",
             _chain("server-untrusted.pem", "server-untrusted.key"), verified(48)),
    Scenario("incomplete-chain", "leaf sent without its intermediate", _chain("server.pem"), verified(48)),
    Scenario("client-cert-required", "requires a client certificate; the module has none loaded",
             ServerSettings(client_ca="root-ca.pem"), same(fail(40)), why="received alert 40"),
    Scenario("client-cert-from-other-CA", "requires a client certificate from another CA than the module's",
             ServerSettings(client_ca="other-root-ca.pem"), same(fail(48)), client_cert=True,
             why="received alert 48"),
    Scenario("tls1.2-only", "TLS 1.2 only; the module speaks its default TLS 1.0",
             ServerSettings(min_version=ssl.TLSVersion.TLSv1_2), same(fail(70)), why="received alert 70"),
    Scenario("tls1.0-only", "TLS 1.0 only; the module is set to TLS 1.2",
             ServerSettings(max_version=ssl.TLSVersion.TLSv1), same(fail(70)),
             setup=("AT+GTSSLVER=4",), restore=("AT+GTSSLVER=2",), why="sent alert 70"),
    Scenario("no-shared-cipher", "ECDHE suites only, which no module suite matches",
             ServerSettings(ciphers="ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:@SECLEVEL=0"), same(fail(40)),
             why="received alert 40"),
    Scenario("weak-dh", "DHE only, with a 512-bit DH group (tlslite-ng server)",
             LiteSettings(min_version=(3, 1), key_exchange=("dhe_rsa",), dh_bits=512),
             per_variant(fail(40), fail(71)),
             why="OpenSSL: sent alert 40 (dh key too small, even at security level 0); "
                 "tlslite-ng (M910): sent alert 71 insufficient_security"),
    Scenario("sha1-signed", "leaf signed with SHA-1; the module set to TLS 1.2",
             _chain("server-sha1-chain.pem", "server-sha1.key"),
             per_variant((OK, fail(42)), OK), setup=("AT+GTSSLVER=4",), restore=("AT+GTSSLVER=2",),
             why="OpenSSL at TLS 1.2 (security level 2): X509 error 68 CA_MD_TOO_WEAK, sent alert 42; "
                 "at TLS 1.0/1.1 (level 0) and on the tlslite-ng engine SHA-1 is accepted"),
    Scenario("wrong-purpose", "leaf whose EKU is clientAuth only", _chain("server-client-eku.pem",
             "server-client-eku.key"), verified(43), why="X509 error 26, sent alert 43"),
    Scenario("bad-signature", "leaf with a corrupted signature", _chain("server-bad-signature.pem"), verified(51),
             why="X509 error 7, sent alert 51"),
    Scenario("reset-during-handshake", "resets (RST) on the ClientHello", RawReply(reset=True), same(fail(None)),
             why="no TLS alert: not an SSL error, +GTSSLERR keeps no code"),
    Scenario("garbage-instead-of-hello", "answers the ClientHello with an HTTP error page",
             RawReply(GARBAGE), per_variant(fail(80), fail(47)),
             why="OpenSSL: no alert at all (wrong version number) -> 80; tlslite-ng: sent alert 47"),
    Scenario("handshake-stall", "accepts and reads, never answers", RawReply(stall=True), same(fail(90)),
             why="the module's open timeout (sockets.open_timeout_s); 90 is the core's choice"),
    Scenario("close-without-close_notify", "sends a line after the handshake, then FIN without close_notify",
             TlsAfter(ServerSettings(), "fin"), same(OK)),
    Scenario("reset-mid-transfer", "echoes 16 bytes, then resets (RST)",
             ServerSettings(behaviour="reset_after", reset_after_bytes=16), same(OK)),
    Scenario("slow-drip", "sends a line one byte a second after the handshake", TlsAfter(ServerSettings(), "drip"),
             same(OK)),
    Scenario("big-chain", "a ~11 kB chain: leaf, intermediate and an 8 kB padded CA",
             _chain("server-big-chain.pem"), same(OK)),
    Scenario("sslv3-only", "SSL 3.0 only (tlslite-ng server)",
             LiteSettings(min_version=(3, 0), max_version=(3, 0)), per_variant(REFUSED, OK),
             setup=("AT+GTSSLVER=1",), restore=("AT+GTSSLVER=2",),
             why="M910: legacy engine, SSLv3; AM_00 has no SSL 3.0 (+GTSSLVER=1 -> ERROR)"),
    Scenario("3des-only", "3DES suites only (tlslite-ng server)", LiteSettings(ciphers=("3des",)),
             per_variant(fail(71), OK),
             why="AM_00 offers no 3DES: the tlslite-ng server answers alert 71 insufficient_security; "
                 "M910 offers ids 1 (and 6 when enabled)"),
)

_ALERT_NAMES = {112: "unrecognized_name (reported as 155)"}


def _alert_scenarios() -> tuple[Scenario, ...]:
    return tuple(
        Scenario(f"alert-{n}", f"answers the ClientHello with fatal alert {n} {_ALERT_NAMES.get(n, '')}".rstrip(),
                 RawReply(bytes.fromhex(ALERT_RECORD) + bytes([n])), same(fail(155 if n == 112 else n)),
                 why=f"received alert {n}")
        for n in ALERTS
    )


SCENARIOS: tuple[Scenario, ...] = _BASE + _alert_scenarios()
_BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}


def by_name(name: str) -> Scenario:
    """The scenario called ``name``.

    Raises:
        KeyError: no such scenario (the message lists them).
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no scenario {name!r}; known: {', '.join(_BY_NAME)}") from None


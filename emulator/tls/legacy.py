"""The legacy TLS engine: tlslite-ng for what this OpenSSL lacks (SSL 3.0, 3DES).

Why a second engine: cipher ids 1 and 6 (3DES) and ``+GTSSLVER=1`` (SSL 3.0)
are defaults or options on real variants (M910, NL668_CN/EU), but neither the
OpenSSL 4.0.3 bundled with pyOpenSSL nor the system OpenSSL 3.0 has them
(tls-engine.md §4, §8). tlslite-ng (pure Python, pinned 0.8.2) speaks both.

Theory of operation: :class:`LegacyTlsClient` has the interface of
:class:`~emulator.tls.session.TlsClient` and is sans-socket too. tlslite's
non-blocking generators (``handshakeClientCert(async_=True)``,
``readAsync``, ``writeAsync``) run over :class:`BufferSocket`, an in-memory
object with the three socket methods tlslite calls: ``send`` appends to the
outgoing buffer, ``recv`` takes from the incoming one and raises
``EWOULDBLOCK`` when it is empty (the generator then yields and is resumed by
the next :meth:`~LegacyTlsClient.feed`).

Fidelity points, each from tls-engine.md:

* §4.3: the ClientHello offers exactly the enabled suites (plus the SCSV):
  tlslite only takes cross-products of cipher x key exchange x MAC, so a
  filter on ``CipherSuite._filterSuites`` keeps only ``allowed_suites``.
* §4.4: tlslite validates no chain; :class:`_ModuleConnection` verifies it in
  the cert-chain hook with pyOpenSSL ``X509StoreContext`` at the module clock
  and with the host name, and sends the alert OpenSSL's ``x509table`` gives.
  The class and code then come from the same :func:`classify_failure` as OpenSSL's.
* §4.2: tlslite's pure-Python 3DES runs at ~4.5 kB/s; the record layer's
  cipher factories are replaced with ``cryptography`` CBC (~5 MB/s).
"""

from __future__ import annotations

import errno as errno_mod
import ipaddress
import logging
import warnings
from collections.abc import Generator, Iterator
from typing import Any

with warnings.catch_warnings():
    # tlslite.api imports its asyncore integration; asyncore warns on 3.11 and
    # the test suite turns warnings into errors. Import it once, quietly.
    warnings.simplefilter("ignore", DeprecationWarning)
    import tlslite.api  # noqa: F401

import tlslite
import tlslite.recordlayer as _recordlayer
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from OpenSSL import crypto
from OpenSSL._util import ffi as _ffi
from OpenSSL._util import lib as _lib  # private, pinned pyOpenSSL 26.4.0: X509_VERIFY_PARAM_set1_host
from tlslite.api import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey
from tlslite.constants import AlertDescription, AlertLevel, CipherSuite
from tlslite.errors import TLSAbruptCloseError, TLSError, TLSLocalAlert, TLSRemoteAlert
from tlslite.messages import Alert

from emulator.core.codes import GtsslErr, SslVersion
from emulator.core.tls_request import TlsRequest

from . import keylog
from .alert_codes import TlsFailure, TlsPeerClosed, classify_failure
from .context_factory import LEGACY_CIPHER_IDS, is_ip_literal, set_module_time
from .session import WIRE_VERSION_NAMES, HandshakeSteps

__all__ = [
    "IANA_SUITES",
    "LEGACY_CIPHER_IDS",
    "TLSLITE_VERSION",
    "BufferSocket",
    "LegacyTlsClient",
    "alert_for_x509_error",
]

logger = logging.getLogger(__name__)

#: The tlslite-ng this module's private hooks were written against (pyproject pins it).
TLSLITE_VERSION = "0.8.2"
if tlslite.__version__ != TLSLITE_VERSION:  # pragma: no cover - a pin drift must be loud
    raise ImportError(f"emulator.tls.legacy needs tlslite-ng {TLSLITE_VERSION}, found {tlslite.__version__}")

#: ``+GTSSLCIPHER`` id -> IANA suite number (manual §1.5.4; tls-engine.md §4.3).
IANA_SUITES: dict[int, int] = {
    1: 0x0016, 2: 0x0033, 3: 0x002F, 4: 0x0039, 5: 0x0035,
    6: 0x000A, 7: 0x003C, 8: 0x003D, 9: 0x0067, 10: 0x006B,
}

#: ``+GTSSLVER`` -> tlslite's version tuple (min = max: the module offers one version).
VERSIONS: dict[int, tuple[int, int]] = {
    SslVersion.SSL3_0: (3, 0),
    SslVersion.TLS1_0: (3, 1),
    SslVersion.TLS1_1: (3, 2),
    SslVersion.TLS1_2: (3, 3),
}

#: IANA suite -> OpenSSL's name, so both engines' "why" lines read alike.
_SUITE_NAMES: dict[int, str] = {
    0x0016: "EDH-RSA-DES-CBC3-SHA", 0x0033: "DHE-RSA-AES128-SHA", 0x002F: "AES128-SHA",
    0x0039: "DHE-RSA-AES256-SHA", 0x0035: "AES256-SHA", 0x000A: "DES-CBC3-SHA",
    0x003C: "AES128-SHA256", 0x003D: "AES256-SHA256", 0x0067: "DHE-RSA-AES128-SHA256",
    0x006B: "DHE-RSA-AES256-SHA256",
}

#: OpenSSL's ``x509table`` (ssl/statem/statem_lib.c, tls-engine.md §1.4): X509_V_ERR_* -> alert.
#: Copied so both engines send the same alert for the same verification failure.
_X509_ALERTS: dict[int, int] = {
    **dict.fromkeys((4, 5, 6, 9, 11, 13, 14, 15, 16, 27, 28, 62, 63, 64, 65, 66, 67, 68), 42),
    26: 43,
    23: 44,
    **dict.fromkeys((10, 12), 45),
    **dict.fromkeys((2, 3, 18, 19, 20, 21, 22, 24, 25, 54), 48),
    **dict.fromkeys((7, 8), 51),
    50: 40,
    **dict.fromkeys((1, 17, 69, 70), 80),
}
_X509_DEFAULT_ALERT = 46  # the table's default row: certificate_unknown


def alert_for_x509_error(errno: int) -> int:
    """The alert OpenSSL sends for X509 error ``errno`` (46 for unmapped ones, as OpenSSL)."""
    return _X509_ALERTS.get(errno, _X509_DEFAULT_ALERT)


# --- the cryptography-backed CBC shim (tls-engine.md §4.2) ---------------------------------------------


class _CbcCipher:
    """tlslite's block-cipher interface on one persistent ``cryptography`` CBC context.

    Persistent so the chained IVs of SSL 3.0 / TLS 1.0 carry over between
    records; TLS 1.1+ explicit IVs work too (tlslite prepends a random block).
    """

    isBlockCipher = True
    isAEAD = False

    def __init__(self, algorithm: Any, name: str, key: bytes, iv: bytes) -> None:
        self.block_size = len(iv)
        self.name = name
        self.implementation = "cryptography"
        cipher = Cipher(algorithm(bytes(key)), modes.CBC(bytes(iv)))
        self._enc = cipher.encryptor()
        self._dec = cipher.decryptor()

    def encrypt(self, data: bytes) -> bytearray:
        return bytearray(self._enc.update(bytes(data)))

    def decrypt(self, data: bytes) -> bytearray:
        return bytearray(self._dec.update(bytes(data)))


def _install_cbc_shim() -> None:
    # recordlayer imports the factory names directly, so patch them there
    # (patching tlslite.utils.cipherfactory would change nothing).
    _recordlayer.createTripleDES = lambda key, iv, implList=None: _CbcCipher(TripleDES, "3des", key, iv)
    _recordlayer.createAES = lambda key, iv, implList=None: _CbcCipher(
        algorithms.AES, f"aes{len(key) * 8}", key, iv
    )


# --- offering exactly the enabled suites (tls-engine.md §4.3) ------------------------------------------

_original_filter = CipherSuite._filterSuites


def _filter_suites(suites: list[int], settings: Any, version: Any = None) -> list[int]:
    filtered = _original_filter(suites, settings, version)
    allowed = getattr(settings, "allowed_suites", None)
    # Settings without the attribute (tlslite's own, e.g. a lab server) are untouched.
    return filtered if allowed is None else [s for s in filtered if s in allowed]


class _ModuleSettings(HandshakeSettings):  # type: ignore[misc]
    """HandshakeSettings that carry ``allowed_suites`` through ``validate()`` (which copies)."""

    allowed_suites: frozenset[int] | None = None

    def validate(self) -> HandshakeSettings:
        other = super().validate()
        other.allowed_suites = self.allowed_suites
        return other


def _install() -> None:
    _install_cbc_shim()
    CipherSuite._filterSuites = staticmethod(_filter_suites)


_install()


# --- the in-memory socket ------------------------------------------------------------------------------


class BufferSocket:
    """What tlslite needs of a socket, over two byte buffers (no file descriptor, no blocking).

    ``recv`` raises ``EWOULDBLOCK`` when nothing is buffered, so tlslite's
    generators yield instead of blocking; after :meth:`feed_eof` it answers
    ``b""`` (tlslite's "connection closed").
    """

    def __init__(self) -> None:
        self.incoming = bytearray()
        self.outgoing = bytearray()
        self.eof = False

    def feed(self, data: bytes) -> None:
        self.incoming += data

    def feed_eof(self) -> None:
        self.eof = True

    def drain(self) -> bytes:
        data = bytes(self.outgoing)
        self.outgoing.clear()
        return data

    # The socket API tlslite calls.

    def send(self, data: bytes) -> int:
        self.outgoing += data
        return len(data)

    def sendall(self, data: bytes) -> None:
        self.outgoing += data

    def recv(self, size: int) -> bytes:
        if not self.incoming:
            if self.eof:
                return b""
            raise BlockingIOError(errno_mod.EWOULDBLOCK, "no data buffered")
        data = bytes(self.incoming[:size])
        del self.incoming[:size]
        return data

    def close(self) -> None:
        """tlslite closes its socket on shutdown; the runtime owns the real one."""

    def settimeout(self, timeout: float | None) -> None:
        """tlslite never needs it here."""

    def getsockname(self) -> tuple[str, int]:
        return ("0.0.0.0", 0)

    def getpeername(self) -> tuple[str, int]:
        return ("0.0.0.0", 0)


# --- chain verification in the handshake (tls-engine.md §4.4) ------------------------------------------


class _ModuleConnection(TLSConnection):  # type: ignore[misc]
    """A tlslite connection that verifies the server chain as the OpenSSL engine does."""

    verifier: _ChainVerifier | None = None

    #: the certificates the server sent (DER, leaf first), for diagnostics
    server_chain: list[bytes] = []

    def _check_certchain_with_settings(self, cert_chain: Any, settings: Any) -> Iterator[Any]:
        if self._client:
            self.server_chain = [bytes(c.bytes) for c in cert_chain.x509List]
        if self._client and self.verifier is not None:
            errno = self.verifier.verify(self.server_chain)
            if errno:
                yield from self._sendError(alert_for_x509_error(errno), f"X509 error {errno}")
        yield from super()._check_certchain_with_settings(cert_chain, settings)


class _ChainVerifier:
    """pyOpenSSL ``X509StoreContext`` at the module clock, with OpenSSL's host check."""

    def __init__(self, request: TlsRequest, trust: list[x509.Certificate]) -> None:
        self.request = request
        self.trust = trust
        #: (depth, X509_V_ERR_*) like the OpenSSL engine's verify_errors
        self.errors: list[tuple[int, int]] = []

    def verify(self, chain_der: list[bytes]) -> int:
        store = crypto.X509Store()
        for cert in self.trust:
            store.add_cert(crypto.X509.from_cryptography(cert))
        self._set_param(store)
        certs = [crypto.X509.from_cryptography(x509.load_der_x509_certificate(der)) for der in chain_der]
        if not certs:
            self.errors.append((0, 20))
            return 20
        try:
            crypto.X509StoreContext(store, certs[0], certs[1:]).verify_certificate()
        except crypto.X509StoreContextError as exc:
            errno, depth = int(exc.errors[0]), int(exc.errors[1])
            self.errors.append((depth, errno))
            return errno
        self.errors.append((0, 0))
        return 0

    def _set_param(self, store: crypto.X509Store) -> None:
        # One param with the module time and the host, as X509Store.set_time
        # builds it (only the first set1_param's time sticks, tls-engine.md §2):
        # the same X509_check_host / check_ip rules (errors 62 / 64) as the
        # OpenSSL engine. Private binding, pinned pyOpenSSL 26.4.0.
        param = _ffi.gc(_lib.X509_VERIFY_PARAM_new(), _lib.X509_VERIFY_PARAM_free)
        set_module_time(param, self.request)
        name = self.request.server_name
        if name and is_ip_literal(name):
            packed = ipaddress.ip_address(name).packed
            _lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
        elif name:
            host = name.encode("idna")
            _lib.X509_VERIFY_PARAM_set1_host(param, host, len(host))
        if _lib.X509_STORE_set1_param(store._store, param) != 1:
            raise TlsFailure(GtsslErr.INTERNAL_ERROR, "X509_STORE_set1_param failed")
        # An OpenSSL TLS client checks the server purpose (X509 error 26 -> 43); a bare store does not.
        _lib.X509_STORE_set_purpose(store._store, _lib.X509_PURPOSE_SSL_SERVER)


# --- the client ----------------------------------------------------------------------------------------


def _load_pems(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise TlsFailure(GtsslErr.INVALID, f"{what} is not a PEM certificate") from exc


class LegacyTlsClient:
    """One module-side connection on tlslite-ng; the interface of :class:`~emulator.tls.session.TlsClient`.

    Raises:
        TlsFailure: 152 when a TRUSTFILE, CERTFILE or KEYFILE is unusable (as the OpenSSL engine).
    """

    def __init__(self, request: TlsRequest) -> None:
        self._request = request
        trust = [cert for i, pem in enumerate(request.trust_pems, 1) for cert in _load_pems(pem, f"TRUSTFILE {i}")]
        self._verifier = _ChainVerifier(request, trust) if request.verify else None
        self._cert_chain, self._key = self._client_identity(request)
        self._sock = BufferSocket()
        self._conn = _ModuleConnection(self._sock)
        self._conn.verifier = self._verifier
        self._conn.closeSocket = False
        self._settings = self._settings_for(request)
        self._handshake: Generator[Any, None, None] | None = None
        self._reader: Generator[Any, None, None] | None = None
        self._plaintext = bytearray()
        self._alerts: list[tuple[str, int, int]] = []
        self._handshake_done = False
        self._closed_by_peer = False
        self._close_queued = False
        self._failure: TlsFailure | None = None
        #: The TCP peer closed after the handshake without a close_notify.
        self.eof_without_close_notify = False
        self._steps = HandshakeSteps(
            request,
            [_SUITE_NAMES.get(IANA_SUITES.get(cid, -1), f"id {cid}") for cid in request.cipher_ids],
            lambda suite: _SUITE_NAMES.get(suite, f"{suite:#06x}"),
        )

    @staticmethod
    def _settings_for(request: TlsRequest) -> HandshakeSettings:
        version = VERSIONS[request.version]
        settings = _ModuleSettings()
        settings.minVersion = settings.maxVersion = version
        settings.cipherNames = ["aes256", "aes128", "3des"]
        settings.keyExchangeNames = ["dhe_rsa", "rsa"]
        settings.macNames = ["sha256", "sha"]
        settings.allowed_suites = frozenset(IANA_SUITES[cid] for cid in request.cipher_ids if cid in IANA_SUITES)
        # Chosen: like the OpenSSL engine, no session tickets and no TLS 1.3 key shares.
        settings.keyShares = []
        return settings

    @staticmethod
    def _client_identity(request: TlsRequest) -> tuple[X509CertChain | None, Any]:
        if request.cert_pem is None or request.key_pem is None:
            return None, None
        certs = _load_pems(request.cert_pem, "CERTFILE")
        try:
            key = serialization.load_pem_private_key(request.key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise TlsFailure(GtsslErr.INVALID, "KEYFILE is not a usable PEM private key") from exc
        if key.public_key().public_numbers() != certs[0].public_key().public_numbers():  # type: ignore[union-attr]
            raise TlsFailure(GtsslErr.INVALID, "CERTFILE and KEYFILE do not match")
        pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode("ascii")
        chain = X509CertChain()
        chain.parsePemList("".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs))
        return chain, parsePEMKey(pkcs8, private=True)

    # -- bytes in ---------------------------------------------------------

    def initiate(self) -> None:
        """Start the handshake: the ClientHello becomes available from :meth:`outgoing`."""
        if self._handshake is not None:
            return
        name = self._request.server_name
        sni = name if name and not is_ip_literal(name) else None
        self._handshake = self._conn.handshakeClientCert(
            self._cert_chain, self._key, settings=self._settings, serverName=sni, async_=True
        )
        self._advance()

    def feed(self, ciphertext: bytes) -> None:
        """Take bytes from the server: advance the handshake, decrypt payload."""
        if self._failure is not None:
            raise self._failure.again()
        if self._steps.sniffing and ciphertext:
            self._steps.server_bytes(ciphertext)
        self._sock.feed(ciphertext)
        if self._handshake is not None:
            self._advance()

    def peer_eof(self) -> None:
        """The TCP peer closed (EOF or RST); :class:`TlsPeerClosed` during the handshake."""
        if self._failure is not None:
            return
        self._sock.feed_eof()
        if not self._handshake_done:
            raise TlsPeerClosed("the server closed the TCP connection during the TLS handshake")
        try:
            self._advance()
        except TlsFailure:
            pass
        if not self._closed_by_peer:
            self.eof_without_close_notify = True

    # -- bytes out --------------------------------------------------------

    def outgoing(self) -> bytes:
        """Drain the ciphertext to write to the socket now."""
        return self._sock.drain()

    def read(self) -> bytes:
        """Drain the decrypted payload received so far."""
        data = bytes(self._plaintext)
        self._plaintext.clear()
        return data

    def send(self, data: bytes) -> None:
        """Encrypt ``data``; the records are then in :meth:`outgoing`."""
        if self._failure is not None:
            raise self._failure.again()
        if not self._handshake_done or self._close_queued:
            raise RuntimeError("LegacyTlsClient.send() needs a finished handshake and an open session")
        try:
            for _ in self._conn.writeAsync(data):
                pass  # BufferSocket.send never blocks
        except TLSError as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        """Queue a close_notify (idempotent; nothing before the handshake or after a failure)."""
        if self._close_queued:
            return
        self._close_queued = True
        if not self._handshake_done or self._failure is not None or self._closed_by_peer:
            return
        # Send the close_notify only: the runtime closes TCP, so do not wait for the answer.
        try:
            for _ in self._conn._sendMsg(Alert().create(AlertDescription.close_notify, AlertLevel.warning)):
                pass
        except (TLSError, OSError):
            logger.debug("close_notify could not be queued", exc_info=True)

    # -- state ------------------------------------------------------------

    @property
    def handshake_done(self) -> bool:
        return self._handshake_done

    @property
    def closed_by_peer(self) -> bool:
        return self._closed_by_peer

    @property
    def negotiated(self) -> str:
        """``"<version> <cipher>"``, e.g. ``"SSLv3 DES-CBC3-SHA (tlslite-ng)"``; "" before the handshake."""
        if not self._handshake_done:
            return ""
        major, minor = self._conn.version
        version = WIRE_VERSION_NAMES.get(major << 8 | minor, str(self._conn.version))
        suite = _SUITE_NAMES.get(self._conn.session.cipherSuite, f"{self._conn.session.cipherSuite:#06x}")
        return f"{version} {suite} (tlslite-ng)"

    @property
    def alerts(self) -> list[tuple[str, int, int]]:
        return list(self._alerts)

    @property
    def verify_errors(self) -> list[tuple[int, int]]:
        return list(self._verifier.errors) if self._verifier is not None else []

    @property
    def peer_chain(self) -> list[bytes]:
        """The certificates the server sent (DER, leaf first), as :attr:`TlsClient.peer_chain`."""
        return list(self._conn.server_chain)

    @property
    def client_ca_names(self) -> list[str]:
        """Not recorded on this engine (tlslite-ng keeps no CertificateRequest): always []."""
        return []

    def new_steps(self) -> list[dict[str, Any]]:
        """The handshake steps seen since the last call (see :class:`~emulator.tls.session.HandshakeSteps`)."""
        if self._handshake is None or self._steps.settled(len(self._alerts)):
            return []
        # The chain the server sent, as soon as its Certificate message came (verify on or off, refused or not).
        der = self._conn.server_chain if self._steps.wants_chain else []
        chain = [x509.load_der_x509_certificate(d) for d in der]
        return self._steps.new(chain=chain, alerts=self._alerts, done=self.negotiated)

    # -- internals --------------------------------------------------------

    def _advance(self) -> None:
        try:
            if not self._handshake_done:
                assert self._handshake is not None
                for step in self._handshake:
                    if isinstance(step, int) and step == 0:  # wants to read: wait for feed()
                        return
                self._handshake_done = True
                logger.debug("TLS handshake done (tlslite-ng): %s", self.negotiated)
                if keylog.target() is not None:  # tlslite has no key log hook: the NSS line from its session
                    keylog.write_line(keylog.client_random_line(self._conn._clientRandom,
                                                                self._conn.session.masterSecret))
            self._drain_plaintext()
        except (TLSError, OSError, ValueError, AssertionError) as exc:
            if isinstance(exc, TLSAbruptCloseError) and not self._handshake_done:
                raise TlsPeerClosed("the server closed the TCP connection during the TLS handshake") from exc
            raise self._fail(exc) from exc

    def _drain_plaintext(self) -> None:
        while not self._closed_by_peer:
            if self._reader is None:
                self._reader = self._conn.readAsync(max=65536)
            try:
                for step in self._reader:
                    if isinstance(step, int):  # 0: wants to read, 1: wants to write (never blocks here)
                        if step == 0:
                            return
                        continue
                    self._reader = None
                    if not step:  # b"": the peer's close_notify
                        self._closed_by_peer = True
                        return
                    self._plaintext += step
                    break
                else:
                    self._reader = None
            except TLSAbruptCloseError:
                self._reader = None
                return

    def _fail(self, exc: Exception) -> TlsFailure:
        sent = received = None
        if isinstance(exc, TLSLocalAlert):
            sent = int(exc.description)
            self._alerts.append(("sent", AlertLevel.fatal, sent))
        elif isinstance(exc, TLSRemoteAlert):
            received = int(exc.description)
            self._alerts.append(("recv", int(exc.level), received))
            if exc.level != AlertLevel.fatal:
                received = None
        errnos = [e for _, e in self.verify_errors]
        failure, code = classify_failure(
            sent=sent, received=received, verify_errors=errnos, verify=self._request.verify,
            trust_files=len(self._request.trust_pems),
        )
        parts = [f"sent alert {sent}"] if sent is not None else []
        parts += [f"received alert {received}"] if received is not None else []
        parts += [f"X509 error {e} at depth {d}" for d, e in self.verify_errors if e]
        parts.append(f"tlslite-ng: {type(exc).__name__}")
        self._failure = TlsFailure(code, "; ".join(parts), failure=failure)
        return self._failure.again()  # the kept one is never raised: see TlsFailure.again

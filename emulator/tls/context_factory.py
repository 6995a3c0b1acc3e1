"""Turn a :class:`~emulator.core.tls_request.TlsRequest` into an OpenSSL client context.

Theory of operation: the module's SSL settings are a few small integers and
some PEM files. Tables map the integers to OpenSSL's vocabulary
(:data:`SSL_VERSIONS`, :data:`CIPHER_NAMES`, :data:`SECURITY_LEVELS`; design
rule 8, urllib3 style: no if-chains), and :func:`build_context` loads the PEM
files from memory.

Contexts are reused: :func:`client_context` keeps them in a small LRU
(:data:`CLIENT_CONTEXTS`) keyed by the settings a context is made of, because
building one costs ~120 µs a ``+MIPOPEN`` (mostly SSL_CTX_new in OpenSSL 4),
which adds to handshake latency and multiplies when hundreds of modules
reconnect. A shared context must carry nothing of one connection, so:

* the module clock (AT+CCLK) goes on each connection's own verify param, never
  on the store: OpenSSL takes only the *first* ``X509_STORE.set_time``
  (tls-engine.md §2), and a store time also wins over the connection's, so
  a time on a shared store would judge every later connection by the first
  one's clock;
* the info and verify callbacks are set once, as module functions that find
  the connection's :class:`HandshakeLog` through ``Connection.get_app_data()``.

The per-connection part (that log, the module time, SNI and the host-name
check) is :func:`configure_connection`, because OpenSSL keeps all of it on the
``SSL``.

What the module offers is pinned exactly, so a server sees the same
ClientHello as from the real module: one version (min = max, never TLS 1.3),
exactly the enabled suites (plus OpenSSL's renegotiation SCSV 0x00FF), no
ECDHE, no session ticket, no compression.

Three spots use pyOpenSSL's private binding ``OpenSSL._util.lib`` (pinned
pyOpenSSL 26.4.0, see pyproject.toml), all in :func:`configure_connection` on
``SSL_get0_param(conn._ssl)``: the module time
(``X509_VERIFY_PARAM_set_time``, tls-engine.md §2) and the host-name / IP
check (``X509_VERIFY_PARAM_set1_host`` / ``set1_ip``), which pyOpenSSL does
not expose (pyca/pyopenssl#795).
"""

from __future__ import annotations

import calendar
import functools
import ipaddress
import logging
import threading
from collections import OrderedDict
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto

# Private binding, pinned pyOpenSSL 26.4.0: the only way to reach a connection's
# X509_VERIFY_PARAM (set_time, set1_host, set1_ip; pyca/pyopenssl#795).
from OpenSSL._util import lib as _lib

from emulator.core.codes import CipherId, GtsslErr, SslVersion
from emulator.core.tls_request import TlsRequest

from . import keylog
from .alert_codes import X509_V_ERR_IP_ADDRESS_MISMATCH, TlsFailure
from .membio import MemoryBio

__all__ = [
    "CIPHER_NAMES",
    "CLIENT_CONTEXTS",
    "ContextCache",
    "HandshakeLog",
    "NewConnection",
    "SECURITY_LEVELS",
    "SSL_VERSIONS",
    "build_context",
    "client_context",
    "configure_connection",
    "is_ip_literal",
    "new_connection",
    "prepare_connection",
    "set_module_time",
]

logger = logging.getLogger(__name__)

#: ``+GTSSLVER`` -> the OpenSSL protocol version pinned as both min and max.
#: None: this OpenSSL (4.0.3) has no SSL 3.0 at all.
SSL_VERSIONS: dict[int, int | None] = {
    SslVersion.SSL3_0: None,
    SslVersion.TLS1_0: SSL.TLS1_VERSION,
    SslVersion.TLS1_1: SSL.TLS1_1_VERSION,
    SslVersion.TLS1_2: SSL.TLS1_2_VERSION,
}

#: ``+GTSSLCIPHER`` id (manual §1.5.4) -> OpenSSL cipher name. None: the suite
#: is not in this OpenSSL (both 3DES suites give "no cipher match" in 4.0.3).
#: tests/tls/test_context_factory.py checks every name against the library.
CIPHER_NAMES: dict[int, str | None] = {
    CipherId.DHE_RSA_WITH_3DES_EDE_CBC_SHA: None,  # EDH-RSA-DES-CBC3-SHA
    CipherId.DHE_RSA_WITH_AES_128_CBC_SHA: "DHE-RSA-AES128-SHA",
    CipherId.RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
    CipherId.DHE_RSA_WITH_AES_256_CBC_SHA: "DHE-RSA-AES256-SHA",
    CipherId.RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
    CipherId.RSA_WITH_3DES_EDE_CBC_SHA: None,  # DES-CBC3-SHA
    CipherId.RSA_WITH_AES_128_CBC_SHA256: "AES128-SHA256",
    CipherId.RSA_WITH_AES_256_CBC_SHA256: "AES256-SHA256",
    CipherId.DHE_RSA_WITH_AES_128_CBC_SHA256: "DHE-RSA-AES128-SHA256",
    CipherId.DHE_RSA_WITH_AES_256_CBC_SHA256: "DHE-RSA-AES256-SHA256",
}

#: The ids only the legacy engine (tls.legacy, tlslite-ng) can offer: the 3DES suites named None above.
#: Defined here, beside the table that says OpenSSL lacks them, so that tls.engine (which imports
#: tls.legacy only when one is offered: importing tlslite-ng costs ~130 ms of start-up that
#: OpenSSL-only variants need not pay) and tls.legacy both read it without importing each other.
LEGACY_CIPHER_IDS = frozenset(cid for cid, name in CIPHER_NAMES.items() if name is None)

#: ``+GTSSLVER`` -> the OpenSSL security level appended to the cipher string
#: (``@SECLEVEL=n``); None keeps OpenSSL's default (2 in 4.0.3). Lowered only
#: as far as the version needs. Measured with OpenSSL 4.0.3, RSA-2048 server
#: certificates, every module suite:
#:
#: * TLS 1.0 / 1.1: level 1, 2 and the default fail before any ClientHello
#:   ("no protocols available", we "send" 70): their handshake signatures use
#:   MD5+SHA1 / SHA1, below level 1's 80 bits. Level 0 works.
#: * TLS 1.2: the default (2) and levels 0-2 all work; level 3 refuses the
#:   non-forward-secret suites ("no ciphers available") and the RSA-2048 server
#:   key (X509 error 66, alert 42). So TLS 1.2 keeps the default. Consequence:
#:   at TLS 1.2 an RSA-1024 server leaf fails (error 66 EE_KEY_TOO_SMALL -> 42)
#:   while TLS 1.0 / 1.1 (level 0) accept it.
SECURITY_LEVELS: dict[int, int | None] = {
    SslVersion.TLS1_0: 0,
    SslVersion.TLS1_1: 0,
    SslVersion.TLS1_2: None,
}

_LEGACY = "needs the legacy engine (SSL 3.0 / 3DES), not in this OpenSSL"


class HandshakeLog:
    """What the callbacks saw on one connection: alerts and X509 errors.

    Attributes:
        alerts: ``("sent"|"recv", level, description)`` in order, warnings included.
        verify_errors: ``(depth, X509_V_ERR_*)`` per verify-callback call, 0 included.
    """

    def __init__(self) -> None:
        self.alerts: list[tuple[str, int, int]] = []
        self.verify_errors: list[tuple[int, int]] = []
        #: set by :func:`configure_connection` when the IP check must be done
        #: in Python (the binding lacks X509_VERIFY_PARAM_set1_ip).
        self.expected_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None

    def first_fatal(self, direction: str) -> int | None:
        """The description of the first fatal alert in ``direction``, or None."""
        return next((desc for d, level, desc in self.alerts if d == direction and level == 2), None)

    def on_info(self, conn: SSL.Connection, where: int, ret: int) -> None:
        # SSL_CB_ALERT marks an alert; SSL_CB_READ means it came from the peer.
        # ret packs level << 8 | description (SSL_CTX_set_info_callback(3)).
        if where & SSL.SSL_CB_ALERT:
            self.alerts.append(("recv" if where & SSL.SSL_CB_READ else "sent", ret >> 8, ret & 0xFF))

    def on_verify(self, conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int) -> bool:
        if depth == 0 and ok and self.expected_ip is not None and not _cert_has_ip(cert, self.expected_ip):
            # Fallback IP check: record X509 error 64 as OpenSSL would, so the
            # code is 153. The callback cannot set the store's error, so the
            # wire alert is 80 (UNSPECIFIED) here, not OpenSSL's 42.
            errno, ok = X509_V_ERR_IP_ADDRESS_MISMATCH, 0
        self.verify_errors.append((depth, errno))
        # OpenSSL's own decision, unchanged: the alert then follows its
        # x509table (tls-engine.md §1.3). Returning False on an ok certificate
        # would turn the error into X509_V_ERR_UNSPECIFIED (alert 80).
        return bool(ok)


def _cert_has_ip(cert: crypto.X509, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        san = cert.to_cryptography().extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return ip in san.value.get_values_for_type(x509.IPAddress)


def is_ip_literal(name: str) -> bool:
    """True when ``name`` is an IPv4 or IPv6 address (no SNI for those, RFC 6066 §3)."""
    return _parse_ip(name) is not None


def _load_certs(pem: bytes, what: str) -> list[x509.Certificate]:
    # The profile may store anything in a file: unparsable bodies are the
    # manual's vendor code 152 "invalid" (chosen). Messages name the file
    # kind only, never its content.
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise TlsFailure(GtsslErr.INVALID, f"{what} is not a PEM certificate") from exc
    return certs


def _load_trust(ctx: SSL.Context, trust_pems: tuple[bytes, ...]) -> None:
    store = ctx.get_cert_store()
    assert store is not None  # a fresh SSL_CTX always has a store
    for index, pem in enumerate(trust_pems, start=1):
        for cert in _load_certs(pem, f"TRUSTFILE {index}"):
            try:
                # X509Store.add_cert takes pyOpenSSL X509 objects only.
                store.add_cert(crypto.X509.from_cryptography(cert))
            except crypto.Error as exc:
                raise TlsFailure(GtsslErr.INVALID, f"TRUSTFILE {index} cannot be used") from exc


def _load_client_identity(ctx: SSL.Context, cert_pem: bytes, key_pem: bytes) -> None:
    leaf, *extra = _load_certs(cert_pem, "CERTFILE")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # TypeError: an encrypted key (the module has no passphrase command).
        raise TlsFailure(GtsslErr.INVALID, "KEYFILE is not a usable PEM private key") from exc
    try:
        ctx.use_certificate(leaf)
        for cert in extra:
            ctx.add_extra_chain_cert(cert)
        ctx.use_privatekey(key)  # type: ignore[arg-type]  # any key type; OpenSSL refuses what it cannot use
        ctx.check_privatekey()
    except (SSL.Error, TypeError, ValueError) as exc:
        raise TlsFailure(GtsslErr.INVALID, "CERTFILE and KEYFILE do not match") from exc


def _cipher_string(request: TlsRequest) -> str:
    names = [name for cid in dict.fromkeys(request.cipher_ids) if (name := CIPHER_NAMES.get(cid))]
    if not names:
        raise TlsFailure(GtsslErr.HANDSHAKE_FAILURE, f"cipher ids {request.cipher_ids} {_LEGACY}")
    level = SECURITY_LEVELS.get(request.version)
    # Only the named suites: no ECDHE, no TLS 1.3 suites reach a TLS <= 1.2 ClientHello.
    return ":".join(names) + (f":@SECLEVEL={level}" if level is not None else "")


def build_context(request: TlsRequest) -> SSL.Context:
    """Build a client context for ``request``, uncached (:func:`client_context` caches).

    The context holds only what the settings decide; every connection made
    from it needs :func:`configure_connection` before its handshake (the
    module clock, the log, SNI, the host check).

    Args:
        request: the module's SSL settings at ``+MIPOPEN``.

    Returns:
        A context for any number of connections with these settings.

    Raises:
        TlsFailure: 40 when only SSL 3.0 / 3DES are asked for (not in this
            OpenSSL); 152 when a TRUSTFILE, CERTFILE or KEYFILE cannot be used.
    """
    version = SSL_VERSIONS.get(request.version)
    if version is None:
        raise TlsFailure(GtsslErr.HANDSHAKE_FAILURE, f"+GTSSLVER {request.version} {_LEGACY}")
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(version)
    ctx.set_max_proto_version(version)
    try:
        ctx.set_cipher_list(_cipher_string(request).encode("ascii"))
    except SSL.Error as exc:  # a table name this OpenSSL lacks: same as a None entry
        raise TlsFailure(GtsslErr.HANDSHAKE_FAILURE, f"cipher ids {request.cipher_ids} {_LEGACY}") from exc
    # Chosen: an embedded client keeps no session state across connections and
    # has no compression, so it offers neither tickets nor compression.
    ctx.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_COMPRESSION)
    ctx.set_info_callback(_on_info)
    if keylog.target() is not None:
        ctx.set_keylog_callback(keylog.on_openssl_line)  # --keylog / $SSLKEYLOGFILE: secrets to that file only

    _load_trust(ctx, request.trust_pems)
    if request.verify:
        ctx.set_verify(SSL.VERIFY_PEER, _on_verify)
    else:
        ctx.set_verify(SSL.VERIFY_NONE)
    # No store.set_time here: the store is shared by every connection of this
    # context, its first time would stick (tls-engine.md §2) and override the
    # per-connection time configure_connection sets.

    if request.cert_pem is not None and request.key_pem is not None:
        _load_client_identity(ctx, request.cert_pem, request.key_pem)
    return ctx


def _on_info(conn: SSL.Connection, where: int, ret: int) -> None:
    # OpenSSL calls this on every state change (17 times in a TLS 1.2 handshake); only alerts are kept, so
    # the others return before anything else is looked up.
    if where & SSL.SSL_CB_ALERT:
        log = conn.get_app_data()
        if isinstance(log, HandshakeLog):
            log.on_info(conn, where, ret)


def _on_verify(conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int) -> bool:
    log = conn.get_app_data()
    if not isinstance(log, HandshakeLog):
        # Not made by configure_connection, so not judged by the module clock
        # either: fail closed rather than verify by the host's clock.
        return False
    try:
        return log.on_verify(conn, cert, errno, depth, ok)
    except Exception:
        # pyOpenSSL parks a verify callback's exception on the *Context* and
        # re-raises it from whichever connection of that context errs next:
        # with a shared context, another module's socket. Keep it here.
        logger.exception("verify callback failed; the certificate is refused")
        return False


#: (key log on, version, cipher_ids, verify, trust_pems, cert_pem, key_pem):
#: everything build_context reads. Not module_time or server_name: those are
#: per connection (configure_connection). cipher_ids keep their order, which
#: is the order of the cipher string. Whether a key log is on decides whether
#: the context has the key log callback, so a key log switched on or off
#: (--keylog, $SSLKEYLOGFILE) takes effect at the next connection.
_Key = tuple[bool, int, tuple[int, ...], bool, tuple[bytes, ...], "bytes | None", "bytes | None"]


def _context_key(request: TlsRequest) -> _Key:
    return (
        keylog.target() is not None,
        request.version,
        request.cipher_ids,
        request.verify,
        request.trust_pems,
        request.cert_pem,
        request.key_pem,
    )


class _Spare:
    """A connection made ahead for ``server_name``: SNI and host check set, its ClientHello (``hello``) already
    made and taken out of its BIO; nothing of it has been sent."""

    __slots__ = ("conn", "server_name", "hello")

    def __init__(self, conn: SSL.Connection, server_name: str, hello: bytes) -> None:
        self.conn = conn
        self.server_name = server_name
        self.hello = hello


class _Entry:
    """A cached context and, at most, one spare connection made of it (:meth:`ContextCache.prepare`)."""

    __slots__ = ("ctx", "spare")

    def __init__(self, ctx: SSL.Context) -> None:
        self.ctx = ctx
        self.spare: _Spare | None = None


class NewConnection(NamedTuple):
    """What :meth:`ContextCache.new_connection` hands a client: the connection and, when it is a spare made for
    the same server name, its ClientHello (``hello``, to be sent before anything the connection produces; such
    a connection has its SNI and host check set already). ``b""``: a new connection, nothing set."""

    conn: SSL.Connection
    hello: bytes = b""


def _client_connection(ctx: SSL.Context) -> SSL.Connection:
    """A connection of ``ctx`` on memory BIOs, in the client role, configured for nobody yet."""
    conn = SSL.Connection(ctx, None)
    conn.set_connect_state()
    return conn


def _made_ahead(ctx: SSL.Context, request: TlsRequest) -> _Spare:
    """A spare for ``request.server_name``: SNI and host check set, the ClientHello made and drained.

    Raises:
        SSL.Error: OpenSSL cannot start (no suite it can offer, say).
        TlsFailure: OpenSSL refused the name.
    """
    conn = _client_connection(ctx)
    _configure_peer(conn, _lib.SSL_get0_param(conn._ssl), request)
    try:
        conn.do_handshake()
    except SSL.WantReadError:
        pass  # the ClientHello is in the BIO; the server's answer is the next thing it needs
    return _Spare(conn, request.server_name, MemoryBio(conn).take_ciphertext())


class ContextCache:
    """A bounded, thread-safe LRU of client contexts, keyed by the settings they are built from.

    Each context may also keep one spare connection, made ahead of time (:meth:`prepare`) and handed to the next
    connection on the same settings and server name (:meth:`new_connection`). Why: making the ``SSL``
    (``SSL_new`` and pyOpenSSL's wrapper with its two memory BIOs), setting its SNI and host check and making
    its ClientHello were ~300 µs of the emulator's Python between the host's ``AT+MIPOPEN`` and the ClientHello
    on the wire on a slow VM, all of it on the handshake's critical path (bench/RESULTS.md, "Third look"). The
    runtime prepares the next one once a ClientHello is out, while the server works on it. The spare's
    ClientHello is the one OpenSSL would make at the ``+MIPOPEN`` (its random is random, no time in it); what
    only the taker knows is set when it is taken, before the server's first flight is read: the module clock
    and the handshake log (:func:`configure_connection`). A spare made for another server name is dropped.

    Args:
        maxsize: how many contexts to keep; the least recently used goes first (with its spare).
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()

    def get(self, request: TlsRequest) -> SSL.Context:
        """The context for ``request``'s settings, built on a miss.

        Raises:
            TlsFailure: as :func:`build_context`; nothing is cached then, so
                the same settings fail the same way next time.
        """
        return self._entry(_context_key(request), request).ctx

    def new_connection(self, request: TlsRequest) -> NewConnection:
        """A client connection of the context for ``request``'s settings: the spare if one was prepared for
        the same server name, else a new one (then :func:`configure_connection` it).

        Raises:
            TlsFailure: as :func:`build_context`.
        """
        key = _context_key(request)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.spare is not None:
                spare, entry.spare = entry.spare, None
                self._entries.move_to_end(key)
                if spare.server_name == request.server_name:
                    return NewConnection(spare.conn, spare.hello)
        return NewConnection(_client_connection(self._entry(key, request).ctx))

    def prepare(self, request: TlsRequest) -> None:
        """Make the spare connection for ``request``'s settings and server name now, with its ClientHello, if
        there is none (building the context on a miss). Settings OpenSSL refuses (a file, or no suite it can
        offer) are left for the connection itself to report."""
        key = _context_key(request)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.spare is not None:
                return
        try:
            entry = self._entry(key, request)
            spare = _made_ahead(entry.ctx, request)
        except (TlsFailure, SSL.Error):
            return
        with self._lock:
            if entry.spare is None:
                entry.spare = spare

    def _entry(self, key: _Key, request: TlsRequest) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
        # Built outside the lock: one module's build must not stall the others.
        built = _Entry(build_context(request))
        with self._lock:
            # Two threads may have built the same settings: all share the first.
            entry = self._entries.setdefault(key, built)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return entry

    def clear(self) -> None:
        """Forget every context and spare (connections already made keep theirs)."""
        with self._lock:
            self._entries.clear()

    def spares(self) -> int:
        """How many spare connections are waiting."""
        with self._lock:
            return sum(entry.spare is not None for entry in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, request: object) -> bool:
        if not isinstance(request, TlsRequest):
            return False
        with self._lock:
            return _context_key(request) in self._entries


#: The process-wide cache behind :func:`client_context`. 32: contexts differ
#: only by the GTSSL* settings and files, and modules on one profile share
#: them, so a run has a handful of distinct sets (a few per profile or test
#: scenario), not one per module. A miss costs just the old per-connection
#: build, while the bound caps what stays alive: each entry holds its trust
#: store (tens of kB with 40 certificates), maybe a client key, and at most one
#: spare connection.
CLIENT_CONTEXTS: ContextCache = ContextCache(32)


def client_context(request: TlsRequest) -> SSL.Context:
    """The shared client context for ``request``'s settings (see :class:`ContextCache`).

    Raises:
        TlsFailure: as :func:`build_context`.
    """
    return CLIENT_CONTEXTS.get(request)


def new_connection(request: TlsRequest) -> NewConnection:
    """A connection of the shared context for ``request``'s settings, the prepared spare if any (see
    :meth:`ContextCache.new_connection`).

    Raises:
        TlsFailure: as :func:`build_context`.
    """
    return CLIENT_CONTEXTS.new_connection(request)


def prepare_connection(request: TlsRequest) -> None:
    """Make a spare connection for the next :func:`new_connection` on ``request``'s settings (see
    :class:`ContextCache`); call it where a little idle time is to spare."""
    CLIENT_CONTEXTS.prepare(request)


def set_module_time(param: Any, request: TlsRequest) -> None:
    """Judge certificate dates on ``param`` (an ``X509_VERIFY_PARAM*``) by the module clock (AT+CCLK), never
    the host's. Both engines use it. utctimetuple: right for aware and naive-UTC datetimes alike."""
    _lib.X509_VERIFY_PARAM_set_time(param, calendar.timegm(request.module_time.utctimetuple()))


def configure_connection(
    conn: SSL.Connection, request: TlsRequest, log: HandshakeLog, *, peer_configured: bool = False
) -> None:
    """Make ``conn`` this connection's own (before the server's first flight is read).

    Binds ``log`` (the shared context's callbacks find it through
    ``conn.get_app_data()``), sets the module clock on the connection's
    verify param (also with verification off, where it is unused), SNI and
    the host-name check (:func:`_configure_peer`), unless ``peer_configured``:
    a spare made for this same server name has them already and has sent
    nothing yet (:meth:`ContextCache.prepare`).
    """
    conn.set_app_data(log)
    # Private binding (pinned pyOpenSSL 26.4.0): conn._ssl is the SSL*, and the
    # param is the connection's own, so nothing leaks into the shared context.
    param = _lib.SSL_get0_param(conn._ssl)
    # This time counts only because the store has none: measured, a store time
    # would win over it (tls-engine.md §2 says the reverse; it holds only for a
    # store without a time).
    set_module_time(param, request)
    if not peer_configured:
        _configure_peer(conn, param, request)
    if request.verify and not _HAS_SET1_IP and (ip := _parse_ip(request.server_name)) is not None:
        log.expected_ip = ip


def _configure_peer(conn: SSL.Connection, param: Any, request: TlsRequest) -> None:
    """SNI and the host-name check of ``request.server_name`` on ``conn`` (its verify ``param``).

    SNI only for names, never for IP literals (RFC 6066 §3). The host check
    only when verification is on; a mismatch is X509 error 62 (name) or 64
    (IP), sent as alert 42 and reported as 153. Without set1_ip in the binding,
    :class:`HandshakeLog` checks an IP itself (:func:`configure_connection`).

    Raises:
        TlsFailure: OpenSSL refused the name (internal error).
    """
    name = request.server_name
    ip = _parse_ip(name)
    if ip is None and name:
        sni = _encode_host(name)
        if sni is not None:
            conn.set_tlsext_host_name(sni)
    if not request.verify or not name:
        return
    if ip is not None:
        if _HAS_SET1_IP:
            packed = ip.packed
            _check(_lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed)), "set1_ip")
    else:
        host = _encode_host(name) or name.encode("utf-8", "replace")
        _check(_lib.X509_VERIFY_PARAM_set1_host(param, host, len(host)), "set1_host")


#: X509_VERIFY_PARAM_set1_ip is in pyOpenSSL 26.4.0's binding; when a binding
#: lacks it, HandshakeLog.on_verify checks the IP SANs itself.
_HAS_SET1_IP: bool = hasattr(_lib, "X509_VERIFY_PARAM_set1_ip")


# Cached: every +MIPOPEN asks both of its host name, a fleet dials a handful of names, and ipaddress's refusal
# of a name (an exception) plus the idna codec were a sixth of building a connection (bench/tls_handshake.py).
@functools.lru_cache(maxsize=256)
def _parse_ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def _encode_host(name: str) -> bytes | None:
    try:
        return name.encode("idna")
    except UnicodeError:
        return None


def _check(result: int, what: str) -> None:
    if result != 1:
        raise TlsFailure(GtsslErr.INTERNAL_ERROR, f"X509_VERIFY_PARAM_{what} failed")


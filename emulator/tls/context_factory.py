"""Turn a :class:`~emulator.core.tls_request.TlsRequest` into an OpenSSL client context.

Theory of operation: the module's SSL settings are a few small integers and
some PEM files. Tables map the integers to OpenSSL's vocabulary
(:data:`SSL_VERSIONS`, :data:`CIPHER_NAMES`, :data:`SECURITY_LEVELS`; design
rule 8, urllib3 style: no if-chains), and :func:`build_context` loads the PEM
files from memory. One fresh ``Context`` is built for every ``+MIPOPEN``:
OpenSSL takes only the *first* ``X509_STORE.set_time`` (tls-engine.md §2), and
the module clock is fixed per connection anyway.

The per-connection part (SNI and the host-name check) is
:func:`configure_connection`, because OpenSSL keeps both on the ``SSL``.

What the module offers is pinned exactly, so a server sees the same
ClientHello as from the real module: one version (min = max, never TLS 1.3),
exactly the enabled suites (plus OpenSSL's renegotiation SCSV 0x00FF), no
ECDHE, no session ticket, no compression.

Two spots use pyOpenSSL's private binding ``OpenSSL._util.lib`` (pinned
pyOpenSSL 26.4.0, see pyproject.toml): the host-name / IP check, which
pyOpenSSL does not expose (pyca/pyopenssl#795). Both are in
:func:`configure_connection`.
"""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto

# Private binding, pinned pyOpenSSL 26.4.0: the only way to reach
# X509_VERIFY_PARAM_set1_host / set1_ip on a connection (pyca/pyopenssl#795).
from OpenSSL._util import lib as _lib

from emulator.core.codes import CipherId, GtsslErr, SslVersion
from emulator.core.tls_request import TlsRequest

from .alert_codes import X509_V_ERR_IP_ADDRESS_MISMATCH, TlsFailure

__all__ = [
    "CIPHER_NAMES",
    "HandshakeLog",
    "SECURITY_LEVELS",
    "SSL_VERSIONS",
    "build_context",
    "configure_connection",
    "is_ip_literal",
]

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


def build_context(request: TlsRequest, log: HandshakeLog | None = None) -> SSL.Context:
    """Build a fresh client context for one connection.

    Args:
        request: the module's SSL settings at ``+MIPOPEN``.
        log: receives the alerts and X509 errors; pass a new one per context.

    Returns:
        A context to make exactly one ``SSL.Connection`` from.

    Raises:
        TlsFailure: 40 when only SSL 3.0 / 3DES are asked for (not in this
            OpenSSL); 152 when a TRUSTFILE, CERTFILE or KEYFILE cannot be used.
    """
    version = SSL_VERSIONS.get(request.version)
    if version is None:
        raise TlsFailure(GtsslErr.HANDSHAKE_FAILURE, f"+GTSSLVER {request.version} {_LEGACY}")
    log = log if log is not None else HandshakeLog()
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
    ctx.set_info_callback(log.on_info)

    _load_trust(ctx, request.trust_pems)
    if request.verify:
        ctx.set_verify(SSL.VERIFY_PEER, log.on_verify)
    else:
        ctx.set_verify(SSL.VERIFY_NONE)
    store = ctx.get_cert_store()
    assert store is not None
    # Certificate validity is judged by the module clock (AT+CCLK), never the
    # host's. First set_time on a store wins: this context is fresh.
    store.set_time(request.module_time)

    if request.cert_pem is not None and request.key_pem is not None:
        _load_client_identity(ctx, request.cert_pem, request.key_pem)
    return ctx


def configure_connection(conn: SSL.Connection, request: TlsRequest, log: HandshakeLog) -> None:
    """Set SNI and the host-name check on one connection (before the handshake).

    SNI only for names, never for IP literals (RFC 6066 §3). The host check
    only when verification is on; a mismatch is X509 error 62 (name) or 64
    (IP), sent as alert 42 and reported as 153.
    """
    name = request.server_name
    ip = _parse_ip(name)
    if ip is None and name:
        sni = _encode_host(name)
        if sni is not None:
            conn.set_tlsext_host_name(sni)
    if not request.verify or not name:
        return
    # Private binding (pinned pyOpenSSL 26.4.0): conn._ssl is the SSL*, and the
    # param is the connection's own, so nothing leaks into the context.
    param = _lib.SSL_get0_param(conn._ssl)
    if ip is not None:
        if _HAS_SET1_IP:
            packed = ip.packed
            _check(_lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed)), "set1_ip")
        else:
            log.expected_ip = ip
    else:
        host = _encode_host(name) or name.encode("utf-8", "replace")
        _check(_lib.X509_VERIFY_PARAM_set1_host(param, host, len(host)), "set1_host")


#: X509_VERIFY_PARAM_set1_ip is in pyOpenSSL 26.4.0's binding; when a binding
#: lacks it, HandshakeLog.on_verify checks the IP SANs itself.
_HAS_SET1_IP: bool = hasattr(_lib, "X509_VERIFY_PARAM_set1_ip")


def _parse_ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _encode_host(name: str) -> bytes | None:
    try:
        return name.encode("idna")
    except UnicodeError:
        return None


def _check(result: int, what: str) -> None:
    if result != 1:
        raise TlsFailure(GtsslErr.INTERNAL_ERROR, f"X509_VERIFY_PARAM_{what} failed")


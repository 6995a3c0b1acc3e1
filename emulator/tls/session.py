"""One module-side TLS connection over memory BIOs: :class:`TlsClient`.

Theory of operation (sans-I/O, like the core): OpenSSL runs on two memory
BIOs, so this object owns no socket, no thread and no clock. The runtime
moves bytes:

* ``initiate()`` once, then write ``outgoing()`` to the socket (the ClientHello);
* every chunk read from the socket goes to ``feed()``, then ``outgoing()`` is
  written again (the rest of the handshake, alerts, close_notify);
* after ``handshake_done``: ``read()`` drains the decrypted payload and
  ``send()`` encrypts (ciphertext again via ``outgoing()``);
* ``peer_eof()`` when the socket reads EOF, ``close()`` for ``+MIPCLOSE``.

A fatal error raises :class:`TlsFailure` carrying the ``+GTSSLERR`` code; the
alert we owe the server is already queued, so the caller flushes
``outgoing()`` and then closes. The code comes from
:func:`~emulator.tls.alert_codes.classify_failure` over what the info and verify
callbacks recorded (never from OpenSSL's error strings, which are only text).
A TCP close during the handshake is :class:`TlsPeerClosed` instead: no alert,
so no ``+GTSSLERR`` code.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL
from OpenSSL._util import ffi as _ffi
from OpenSSL._util import lib as _lib

from emulator.core.codes import alert_name
from emulator.core.tls_request import TlsRequest

from .alert_codes import TlsFailure, TlsPeerClosed, classify_failure
from .context_factory import CIPHER_NAMES, HandshakeLog, configure_connection, new_connection
from .membio import MemoryBio

__all__ = ["HandshakeSteps", "TlsClient", "TlsFailure", "TlsPeerClosed"]

logger = logging.getLogger(__name__)



class TlsClient:
    """One module-side TLS connection over memory BIOs: no socket, no thread, no clock.

    One per ``+MIPOPEN``. The OpenSSL context is shared with every other
    client on the same settings (:func:`~.context_factory.client_context`), and
    its ``SSL`` may have been made ahead of time (:func:`~.context_factory.new_connection`);
    what is this connection's own (module clock, alert log, SNI, host check)
    is set on that ``SSL`` here (:func:`~.context_factory.configure_connection`).

    Args:
        request: the SSL settings snapshot taken at ``+MIPOPEN``.

    Raises:
        TlsFailure: the settings cannot be used at all: 40 when only SSL 3.0
            or 3DES is asked for (not in this OpenSSL), 152 when a TRUSTFILE,
            CERTFILE or KEYFILE is unusable or the cert and key do not match.
    """

    def __init__(self, request: TlsRequest) -> None:
        self._request = request
        self._log = HandshakeLog()
        # In the client role; a spare made ahead brings its ClientHello, and its SNI and host check are set.
        self._conn, self._hello = new_connection(request)
        configure_connection(self._conn, request, self._log, peer_configured=bool(self._hello))
        self._bio = MemoryBio(self._conn)
        self._plaintext = bytearray()
        self._initiated = False
        self._handshake_done = False
        self._closed_by_peer = False
        self._close_queued = False
        self._failure: TlsFailure | None = None
        #: The TCP peer closed after the handshake without a close_notify.
        self.eof_without_close_notify = False
        # The suite-name lookup holds the Connection, not this client: a bound method here made a cycle
        # (client -> steps -> method -> client), so no client was freed until the cyclic collector ran, and
        # that collector then freed ten or so OpenSSL connections at once, ~0.4 ms on whatever event was
        # being served (bench/RESULTS.md, "Fleets, second look").
        self._steps = HandshakeSteps(
            request, [CIPHER_NAMES.get(cid) or f"id {cid}" for cid in request.cipher_ids],
            functools.partial(_suite_name, self._conn),
        )

    # -- bytes in ---------------------------------------------------------

    def initiate(self) -> None:
        """Start the handshake: the ClientHello becomes available from :meth:`outgoing`.

        Raises:
            TlsFailure: OpenSSL refused to start (e.g. TLS 1.0 with only
                SHA-256 suites: "no ciphers available", 80).
        """
        if self._initiated:
            return
        self._initiated = True
        if not self._hello:  # a spare made ahead has made its ClientHello already (ContextCache.prepare)
            self._advance()

    def feed(self, ciphertext: bytes) -> None:
        """Take bytes from the server: advance the handshake, decrypt payload.

        Raises:
            TlsFailure: a fatal TLS error; any alert we must send is already
                queued in :meth:`outgoing` (flush it, then close the socket).
        """
        if self._failure is not None:
            raise self._failure.again()
        if ciphertext:
            if self._steps.sniffing:
                self._steps.server_bytes(ciphertext)
            self._bio.put_ciphertext(ciphertext)
        if self._initiated:
            self._advance()

    def peer_eof(self) -> None:
        """The TCP peer closed (EOF or RST).

        Raises:
            TlsPeerClosed: during the handshake (not a TLS error: no alert, so
                no ``+GTSSLERR`` code).
        """
        if self._failure is not None:
            return
        if not self._handshake_done:
            raise TlsPeerClosed("the server closed the TCP connection during the TLS handshake")
        if not self._closed_by_peer:
            self.eof_without_close_notify = True

    # -- bytes out --------------------------------------------------------

    def outgoing(self) -> bytes:
        """Drain the ciphertext to write to the socket now (``b""`` if none)."""
        records = self._bio.take_ciphertext()
        if self._hello:  # a spare's ClientHello, made ahead: it goes first
            records, self._hello = self._hello + records, b""
        return records

    def read(self) -> bytes:
        """Drain the decrypted payload received so far."""
        data = bytes(self._plaintext)
        self._plaintext.clear()
        return data

    def send(self, data: bytes) -> None:
        """Encrypt ``data``; the records are then in :meth:`outgoing`.

        Raises:
            RuntimeError: before the handshake is done or after :meth:`close`
                (a caller bug: the module never sends then).
            TlsFailure: OpenSSL failed to encrypt.
        """
        if self._failure is not None:
            raise self._failure.again()
        if not self._handshake_done or self._close_queued:
            raise RuntimeError("TlsClient.send() needs a finished handshake and an open session")
        try:
            self._bio.write_payload(data)
        except SSL.Error as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        """Queue a close_notify (idempotent; nothing before the handshake or after a failure)."""
        if self._close_queued:
            return
        self._close_queued = True
        if not self._handshake_done or self._failure is not None:
            return  # no session to close: the caller just drops TCP
        try:
            self._conn.shutdown()
        except SSL.Error:
            # Shutdown after the peer vanished mid-record: nothing to say.
            logger.debug("close_notify could not be queued", exc_info=True)

    # -- state ------------------------------------------------------------

    @property
    def handshake_done(self) -> bool:
        """The handshake finished (and did not fail)."""
        return self._handshake_done

    @property
    def closed_by_peer(self) -> bool:
        """The server's close_notify was received."""
        return self._closed_by_peer

    @property
    def negotiated(self) -> str:
        """``"<version> <cipher>"``, e.g. ``"TLSv1.2 DHE-RSA-AES128-SHA256"``; "" before the handshake."""
        if not self._handshake_done:
            return ""
        return f"{self._conn.get_protocol_version_name()} {self._conn.get_cipher_name()}"

    @property
    def alerts(self) -> list[tuple[str, int, int]]:
        """Every alert so far: ``("sent"|"recv", level, description)``."""
        return list(self._log.alerts)

    @property
    def verify_errors(self) -> list[tuple[int, int]]:
        """``(depth, X509_V_ERR_*)`` for every verify-callback call (0 = that certificate was fine)."""
        return list(self._log.verify_errors)

    @property
    def peer_chain(self) -> list[bytes]:
        """The certificates the server sent (DER, leaf first; kept after a failed verification); [] before
        its Certificate message. For diagnostics (``nl668-lab check``): public data only."""
        chain = self._conn.get_peer_cert_chain(as_cryptography=True)
        return [cert.public_bytes(Encoding.DER) for cert in chain or ()]

    @property
    def client_ca_names(self) -> list[str]:
        """The CA names of the server's CertificateRequest (RFC 4514), [] when it sent none."""
        return [name.rfc4514_string() for name in self._conn.get_client_ca_list(as_cryptography=True)]

    def new_steps(self) -> list[dict[str, Any]]:
        """The handshake steps seen since the last call, for the trace (see :class:`HandshakeSteps`)."""
        if not self._initiated or self._steps.settled(len(self._log.alerts)):
            return []  # the common case after the handshake: nothing new, at the cost of a comparison
        # The chain only until it was reported once: converting it costs more than the rest together.
        # OpenSSL keeps it after a failed verification too, so the view shows the certificate refused.
        chain = self._conn.get_peer_cert_chain(as_cryptography=True) if self._steps.wants_chain else None
        return self._steps.new(chain=chain or [], alerts=self._log.alerts, done=self.negotiated)

    # -- internals --------------------------------------------------------

    def _advance(self) -> None:
        try:
            if not self._handshake_done:
                try:
                    self._conn.do_handshake()
                except SSL.WantReadError:
                    return
                self._handshake_done = True
                logger.debug("TLS handshake done: %s", self.negotiated)
            self._drain_plaintext()
        except SSL.Error as exc:
            raise self._fail(exc) from exc

    def _drain_plaintext(self) -> None:
        if not self._closed_by_peer and self._bio.read_payload(self._plaintext):
            self._closed_by_peer = True

    def _fail(self, exc: SSL.Error) -> TlsFailure:
        sent = self._log.first_fatal("sent")
        received = self._log.first_fatal("recv")
        errnos = [errno for _, errno in self._log.verify_errors]
        failure, code = classify_failure(
            sent=sent,
            received=received,
            verify_errors=errnos,
            verify=self._request.verify,
            trust_files=len(self._request.trust_pems),
        )
        parts = []
        if sent is not None:
            parts.append(f"sent alert {sent}")
        if received is not None:
            parts.append(f"received alert {received}")
        parts += [f"X509 error {errno} at depth {depth}" for depth, errno in self._log.verify_errors if errno]
        parts.append(f"OpenSSL: {_reasons(exc)}")
        self._failure = TlsFailure(code, "; ".join(parts), failure=failure)
        logger.debug("TLS failed: %s", self._failure)
        return self._failure.again()  # the kept one is never raised: see TlsFailure.again


#: A protocol version as on the wire -> the name OpenSSL prints (both engines' trace steps and
#: ``negotiated`` read alike). ``+GTSSLVER`` 1-4 are 0x0300-0x0303 (SSL 3.0 to TLS 1.2).
WIRE_VERSION_NAMES: dict[int, str] = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2"}


def _suite_name(conn: SSL.Connection, suite: int) -> str:
    # Private binding (pinned pyOpenSSL 26.4.0): OpenSSL's own name for the suite the ServerHello chose.
    found = _lib.SSL_CIPHER_find(conn._ssl, suite.to_bytes(2, "big"))
    return _ffi.string(_lib.SSL_CIPHER_get_name(found)).decode("ascii") if found != _ffi.NULL else f"{suite:#06x}"


class HandshakeSteps:
    """A handshake as the trace view draws it, each step reported once, when first seen.

    Steps: the ClientHello (the one version and the suites offered, SNI), the
    ServerHello (version and suite chosen), the server's certificates (subject,
    issuer, validity: never their bodies), every alert sent or received, and the
    end of the handshake. Both engines feed it what they know at the moment;
    :meth:`new` returns what was not reported yet, so the runtime writes each
    step to the trace as it happens. Nothing here is key material.
    """

    def __init__(self, request: TlsRequest, offered: Sequence[str], suite_name: Callable[[int], str]) -> None:
        self._request = request
        self._offered = list(offered)
        self._suite_name = suite_name
        self._reported: set[str] = set()
        self._alerts = 0
        self._head = b""  # the server's first bytes, until its ServerHello is parsed
        self._chosen: tuple[str, str] | None = None
        #: still looking for the ServerHello in the server's bytes (then :meth:`server_bytes` is wanted)
        self.sniffing = True

    def server_bytes(self, data: bytes) -> None:
        """The server's bytes as they arrive: the ServerHello is read from its record, in the clear in
        TLS <= 1.2, so both engines report the suite chosen even when the handshake fails later."""
        self._head += data
        hello = _parse_server_hello(self._head)
        if hello is not None:
            self._chosen = (WIRE_VERSION_NAMES.get(hello[0], f"{hello[0]:#06x}"), self._suite_name(hello[1]))
        if hello is not None or len(self._head) > 16384 or (len(self._head) >= 6 and self._head[0] != 22):
            self.sniffing = False  # found, or not a handshake record at all (an alert, garbage)
            self._head = b""

    def settled(self, alerts: int) -> bool:
        """The handshake's end was reported and no alert came since (``alerts``: how many so far)."""
        return "done" in self._reported and alerts == self._alerts

    @property
    def wants_chain(self) -> bool:
        """The server's certificates are not reported yet."""
        return "certs" not in self._reported

    def new(
        self, *, chain: Sequence[x509.Certificate], alerts: Sequence[tuple[str, int, int]], done: str
    ) -> list[dict[str, Any]]:
        """Steps not reported yet; ``chain`` the server's certificates as far as known, ``done`` the
        negotiated text once the handshake finished."""
        chosen = self._chosen
        steps: list[dict[str, Any]] = []
        if "hello" not in self._reported:
            self._reported.add("hello")
            version = WIRE_VERSION_NAMES.get(0x0300 + self._request.version - 1, str(self._request.version))
            name = self._request.server_name
            text = f"ClientHello {version}, {len(self._offered)} suites: {' '.join(self._offered)}"
            steps.append({"ev": "client_hello", "text": text + (f", SNI {name}" if name else ""),
                          "version": version, "suites": self._offered, "sni": name})
        if chosen is not None and "server" not in self._reported:
            self._reported.add("server")
            steps.append({"ev": "server_hello", "text": f"ServerHello {chosen[0]} {chosen[1]}",
                          "version": chosen[0], "suite": chosen[1]})
        if chain and "certs" not in self._reported:
            self._reported.add("certs")
            certs = [_describe_cert(cert) for cert in chain]
            text = "Certificate: " + "; ".join(f"{c['subject']} (issuer {c['issuer']}, "
                                              f"valid {c['not_before'][:10]} to {c['not_after'][:10]})" for c in certs)
            steps.append({"ev": "certificate", "text": text, "certs": certs})
        for direction, level, description in alerts[self._alerts:]:
            self._alerts += 1
            name = alert_name(description, unknown="unknown")
            who = "module" if direction == "sent" else "server"
            kind = "fatal" if level == 2 else "warning"
            steps.append({"ev": "alert", "text": f"{who} sent {kind} alert {description} ({name})",
                          "from": who, "level": level, "alert": description, "name": name})
        if done and "done" not in self._reported:
            self._reported.add("done")
            steps.append({"ev": "handshake_done", "text": f"handshake done: {done}", "negotiated": done})
        return steps


def _parse_server_hello(data: bytes) -> tuple[int, int] | None:
    """(version, suite) of a ServerHello at the start of ``data`` (one TLS record), or None if not (yet) there."""
    # record: type 22, version(2), length(2); handshake: type 2, length(3); hello: version(2), random(32),
    # session id (1 + n), then the suite (2).
    if len(data) < 5 + 4 + 2 + 32 + 1 or data[0] != 22 or data[5] != 2:
        return None
    sid = 5 + 4 + 2 + 32
    at = sid + 1 + data[sid]
    if len(data) < at + 2:
        return None
    return int.from_bytes(data[9:11], "big"), int.from_bytes(data[at : at + 2], "big")


def _describe_cert(cert: x509.Certificate) -> dict[str, str]:
    # Names and dates only: what a person checks in a failed handshake, nothing of the key or signature.
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }


def _reasons(exc: SSL.Error) -> str:
    # pyOpenSSL's Error args: [(library, function, reason), ...]. Reasons are
    # OpenSSL's fixed strings: no peer data or key material in them.
    errors = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    reasons = [str(e[2]) for e in errors if isinstance(e, tuple) and len(e) == 3]
    return ", ".join(reasons) or type(exc).__name__

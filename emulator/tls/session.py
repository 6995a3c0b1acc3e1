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
:func:`~emulator.tls.alert_codes.gtsslerr_for` over what the info and verify
callbacks recorded (never from OpenSSL's error strings, which are only text).
A TCP close during the handshake is :class:`TlsPeerClosed` instead: no alert,
so no ``+GTSSLERR`` code.
"""

from __future__ import annotations

import logging

from OpenSSL import SSL

from emulator.core.tls_request import TlsRequest

from .alert_codes import TlsFailure, TlsPeerClosed, gtsslerr_for
from .context_factory import HandshakeLog, client_context, configure_connection

__all__ = ["TlsClient", "TlsFailure", "TlsPeerClosed"]

logger = logging.getLogger(__name__)

_CHUNK = 65536


class TlsClient:
    """One module-side TLS connection over memory BIOs: no socket, no thread, no clock.

    One per ``+MIPOPEN``. The OpenSSL context is shared with every other
    client on the same settings (:func:`~.context_factory.client_context`);
    what is this connection's own (module clock, alert log, SNI, host check)
    lives on its ``SSL`` (:func:`~.context_factory.configure_connection`).

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
        self._conn = SSL.Connection(client_context(request), None)
        self._conn.set_connect_state()
        configure_connection(self._conn, request, self._log)
        self._plaintext = bytearray()
        self._initiated = False
        self._handshake_done = False
        self._closed_by_peer = False
        self._close_queued = False
        self._failure: TlsFailure | None = None
        #: The TCP peer closed after the handshake without a close_notify.
        self.eof_without_close_notify = False

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
        self._advance()

    def feed(self, ciphertext: bytes) -> None:
        """Take bytes from the server: advance the handshake, decrypt payload.

        Raises:
            TlsFailure: a fatal TLS error; any alert we must send is already
                queued in :meth:`outgoing` (flush it, then close the socket).
        """
        if self._failure is not None:
            raise self._failure
        if ciphertext:
            self._conn.bio_write(ciphertext)
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
        chunks = []
        while True:
            try:
                chunk = self._conn.bio_read(_CHUNK)
            except SSL.WantReadError:
                break
            chunks.append(chunk)
            if len(chunk) < _CHUNK:
                break  # a memory BIO hands over all it holds: a short read emptied it (saves a raise)
        return b"".join(chunks)

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
            raise self._failure
        if not self._handshake_done or self._close_queued:
            raise RuntimeError("TlsClient.send() needs a finished handshake and an open session")
        try:
            self._conn.sendall(data)
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
        while not self._closed_by_peer:
            try:
                self._plaintext += self._conn.recv(_CHUNK)
            except SSL.WantReadError:
                return
            except SSL.ZeroReturnError:
                self._closed_by_peer = True

    def _fail(self, exc: SSL.Error) -> TlsFailure:
        sent = self._log.first_fatal("sent")
        received = self._log.first_fatal("recv")
        errnos = [errno for _, errno in self._log.verify_errors]
        code = gtsslerr_for(
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
        self._failure = TlsFailure(code, "; ".join(parts))
        logger.debug("TLS failed: %s", self._failure)
        return self._failure


def _reasons(exc: SSL.Error) -> str:
    # pyOpenSSL's Error args: [(library, function, reason), ...]. Reasons are
    # OpenSSL's fixed strings: no peer data or key material in them.
    errors = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    reasons = [str(e[2]) for e in errors if isinstance(e, tuple) and len(e) == 3]
    return ", ".join(reasons) or type(exc).__name__

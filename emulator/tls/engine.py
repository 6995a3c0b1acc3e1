"""Which TLS engine opens a connection: OpenSSL, or tlslite-ng for what OpenSSL lacks.

Rule (decided): the legacy engine (:mod:`.legacy`, tlslite-ng) runs when
``+GTSSLVER=1`` (SSL 3.0) or when ANY effective cipher id is 1 or 6 (3DES);
OpenSSL (:mod:`.session`) runs everything else.

Why "any" and not "only": the module's ClientHello offers every enabled
suite. With ids {1,2,3} (the M910 / NL668_CN / EU default) the real module
offers 3DES too and connects to a 3DES-only server; OpenSSL would have to drop
ids 1 and 6 from the hello and fail with 40. Running those hellos on tlslite
keeps the offer exact (tls-engine.md §4.5 option a). The cost: those variants'
default connections run on tlslite-ng (~15-25 ms a handshake, ~6-13 MB/s with
the cryptography CBC shim), and malformed-protocol cases may send other
alerts than OpenSSL would (unknown for the real module anyway).
"""

from __future__ import annotations

from typing import Any, Protocol

from emulator.core.codes import SslVersion
from emulator.core.tls_request import TlsRequest

from .context_factory import LEGACY_CIPHER_IDS, prepare_connection
from .session import TlsClient

__all__ = ["TlsEngine", "make_tls_client", "needs_legacy", "prepare_tls_client"]


class TlsEngine(Protocol):
    """What the runtime and the lab use of a module-side TLS connection, whichever engine runs it:
    :class:`~.session.TlsClient` (OpenSSL) or :class:`~.legacy.LegacyTlsClient` (tlslite-ng). Sans-I/O: bytes
    in with :meth:`feed`, bytes out with :meth:`outgoing`; failures raise ``TlsFailure``/``TlsPeerClosed``."""

    #: The TCP peer closed after the handshake without a close_notify.
    eof_without_close_notify: bool

    def initiate(self) -> None: ...

    def feed(self, ciphertext: bytes) -> None: ...

    def peer_eof(self) -> None: ...

    def outgoing(self) -> bytes: ...

    def read(self) -> bytes: ...

    def send(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    @property
    def handshake_done(self) -> bool: ...

    @property
    def closed_by_peer(self) -> bool: ...

    @property
    def negotiated(self) -> str: ...

    @property
    def alerts(self) -> list[tuple[str, int, int]]: ...

    @property
    def verify_errors(self) -> list[tuple[int, int]]: ...

    @property
    def peer_chain(self) -> list[bytes]: ...

    @property
    def client_ca_names(self) -> list[str]: ...

    def new_steps(self) -> list[dict[str, Any]]: ...


def needs_legacy(request: TlsRequest) -> bool:
    """True when only tlslite-ng can make this ClientHello (SSL 3.0, or any 3DES id offered)."""
    return request.version == SslVersion.SSL3_0 or any(cid in LEGACY_CIPHER_IDS for cid in request.cipher_ids)


def make_tls_client(request: TlsRequest) -> TlsEngine:
    """Build the client for one ``+MIPOPEN``, on the engine :func:`needs_legacy` picks.

    The legacy client has TlsClient's interface without subclassing it (a
    different library underneath): both are :class:`TlsEngine`.

    Raises:
        TlsFailure: the settings cannot be used (152 for unusable files, ...).
    """
    if needs_legacy(request):
        from .legacy import LegacyTlsClient

        return LegacyTlsClient(request)
    return TlsClient(request)


def prepare_tls_client(request: TlsRequest) -> None:
    """Make ahead of time what the next :func:`make_tls_client` on ``request``'s settings would make first
    (OpenSSL's engine: a spare ``SSL``, :meth:`~.context_factory.ContextCache.prepare`; tlslite-ng's: nothing)."""
    if not needs_legacy(request):
        prepare_connection(request)

"""From what OpenSSL saw to the ``+GTSSLERR`` code the module reports (manual §1.3.4).

Theory of operation: a failed handshake leaves three traces, all collected by
:class:`~emulator.tls.session.TlsClient` through public callbacks:

* the alerts, from the info callback: the first *fatal* one we **sent** and
  the first *fatal* one we **received**;
* the X509 errors (``X509_V_ERR_*``) the verify callback saw;
* whether verification was on, and how many TRUSTFILEs were loaded.

:func:`gtsslerr_for` turns them into one code. The manual's list 10-100 is the
TLS alert registry (RFC 5246 §7.2), so an alert maps to itself; the vendor
codes 150-155 come from the override table :data:`OVERRIDES`. Everything is
data plus one pure function, so the mapping is tested without OpenSSL.

The exceptions that carry such a code to the runtime live here too (design
rule 6: an exception carries the code it puts on the wire).
``docs/GTSSLERR.md`` lists every code and how the emulator produces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from emulator.core.codes import GtsslErr
from emulator.core.errors import EmulatorError

__all__ = [
    "ALERT_UNRECOGNIZED_NAME",
    "MANUAL_ALERTS",
    "OVERRIDES",
    "Source",
    "TlsFailure",
    "TlsPeerClosed",
    "X509_V_ERR_HOSTNAME_MISMATCH",
    "X509_V_ERR_IP_ADDRESS_MISMATCH",
    "gtsslerr_for",
]

# X509_V_ERR_* values (OpenSSL include/openssl/x509_vfy.h; stable since 1.0.2).
X509_V_OK = 0
X509_V_ERR_CERT_NOT_YET_VALID = 9
X509_V_ERR_CERT_HAS_EXPIRED = 10
X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
X509_V_ERR_HOSTNAME_MISMATCH = 62
X509_V_ERR_IP_ADDRESS_MISMATCH = 64

# TLS alert descriptions (RFC 5246 §7.2, RFC 6066 §3).
ALERT_HANDSHAKE_FAILURE = 40
ALERT_BAD_CERTIFICATE = 42
ALERT_UNKNOWN_CA = 48
ALERT_INTERNAL_ERROR = 80
ALERT_UNRECOGNIZED_NAME = 112

#: The alert codes the manual lists (§1.3.4: 10 ... 100). Any other alert
#: (RFC 7507's 86, RFC 8446's 109/116, ...) is reported as 40.
MANUAL_ALERTS: frozenset[int] = frozenset(code for code in GtsslErr if 0 < code < 150)


class Source(Enum):
    """Where a number in :data:`OVERRIDES` was seen."""

    X509 = "x509"  #: an X509_V_ERR_* number from the verify callback
    SENT = "sent"  #: the first fatal alert we sent
    RECEIVED = "recv"  #: the first fatal alert the server sent


#: Vendor codes that replace what OpenSSL says, tried in this order; the first
#: match wins. An X509 error wins over the alert it caused.
OVERRIDES: dict[tuple[Source, int], GtsslErr] = {
    # OpenSSL sends 42 for both; the manual has "153 host mismatch (Common Name)".
    (Source.X509, X509_V_ERR_HOSTNAME_MISMATCH): GtsslErr.HOST_MISMATCH,
    (Source.X509, X509_V_ERR_IP_ADDRESS_MISMATCH): GtsslErr.HOST_MISMATCH,
    # RFC 6066 unrecognized_name: "155 an unrecognized server name list".
    (Source.RECEIVED, ALERT_UNRECOGNIZED_NAME): GtsslErr.UNRECOGNIZED_SERVER_NAME,
}


def gtsslerr_for(
    *,
    sent: int | None,
    received: int | None,
    verify_errors: Sequence[int],
    verify: bool,
    trust_files: int,
) -> int:
    """Return the ``+GTSSLERR`` code of a failed TLS connection.

    Args:
        sent: description of the first fatal alert we sent, or None.
        received: description of the first fatal alert we received, or None.
        verify_errors: the X509 error numbers the verify callback saw (0s allowed).
        verify: ``+GTSSLMODE`` was 1.
        trust_files: how many TRUSTFILEs were loaded.

    Returns:
        A code of the manual's list (§1.3.4), never 0.
    """
    failed_x509 = [errno for errno in verify_errors if errno != X509_V_OK]
    for errno in failed_x509:
        if (Source.X509, errno) in OVERRIDES:
            return int(OVERRIDES[(Source.X509, errno)])
    if verify and trust_files == 0 and failed_x509:
        # Manual §2.6 example 2: no TRUSTFILE loaded gives 42. OpenSSL itself
        # sends 48 (issuer unknown, X509 error 20); the manual wins.
        return int(GtsslErr.BAD_CERTIFICATE)
    # When we sent a fatal alert we stopped reading: the server's later alerts
    # are not ours to report. So the sent alert wins over a received one.
    source, alert = (Source.SENT, sent) if sent is not None else (Source.RECEIVED, received)
    if alert is None:
        # OpenSSL failed without any alert (e.g. "no ciphers available" before
        # the ClientHello): the module's own fault, internal_error.
        return int(GtsslErr.INTERNAL_ERROR)
    if (source, alert) in OVERRIDES:
        return int(OVERRIDES[(source, alert)])
    return alert if alert in MANUAL_ALERTS else int(GtsslErr.HANDSHAKE_FAILURE)


class TlsFailure(EmulatorError):
    """A handshake or connection failed.

    Args:
        gtsslerr: the ``+GTSSLERR`` code (manual §1.3.4).
        why: human detail for logs (never key or certificate material).
    """

    def __init__(self, gtsslerr: int, why: str) -> None:
        super().__init__(f"GTSSLERR {gtsslerr}: {why}")
        self.gtsslerr = gtsslerr
        self.why = why


class TlsPeerClosed(EmulatorError):
    """The TCP peer closed (EOF or RST) before the handshake finished.

    Not a TLS error: no alert was involved, so ``+GTSSLERR`` gets no code.
    """

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why

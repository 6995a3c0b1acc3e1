"""From what OpenSSL saw to the ``+GTSSLERR`` code the module reports (manual §1.3.4).

Theory of operation: a failed handshake leaves three traces, all collected by
:class:`~emulator.tls.session.TlsClient` through public callbacks:

* the alerts, from the info callback: the first *fatal* one we **sent** and
  the first *fatal* one we **received**;
* the X509 errors (``X509_V_ERR_*``) the verify callback saw;
* whether verification was on, and how many TRUSTFILEs were loaded.

:func:`classify_failure` turns them into what happened: a
:class:`~emulator.core.codes.FailureClass` (verify, time, alert, internal)
and the NL668 code. The manual's list 10-100 is the TLS alert registry
(RFC 5246 §7.2), so an alert maps to itself; the vendor codes 150-155 come
from the override table :data:`OVERRIDES`. Everything is data plus one pure
function, so the mapping is tested without OpenSSL. The engine stops there:
which number the host sees is the profile's business (its ``[gtsslerr]``
table, applied by the core when it writes ``+GTSSLERR``), so an L610 profile
reports its own negative codes from the same classification.

The exceptions that carry such a code to the runtime live here too (design
rule 6: an exception carries the code it puts on the wire).
``docs/GTSSLERR.md`` lists every code and how the emulator produces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from emulator.core.codes import FailureClass, GtsslErr, failure_class_of
from emulator.core.errors import EmulatorError

__all__ = [
    "ALERT_UNRECOGNIZED_NAME",
    "MANUAL_ALERTS",
    "OVERRIDES",
    "Source",
    "TlsFailure",
    "TIME_ERRORS",
    "TlsPeerClosed",
    "X509_V_ERR_HOSTNAME_MISMATCH",
    "X509_V_ERR_IP_ADDRESS_MISMATCH",
    "classify_failure",
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

#: X509 errors that a right module clock (``+CCLK``) would cure: the "time" failure class.
TIME_ERRORS: frozenset[int] = frozenset({X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED})

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


def classify_failure(
    *,
    sent: int | None,
    received: int | None,
    verify_errors: Sequence[int],
    verify: bool,
    trust_files: int,
) -> tuple[FailureClass, int]:
    """Classify a failed TLS connection: what happened, and the NL668 ``+GTSSLERR`` code.

    The class is what a profile's ``[gtsslerr]`` table maps (an L610 reports
    -11 for ``verify`` and ``time``); the code is the NL668's (manual §1.3.4),
    which is what the default table reports.

    Args:
        sent: description of the first fatal alert we sent, or None.
        received: description of the first fatal alert we received, or None.
        verify_errors: the X509 error numbers the verify callback saw (0s allowed).
        verify: ``+GTSSLMODE`` was 1.
        trust_files: how many TRUSTFILEs were loaded.

    Returns:
        ``(class, code)``; the code is one of the manual's list, never 0.
    """
    failed_x509 = [errno for errno in verify_errors if errno != X509_V_OK]
    # With verification off no callback runs, so X509 errors mean verification refused the server.
    # "time" only when the clock is the whole story: an expired leaf from an unknown CA stays "verify".
    verdict = FailureClass.TIME if failed_x509 and set(failed_x509) <= TIME_ERRORS else FailureClass.VERIFY
    for errno in failed_x509:
        if (Source.X509, errno) in OVERRIDES:
            return verdict, int(OVERRIDES[(Source.X509, errno)])
    if verify and trust_files == 0 and failed_x509:
        # Manual §2.6 example 2: no TRUSTFILE loaded gives 42. OpenSSL itself
        # sends 48 (issuer unknown, X509 error 20); the manual wins.
        return FailureClass.VERIFY, int(GtsslErr.BAD_CERTIFICATE)
    # When we sent a fatal alert we stopped reading: the server's later alerts
    # are not ours to report. So the sent alert wins over a received one.
    source, alert = (Source.SENT, sent) if sent is not None else (Source.RECEIVED, received)
    if alert is None:
        # OpenSSL failed without any alert (e.g. "no ciphers available" before
        # the ClientHello): the module's own fault, internal_error.
        return FailureClass.INTERNAL, int(GtsslErr.INTERNAL_ERROR)
    # The alert we sent because verification refused the chain is a verification failure;
    # an internal_error we sent is our own inability (e.g. "no ciphers available" at the hello).
    if verify and failed_x509 and source is Source.SENT:
        kind = verdict
    elif source is Source.SENT and alert == ALERT_INTERNAL_ERROR:
        kind = FailureClass.INTERNAL
    else:
        kind = FailureClass.ALERT
    if (source, alert) in OVERRIDES:
        return kind, int(OVERRIDES[(source, alert)])
    return kind, alert if alert in MANUAL_ALERTS else int(GtsslErr.HANDSHAKE_FAILURE)


def gtsslerr_for(
    *,
    sent: int | None,
    received: int | None,
    verify_errors: Sequence[int],
    verify: bool,
    trust_files: int,
) -> int:
    """Return the NL668 ``+GTSSLERR`` code of a failed TLS connection (:func:`classify_failure` without the class).

    Returns:
        A code of the manual's list (§1.3.4), never 0.
    """
    return classify_failure(
        sent=sent, received=received, verify_errors=verify_errors, verify=verify, trust_files=trust_files
    )[1]


class TlsFailure(EmulatorError):
    """A handshake or connection failed.

    Args:
        gtsslerr: the NL668 ``+GTSSLERR`` code (manual §1.3.4).
        why: human detail for logs (never key or certificate material).
        failure: what kind of failure it was; by default what the code
            alone implies (:func:`~emulator.core.codes.failure_class_of`:
            152 is a file, 80 internal, the rest alerts), which is right for
            every failure raised before a handshake starts.
    """

    def __init__(self, gtsslerr: int, why: str, *, failure: FailureClass | None = None) -> None:
        super().__init__(f"GTSSLERR {gtsslerr}: {why}")
        self.gtsslerr = gtsslerr
        self.why = why
        self.failure = failure if failure is not None else failure_class_of(gtsslerr)

    def again(self) -> TlsFailure:
        """A fresh exception with the same code, text and class: what an engine raises for a failure it keeps.

        Raising the kept instance itself would hang the raising frames (which hold the engine) on it as its
        traceback: a cycle through the engine and its OpenSSL connection that only the cyclic collector
        breaks, late and ten connections at a time.
        """
        return TlsFailure(self.gtsslerr, self.why, failure=self.failure)


class TlsPeerClosed(EmulatorError):
    """The TCP peer closed (EOF or RST) before the handshake finished.

    Not a TLS error: no alert was involved, so ``+GTSSLERR`` gets no code.
    """

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why

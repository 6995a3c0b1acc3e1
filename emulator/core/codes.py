"""Wire codes of the firmware, each citing where it comes from.

The manual's vocabulary lives here; OpenSSL's lives in ``emulator/tls``.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class CmeError(IntEnum):
    """``+CME ERROR: <n>`` codes (3GPP TS 27.007 §9.2) that this firmware emits.

    The NL668 manual gives no IP-stack codes (fibocom-tcpip.md §11), so only the
    27.007 general codes are used.
    """

    PHONE_FAILURE = 0
    OPERATION_NOT_ALLOWED = 3
    OPERATION_NOT_SUPPORTED = 4
    SIM_NOT_INSERTED = 10
    MEMORY_FULL = 20
    INVALID_INDEX = 21
    TEXT_STRING_TOO_LONG = 24
    INVALID_CHARACTERS_IN_TEXT = 25
    NO_NETWORK_SERVICE = 30
    NETWORK_TIMEOUT = 31
    INCORRECT_PARAMETERS = 50
    UNKNOWN = 100

    @property
    def text(self) -> str:
        """The verbose form used under ``AT+CMEE=2`` (27.007 §9.2.1 wording)."""
        return _CME_TEXT[self]


_CME_TEXT = {
    CmeError.PHONE_FAILURE: "phone failure",
    CmeError.OPERATION_NOT_ALLOWED: "operation not allowed",
    CmeError.OPERATION_NOT_SUPPORTED: "operation not supported",
    CmeError.SIM_NOT_INSERTED: "SIM not inserted",
    CmeError.MEMORY_FULL: "memory full",
    CmeError.INVALID_INDEX: "invalid index",
    CmeError.TEXT_STRING_TOO_LONG: "text string too long",
    CmeError.INVALID_CHARACTERS_IN_TEXT: "invalid characters in text string",
    CmeError.NO_NETWORK_SERVICE: "no network service",
    CmeError.NETWORK_TIMEOUT: "network timeout",
    CmeError.INCORRECT_PARAMETERS: "incorrect parameters",
    CmeError.UNKNOWN: "unknown",
}


class FileType(IntEnum):
    """``<file_type>`` of ``+GTSSLFILE`` (manual §1.1.4), in the order the read form lists them."""

    CERTFILE = 0  #: the module's own (client) certificate, at most one
    KEYFILE = 1  #: the private key of CERTFILE, at most one
    TRUSTFILE = 2  #: a CA the server chain is verified against, up to 40


class SslVersion(IntEnum):
    """``<sslver>`` of ``+GTSSLVER`` (manual §1.4.4)."""

    SSL3_0 = 1
    TLS1_0 = 2  #: the default
    TLS1_1 = 3
    TLS1_2 = 4


class CipherId(IntEnum):
    """``<cipalgID>`` of ``+GTSSLCIPHER`` (manual §1.5.4); 11-31 are reserved."""

    ALL_DEFAULT = 0  #: "all default algorithms set"
    DHE_RSA_WITH_3DES_EDE_CBC_SHA = 1
    DHE_RSA_WITH_AES_128_CBC_SHA = 2
    RSA_WITH_AES_128_CBC_SHA = 3
    DHE_RSA_WITH_AES_256_CBC_SHA = 4
    RSA_WITH_AES_256_CBC_SHA = 5
    RSA_WITH_3DES_EDE_CBC_SHA = 6
    RSA_WITH_AES_128_CBC_SHA256 = 7
    RSA_WITH_AES_256_CBC_SHA256 = 8
    DHE_RSA_WITH_AES_128_CBC_SHA256 = 9
    DHE_RSA_WITH_AES_256_CBC_SHA256 = 10
    ALL_SUPPORTED = 255  #: "all supported algorithms set"


class GtsslErr(IntEnum):
    """``<err_code>`` of ``+GTSSLERR`` (manual §1.3.4).

    10-100 are the TLS alert descriptions (RFC 5246 §7.2); 150-155 are the
    vendor's certificate codes. 0 ("normal") is never reported: a connection
    without error makes ``+GTSSLERR?`` answer a plain ``OK`` (§1.3.2).
    """

    NORMAL = 0
    UNEXPECTED_MESSAGE = 10
    BAD_RECORD_MAC = 20
    DECRYPTION_FAILED_RESERVED = 21
    RECORD_OVERFLOW = 22
    DECOMPRESSION_FAILURE = 30
    HANDSHAKE_FAILURE = 40
    NO_CERTIFICATE_RESERVED = 41  #: only used by SSL 3.0
    BAD_CERTIFICATE = 42
    UNSUPPORTED_CERTIFICATE = 43
    CERTIFICATE_REVOKED = 44
    CERTIFICATE_EXPIRED = 45
    CERTIFICATE_UNKNOWN = 46
    ILLEGAL_PARAMETER = 47
    UNKNOWN_CA = 48
    ACCESS_DENIED = 49
    DECODE_ERROR = 50
    DECRYPT_ERROR = 51
    EXPORT_RESTRICTION_RESERVED = 60
    PROTOCOL_VERSION = 70
    INSUFFICIENT_SECURITY = 71
    INTERNAL_ERROR = 80
    USER_CANCELED = 90
    NO_RENEGOTIATION = 100
    BAD_CERTIFICATE_SIGN = 150
    BAD_CERTIFICATE_ISSUER = 151
    INVALID = 152
    HOST_MISMATCH = 153  #: "host mismatch (Common Name)"
    ALERT_FOR_VIEWING_CERTIFICATE = 154
    UNRECOGNIZED_SERVER_NAME = 155


#: TLS alert descriptions that are no ``+GTSSLERR`` code but a server may send (the trace names them).
_OTHER_ALERTS = {
    86: "inappropriate_fallback",  # RFC 7507 §3
    109: "missing_extension",  # RFC 8446 §6.2
    110: "unsupported_extension",  # RFC 5246 §7.2
    111: "certificate_unobtainable",  # RFC 6066 §9
    112: "unrecognized_name",  # RFC 6066 §9 (received, the module reports +GTSSLERR 155)
    113: "bad_certificate_status_response",  # RFC 6066 §9
    114: "bad_certificate_hash_value",  # RFC 6066 §9
    115: "unknown_psk_identity",  # RFC 4279 §2
    116: "certificate_required",  # RFC 8446 §6.2
    120: "no_application_protocol",  # RFC 7301 §3.2
}


def alert_name(code: int | None, unknown: str = "") -> str:
    """The name of a TLS alert description or a ``+GTSSLERR`` code: ``certificate_expired`` for 45,
    ``close_notify`` for 0, ``host_mismatch`` for 153; ``unknown`` for None or a number that names nothing.

    One lookup for both because :class:`GtsslErr`'s 10-100 are the alert descriptions themselves; its 0
    ("normal") is never reported, so 0 reads as the alert close_notify.
    """
    if code is None:
        return unknown
    if code == 0:
        return "close_notify"
    if code in _OTHER_ALERTS:
        return _OTHER_ALERTS[code]
    try:
        return GtsslErr(code).name.lower()
    except ValueError:
        return unknown


class FailureClass(StrEnum):
    """What kind of failure ended an SSL connection: the key of a profile's ``[gtsslerr]`` table.

    The TLS engine reports each failure as one of these plus the NL668 code
    (:class:`GtsslErr`); the core writes ``+GTSSLERR`` through the profile's
    table, so an NL668 keeps its alert numbers and an L610 reports its own
    negative codes (issue 11 field evidence). Few on purpose: they are the
    distinctions a host can act on (fix the CA, fix the clock, re-upload a
    file, change settings, retry).
    """

    VERIFY = "verify"  #: the server's certificate was refused (chain, CA, purpose, host name, no TRUSTFILE)
    TIME = "time"  #: the certificate is not valid at the module clock (expired / not yet valid)
    FILE = "file"  #: a loaded TRUSTFILE, CERTFILE or KEYFILE cannot be used (e.g. not PEM)
    ALERT = "alert"  #: the handshake or session ended with a TLS alert, sent or received, not from verification
    #: the module's own inability: no alert at all, or it sent internal_error (no usable suite, a non-TLS reply)
    INTERNAL = "internal"
    TIMEOUT = "timeout"  #: no answer within ``sockets.open_timeout_s``: the module gave up


def failure_class_of(code: int) -> FailureClass:
    """The class a bare NL668 code implies, for a failure reported without one.

    Only unambiguous codes say more than "alert": 152 is always a file, 90
    from the module always its own time-out, 80 without an alert internal.
    The engine's own classification (:func:`emulator.tls.alert_codes.classify_failure`)
    is preferred wherever X509 errors are known, since 42 and 48 may be a
    verification failure or an alert the server sent.
    """
    if code == GtsslErr.INVALID:
        return FailureClass.FILE
    if code == GtsslErr.USER_CANCELED:
        return FailureClass.TIMEOUT
    if code == GtsslErr.INTERNAL_ERROR:
        return FailureClass.INTERNAL
    return FailureClass.ALERT

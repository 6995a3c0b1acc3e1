"""A small TLS 1.0-1.2 ClientHello parser for tests (RFC 5246 §6.2, §7.4.1.2).

It reads the client's first flight as it would go on the wire: records of a
5-byte header (type, version, length) whose handshake fragments are joined,
then one handshake message of type 1.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HANDSHAKE = 0x16
CLIENT_HELLO = 1

EXT_SERVER_NAME = 0x0000
EXT_SESSION_TICKET = 0x0023
EXT_SUPPORTED_VERSIONS = 0x002B
EXT_KEY_SHARE = 0x0033
EXT_RENEGOTIATION_INFO = 0xFF01

#: TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3): OpenSSL lists it in every
#: initial TLS <= 1.2 ClientHello instead of an empty renegotiation_info.
SCSV = 0x00FF


@dataclass(frozen=True)
class ClientHello:
    record_version: int
    legacy_version: int
    session_id: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: bytes
    extensions: dict[int, bytes]

    @property
    def server_name(self) -> str | None:
        """The host_name of the server_name extension (RFC 6066 §3), if any."""
        body = self.extensions.get(EXT_SERVER_NAME)
        if body is None:
            return None
        (list_len,) = struct.unpack_from("!H", body, 0)
        name_type, name_len = struct.unpack_from("!BH", body, 2)
        assert name_type == 0 and list_len == 3 + name_len
        return body[5 : 5 + name_len].decode("ascii")


def _handshake_bytes(flight: bytes) -> tuple[int, bytes]:
    """Join the handshake fragments of the leading records; return (first record version, bytes)."""
    pos, joined, first_version = 0, bytearray(), None
    while pos + 5 <= len(flight):
        rtype, version, length = struct.unpack_from("!BHH", flight, pos)
        if rtype != HANDSHAKE:
            break
        first_version = version if first_version is None else first_version
        joined += flight[pos + 5 : pos + 5 + length]
        pos += 5 + length
    assert first_version is not None, "the flight does not start with a handshake record"
    return first_version, bytes(joined)


def parse_client_hello(flight: bytes) -> ClientHello:
    """Parse the ClientHello at the start of ``flight`` (raises AssertionError if malformed)."""
    record_version, hs = _handshake_bytes(flight)
    msg_type = hs[0]
    (length,) = struct.unpack("!I", b"\0" + hs[1:4])
    assert msg_type == CLIENT_HELLO, f"handshake type {msg_type}, not ClientHello"
    body = hs[4 : 4 + length]
    assert len(body) == length, "truncated ClientHello"

    (legacy_version,) = struct.unpack_from("!H", body, 0)
    pos = 2 + 32  # version, random
    sid_len = body[pos]
    session_id = body[pos + 1 : pos + 1 + sid_len]
    pos += 1 + sid_len
    (suites_len,) = struct.unpack_from("!H", body, pos)
    pos += 2
    suites = struct.unpack_from(f"!{suites_len // 2}H", body, pos)
    pos += suites_len
    comp_len = body[pos]
    compression = body[pos + 1 : pos + 1 + comp_len]
    pos += 1 + comp_len

    extensions: dict[int, bytes] = {}
    if pos < len(body):
        (ext_total,) = struct.unpack_from("!H", body, pos)
        pos += 2
        end = pos + ext_total
        assert end == len(body), "extensions do not fill the ClientHello"
        while pos < end:
            ext_type, ext_len = struct.unpack_from("!HH", body, pos)
            assert ext_type not in extensions, f"extension {ext_type:#06x} twice"
            extensions[ext_type] = body[pos + 4 : pos + 4 + ext_len]
            pos += 4 + ext_len
        assert pos == end
    return ClientHello(record_version, legacy_version, session_id, tuple(suites), compression, extensions)

"""The module's certificate memory (manual §1.1): volatile, add-only, all-or-nothing.

At most one CERTFILE and one KEYFILE, up to ``trust_files_max`` TRUSTFILEs
(40 on every variant). There is no delete or replace command (§1.1.4 note), so
a second CERTFILE or KEYFILE is refused. Uploading the same TRUSTFILE twice
appends a second copy, as the L610 was seen to do (fibocom-tcpip.md §9).

What a file must look like (manual §2.1 notes): a CERTFILE or TRUSTFILE starts
with ``-----BEGIN CERTIFICATE-----`` and ends with ``-----END CERTIFICATE-----``;
a KEYFILE is an ``RSA PRIVATE KEY`` (and, chosen, also PKCS#8 ``PRIVATE KEY``).
Whether the real module checks this at upload is unconfirmed (the L610 stored a
bare base64 body and failed later, fibocom-tcpip.md §9), so the strictness is a
profile setting (``files.content_check``):

* ``parse`` (default): armour as above and the content must load as a
  certificate / unencrypted private key;
* ``armour``: only the BEGIN/END lines and a base64 body are checked;
* ``none``: anything is stored (the TLS engine fails later, like the L610).
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .codes import FileType
from .profile import ContentCheck

_LABELS: dict[FileType, frozenset[str]] = {
    FileType.CERTFILE: frozenset({"CERTIFICATE"}),
    FileType.TRUSTFILE: frozenset({"CERTIFICATE"}),
    FileType.KEYFILE: frozenset({"RSA PRIVATE KEY", "PRIVATE KEY"}),
}

_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END ([A-Z0-9 ]+)-----", re.DOTALL
)
_BASE64_BODY = re.compile(rb"[A-Za-z0-9+/=\r\n]+")


class FileRejected(ValueError):
    """An uploaded file does not have the form its type requires; nothing was stored."""


def check_content(file_type: FileType, data: bytes, mode: ContentCheck) -> None:
    """Raise :class:`FileRejected` unless ``data`` is acceptable as ``file_type`` under ``mode``."""
    if mode == "none":
        return
    text = data.strip(b" \t\r\n\x1a")  # a trailing Ctrl-Z or newline is common in host code
    blocks = list(_BLOCK.finditer(text))
    if not blocks or blocks[0].start() != 0 or blocks[-1].end() != len(text):
        raise FileRejected("not PEM armoured from start to end")
    gap_start = 0
    for block in blocks:
        if text[gap_start : block.start()].strip():
            raise FileRejected("text between PEM blocks")
        gap_start = block.end()
        begin, body, end = block.group(1).decode(), block.group(2), block.group(3).decode()
        if begin != end or begin not in _LABELS[file_type]:
            raise FileRejected(f"a {file_type.name} cannot hold a {begin!r} block")
        if not _BASE64_BODY.fullmatch(body):
            raise FileRejected("body is not base64")
        try:
            binascii.a2b_base64(body.replace(b"\r", b"").replace(b"\n", b""))
        except binascii.Error as exc:
            raise FileRejected("body is not base64") from exc
    if file_type is FileType.KEYFILE and len(blocks) != 1:
        raise FileRejected("a KEYFILE holds exactly one key")
    if mode == "parse":
        _parse(file_type, text)


def _parse(file_type: FileType, text: bytes) -> None:
    try:
        if file_type is FileType.KEYFILE:
            serialization.load_pem_private_key(text, password=None)
        else:
            x509.load_pem_x509_certificates(text)
    except (ValueError, TypeError) as exc:  # cryptography says ValueError; encrypted keys TypeError
        raise FileRejected(f"content does not load: {type(exc).__name__}") from None


@dataclass(slots=True)
class CertStore:
    """The loaded files, as uploaded (bytes), in upload order."""

    trust_files_max: int
    certfile: bytes | None = None
    keyfile: bytes | None = None
    trustfiles: list[bytes] = field(default_factory=list)

    def count(self, file_type: FileType) -> int:
        if file_type is FileType.TRUSTFILE:
            return len(self.trustfiles)
        return int((self.certfile if file_type is FileType.CERTFILE else self.keyfile) is not None)

    def has_room(self, file_type: FileType) -> bool:
        limit = self.trust_files_max if file_type is FileType.TRUSTFILE else 1
        return self.count(file_type) < limit

    def add(self, file_type: FileType, data: bytes) -> None:
        """Store one file. The caller has checked room and content; this cannot half-store."""
        if not self.has_room(file_type):
            raise FileRejected(f"no room for another {file_type.name}")
        if file_type is FileType.TRUSTFILE:
            self.trustfiles.append(bytes(data))
        elif file_type is FileType.CERTFILE:
            self.certfile = bytes(data)
        else:
            self.keyfile = bytes(data)

    def __repr__(self) -> str:  # never show key or certificate bytes (logs, tracebacks)
        return (
            f"CertStore(certfile={self.count(FileType.CERTFILE)}, "
            f"keyfile={self.count(FileType.KEYFILE)}, trustfiles={len(self.trustfiles)})"
        )

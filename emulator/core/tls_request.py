"""What the TLS engine needs to open one SSL socket: a frozen snapshot taken at ``+MIPOPEN``.

The core speaks the manual's vocabulary (``+GTSSLVER`` values, cipher ids,
PEM bytes as uploaded); :mod:`emulator.tls` turns it into an OpenSSL context.
Later changes to the SSL settings do not touch a socket already opening.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class TlsRequest:
    """The SSL settings of the module when a socket opens (manual chapter 1).

    ``repr`` shows no file content: requests appear in logs.
    """

    version: int  #: +GTSSLVER (1 SSL3.0 ... 4 TLS1.2)
    cipher_ids: tuple[int, ...]  #: the ids offered: the enabled ones, else the variant's defaults
    verify: bool  #: +GTSSLMODE=1
    trust_pems: tuple[bytes, ...]  #: TRUSTFILEs as uploaded
    cert_pem: bytes | None  #: CERTFILE
    key_pem: bytes | None  #: KEYFILE
    server_name: str  #: the host given to +MIPOPEN: SNI (unless an IP literal) and the name checked
    module_time: datetime  #: the module clock (UTC): certificate validity is judged by it

    def __repr__(self) -> str:
        return (
            f"TlsRequest(version={self.version}, cipher_ids={self.cipher_ids}, verify={self.verify}, "
            f"trust_files={len(self.trust_pems)}, client_cert={self.cert_pem is not None}, "
            f"client_key={self.key_pem is not None}, server_name={self.server_name!r}, "
            f"module_time={self.module_time.isoformat()})"
        )

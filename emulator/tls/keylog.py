"""The TLS key log: the module's session secrets in the NSS key log format, for Wireshark.

Why: a real module cannot tell a field engineer what it sent inside TLS; the emulator can.
Every session either engine makes writes one line per secret to the file the user named
(``--keylog FILE`` of ``nl668-emu`` and ``nl668-lab check``, else ``$SSLKEYLOGFILE``, the
variable browsers and curl honour), e.g. ``CLIENT_RANDOM <64 hex> <96 hex>`` for SSL 3.0 to
TLS 1.2. Wireshark (Preferences > Protocols > TLS > (Pre)-Master-Secret log filename) then
decrypts a capture of the module's traffic.

Keys go to that file only: never to logs, traces or the "why" channel. The file is created
with mode 0600 and appended to (several processes and sessions can share it, as with
browsers); each line is written with one ``write`` on an ``O_APPEND`` descriptor.

OpenSSL hands its lines over through ``SSL_CTX_set_keylog_callback`` (installed by
:func:`emulator.tls.context_factory.build_context` when a key log is on); tlslite-ng has no
such hook, so :class:`~emulator.tls.legacy.LegacyTlsClient` writes the ``CLIENT_RANDOM`` line
from its session's master secret once the handshake is done.
"""

from __future__ import annotations

import os
import threading

__all__ = [
    "ENV", "client_random_line", "configure", "on_openssl_line", "target", "write_line",
]

#: the environment variable browsers, curl and Python's ssl honour
ENV = "SSLKEYLOGFILE"

_lock = threading.Lock()
_path: str | None = None


def configure(path: str | None) -> None:
    """Log to ``path`` from now on (None: back to ``$SSLKEYLOGFILE``, if set).

    Every new session follows (the context cache keys its contexts by whether a key log is on).

    Raises:
        OSError: ``path`` cannot be created or appended to (said at once, not at the first session).
    """
    global _path
    if path is not None:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    _path = path


def target() -> str | None:
    """Where secrets go: the configured file, else ``$SSLKEYLOGFILE``, else nowhere (None)."""
    return _path or os.environ.get(ENV) or None


def write_line(line: str) -> None:
    """Append one key log line (no-op when no key log is on). Errors are swallowed: a key log
    that cannot be written must not break the module's connection."""
    path = target()
    if path is None:
        return
    data = (line.rstrip("\n") + "\n").encode("ascii")
    with _lock:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            os.write(fd, data)
        except OSError:
            pass
        finally:
            os.close(fd)


def client_random_line(client_random: bytes, master_secret: bytes) -> str:
    """``CLIENT_RANDOM <client random hex> <master secret hex>`` (SSL 3.0 - TLS 1.2)."""
    return f"CLIENT_RANDOM {bytes(client_random).hex()} {bytes(master_secret).hex()}"


def on_openssl_line(conn: object, line: bytes) -> None:
    """``SSL_CTX_set_keylog_callback``'s callback: OpenSSL gives finished NSS lines."""
    write_line(line.decode("ascii", "replace"))

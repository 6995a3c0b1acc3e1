"""The per-record calls of a memory-BIO ``SSL`` connection, made on OpenSSL directly.

Why not pyOpenSSL's own ``recv``, ``bio_read``, ``bio_write`` and ``sendall``: each of them allocates a
buffer of the size asked (64 KiB here) on every call, and "nothing more to read", the normal end of every
drain, comes back as a raised ``WantReadError``. A TLS echo round trip makes five such calls on the client's
side; made directly, the round trip of a client and an in-memory server went from 40 to 31 µs warm, and the
emulator's CPU a closed-loop round trip fell 5-10 % (bench/RESULTS.md, "Fourth look"). These make the same
OpenSSL calls into one buffer per thread and say "nothing more" by their return value.

Errors are still pyOpenSSL's: any result other than "want read" goes to the connection's own error
translation, so callers catch the same :class:`OpenSSL.SSL.Error` classes as before.

Leans on private attributes of pyOpenSSL's ``Connection`` (``_ssl``, ``_into_ssl``, ``_from_ssl``,
``_raise_ssl_error``): pyOpenSSL is pinned in pyproject.toml for this.
"""

from __future__ import annotations

import threading
from typing import Any

from OpenSSL import SSL
from OpenSSL._util import ffi as _ffi
from OpenSSL._util import lib as _lib

__all__ = ["MemoryBio"]

#: Bytes a read asks for: a memory BIO hands over all it holds up to this, so a short read emptied it.
CHUNK = 65536
_WANT_READ = _lib.SSL_ERROR_WANT_READ
_ZERO_RETURN = _lib.SSL_ERROR_ZERO_RETURN
# One buffer per thread, not per connection (64 KiB x a thousand modules), nor a process-wide one: cffi
# releases the GIL during the OpenSSL call, so two loop threads could fill one buffer at once.
_buffers = threading.local()


def _buffer() -> Any:
    try:
        return _buffers.chunk
    except AttributeError:
        _buffers.chunk = _ffi.new("char[]", CHUNK)
        return _buffers.chunk


class MemoryBio:
    """Bytes in and out of one memory-BIO :class:`OpenSSL.SSL.Connection`, and its payload.

    Args:
        conn: a connection made without a socket (pyOpenSSL then gives it two memory BIOs).
    """

    __slots__ = ("_conn", "_ssl", "_into", "_from")

    def __init__(self, conn: SSL.Connection) -> None:
        if conn._into_ssl is None or conn._from_ssl is None:
            raise TypeError("a memory-BIO connection (made without a socket) is needed")
        self._conn = conn
        self._ssl = conn._ssl
        self._into = conn._into_ssl
        self._from = conn._from_ssl

    def put_ciphertext(self, data: bytes) -> None:
        """Bytes from the peer, for OpenSSL to read."""
        if not data:
            return
        n = _lib.BIO_write(self._into, data, len(data))
        if n != len(data):  # a memory BIO takes everything unless out of memory: pyOpenSSL's call then raises
            self._conn.bio_write(data[max(n, 0) :])

    def take_ciphertext(self) -> bytes:
        """Everything OpenSSL has written for the peer so far (``b""`` if nothing)."""
        buf = _buffer()
        chunks = []
        while (n := _lib.BIO_read(self._from, buf, CHUNK)) > 0:
            chunks.append(_ffi.buffer(buf, n)[:])
            if n < CHUNK:
                break
        return b"".join(chunks)

    def read_payload(self, into: bytearray) -> bool:
        """Append the payload decrypted so far to ``into``; True once the peer's close_notify is read.

        Raises:
            OpenSSL.SSL.Error: as ``Connection.recv`` would (a bad record, a fatal alert...).
        """
        buf = _buffer()
        while True:
            n = _lib.SSL_read(self._ssl, buf, CHUNK)
            if n > 0:
                into += _ffi.buffer(buf, n)
                continue
            error = _lib.SSL_get_error(self._ssl, n)
            if error == _WANT_READ:
                return False
            if error == _ZERO_RETURN:
                return True
            self._conn._raise_ssl_error(self._ssl, n)
            return False  # not reached: every other error raises

    def write_payload(self, data: bytes) -> None:
        """Encrypt ``data`` into records (then in :meth:`take_ciphertext`).

        Raises:
            OpenSSL.SSL.Error: as ``Connection.sendall`` would.
        """
        # pyOpenSSL's contexts set SSL_MODE_ENABLE_PARTIAL_WRITE, so past one record (16 KiB) SSL_write returns
        # after each record: write on from where it stopped.
        sent = 0
        with _ffi.from_buffer(data) as buf:
            while sent < len(data):
                n = _lib.SSL_write(self._ssl, buf + sent, len(data) - sent)
                if n <= 0:
                    self._conn._raise_ssl_error(self._ssl, n)
                sent += n

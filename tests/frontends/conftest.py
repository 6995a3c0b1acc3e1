"""Front-end tests: keep pyserial's RFC 2217 code from poisoning the rest of the run.

pyserial's rfc2217 module (client and PortManager) packs with *bytes* formats
(``struct.pack(b"!I", ...)``). The struct module caches formats in a dict
where ``b"!I"`` and ``"!I"`` collide, so a later ``struct.unpack("!I", ...)``
anywhere in the process compares bytes with str and fails under ``-bb``.
Clearing the cache after each test keeps the suite order-independent.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _forget_bytes_struct_formats() -> Iterator[None]:
    yield
    struct._clearcache()  # type: ignore[attr-defined]

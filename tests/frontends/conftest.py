"""Front-end tests: keep pyserial's RFC 2217 code from poisoning the rest of the run.

pyserial's rfc2217 module (client and PortManager) packs with *bytes* formats
(``struct.pack(b"!I", ...)``). The struct module caches formats in a dict
where ``b"!I"`` and ``"!I"`` collide, so a later ``struct.unpack("!I", ...)``
anywhere in the process compares bytes with str and fails under ``-bb``.
Clearing the cache after each test keeps the suite order-independent.

Also the ``port`` / ``at`` fixtures: an in-process module over ``nl668://`` (strict) and an AtClient on it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
import serial

import emulator  # noqa: F401 - registers nl668://
from emulator.at_client import AtClient


@pytest.fixture(autouse=True)
def _forget_bytes_struct_formats() -> Iterator[None]:
    yield
    struct._clearcache()  # type: ignore[attr-defined]


@pytest.fixture
def port() -> Iterator[serial.SerialBase]:
    p = serial.serial_for_url("nl668://NL668_AM_00?strict=1", timeout=5)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def at(port: serial.SerialBase) -> AtClient:
    return AtClient(port, timeout=10)

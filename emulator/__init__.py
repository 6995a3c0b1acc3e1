"""NL668 SSL AT firmware emulator: a Fibocom NL668 / M910 / L610 module on a PTY, TCP or in memory.

The public Python API is what a host project imports::

    from emulator import InMemoryModule, RunningModule, Lab, AtClient

* :class:`InMemoryModule`: one module, no I/O, on a virtual clock (unit tests of host logic);
* :class:`RunningModule`: one module served on a real PTY (or TCP, RFC 2217, in-process line)
  by a loop thread, with real sockets and TLS;
* :class:`Lab`: the field-failure lab's TLS endpoints on 127.0.0.1;
* :class:`AtClient`: a small synchronous AT host over a pyserial port;
* :func:`load_profile`, :func:`list_profiles`: the product variants.

They are imported on first use (PEP 562), so ``import emulator`` stays cheap for the command
line and does not pull tlslite-ng or asyncio into a process that needs neither.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

import serial as _serial

# pyserial's URL convention: ``serial.serial_for_url("nl668://...")`` finds emulator.pyserial_urls.protocol_nl668.
if "emulator.pyserial_urls" not in _serial.protocol_handler_packages:
    _serial.protocol_handler_packages.append("emulator.pyserial_urls")

try:
    #: the one version string: the package metadata (pyproject.toml's ``version``)
    __version__: str = metadata.version("nl668-emulator")
except metadata.PackageNotFoundError:  # pragma: no cover - run from a tree that was never installed
    __version__ = "0+unknown"

_EXPORTS = {
    "InMemoryModule": "emulator.runtime.in_memory",
    "RunningModule": "emulator.runtime.running",
    "Lab": "emulator.lab.server",
    "AtClient": "emulator.at_client",
    "AtError": "emulator.at_client",
    "load_profile": "emulator.profiles",
    "list_profiles": "emulator.profiles",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .at_client import AtClient, AtError
    from .lab.server import Lab
    from .profiles import list_profiles, load_profile
    from .runtime.in_memory import InMemoryModule
    from .runtime.running import RunningModule


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emulator' has no attribute {name!r}")

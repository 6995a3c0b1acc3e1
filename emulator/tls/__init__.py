"""The module's TLS engine: OpenSSL (via pyOpenSSL) behind a sans-I/O client.

* :mod:`.context_factory`: tables from the manual's settings to OpenSSL, and
  client ``Context`` objects reused per distinct settings (the module clock and
  the host check go on each connection).
* :mod:`.session`: :class:`TlsClient`, one connection over memory BIOs.
* :mod:`.alert_codes`: alerts and X509 errors -> the ``+GTSSLERR`` code.

``docs/GTSSLERR.md`` tells, code by code, what the emulator can report.
"""

from __future__ import annotations

from .alert_codes import TlsFailure, TlsPeerClosed, gtsslerr_for
from .context_factory import build_context, client_context
from .session import TlsClient

__all__ = ["TlsClient", "TlsFailure", "TlsPeerClosed", "build_context", "client_context", "gtsslerr_for"]

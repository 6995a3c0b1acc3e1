"""Trace of the serial line: one JSON object per line, host and module directions interleaved.

Each record is ``{"t": <ISO-8601 UTC, microseconds>, "dir": "host"|"module",
"data": <the bytes as latin-1 text>}``. Latin-1 maps every byte to one code
point, so ``record["data"].encode("latin-1")`` gives the exact bytes back.
Records with ``"dir": "why"`` (issue 4's side channel) carry a text instead:
the reason behind a link event (alert and who sent it, X509 error, negotiated
version and suite), written by the driver after the event reached the core.

Optional fields, added for the trace view (``nl668-emu trace-view``; issue 14)
without changing the three above, so old traces and old readers keep working:

* a "why" record may carry ``sock`` (the socket id), ``ev`` (``opened``,
  ``open_failed``, ``peer_closed``), ``gtsslerr`` and ``reset``;
* records with ``"dir": "net"`` tell the network side of socket ``sock`` as it
  happens: ``ev`` is ``open`` (``host``, ``port``, ``proto``), ``tcp_connected``,
  the TLS steps ``client_hello`` (``version``, ``suites``, ``sni``),
  ``server_hello`` (``version``, ``suite``), ``certificate`` (``certs``: subject,
  issuer and validity of each, never the body), ``alert`` (``from``, ``level``,
  ``alert``, ``name``), ``handshake_done``, then ``send`` / ``recv`` (``bytes``:
  a size, never the payload, which the host and module records already hold),
  ``close`` and ``closed``. ``data`` is the same step in words. ``nl668-lab check
  --trace`` adds ``label`` (``label``: the short name of the cell(s) the socket's
  handshake stands for, ``cells``: variant, ``gtsslver``, ``gtsslcipher``, ``gtsslmode``).

A trace never holds key material: the core replaces uploaded file bodies in
the host input it reports (``HostInputSeen``), and the driver replaces
``secret`` writes by a placeholder before they get here. This writer trusts
its callers on that and writes what it is given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from .core.clock import Clock
from .runtime.clocks import SystemClock

Direction = Literal["host", "module", "why", "net"]


class TraceWriter:
    """Appends trace records to a file, flushing each line so a crash loses nothing.

    Args:
        path: the file to write; it is truncated.
        clock: where the timestamps come from (a ``ManualClock`` makes traces reproducible).
    """

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock: Clock = clock or SystemClock()
        self._file = self.path.open("w", encoding="ascii")

    def record(self, direction: Direction, data: bytes) -> None:
        """Write one record for ``data`` going in ``direction``."""
        if self._file.closed:
            return
        t = self._clock.utc_now().isoformat(timespec="microseconds")
        # ensure_ascii keeps the file plain ASCII whatever the bytes were.
        line = json.dumps({"t": t, "dir": direction, "data": data.decode("latin-1")})
        self._file.write(line + "\n")
        self._file.flush()

    def host(self, data: bytes) -> None:
        """Record bytes the host sent (already redacted by the core)."""
        self.record("host", data)

    def module(self, data: bytes) -> None:
        """Record bytes the module wrote to the host (already redacted by the driver)."""
        self.record("module", data)

    def why(self, text: str, **fields: Any) -> None:
        """Record a "why" line: the reason behind a link event (issue 4's side channel).

        ``data`` is the text itself here, not bytes; callers pass alert and
        X509 error numbers and suite names, never key material. ``fields`` are
        the optional ones of the module docstring (``sock``, ``ev``, ...).
        """
        self._text("why", text, fields)

    def net(self, sock: int, ev: str, text: str, **fields: Any) -> None:
        """Record a network-side step of socket ``sock`` (``"dir": "net"``, see the module docstring)."""
        self._text("net", text, {"sock": sock, "ev": ev, **fields})

    def step(self, sock: int, step: Mapping[str, Any]) -> None:
        """Record a step as the edges' observers give it (``{"ev", "text", ...}``: the runtime's sockets,
        ``nl668-lab check``) as a "net" record of socket ``sock``."""
        self.net(sock, str(step["ev"]), str(step["text"]), **{k: v for k, v in step.items() if k not in ("ev", "text")})

    def _text(self, direction: Direction, text: str, fields: dict[str, Any]) -> None:
        if self._file.closed:
            return
        t = self._clock.utc_now().isoformat(timespec="microseconds")
        self._file.write(json.dumps({"t": t, "dir": direction, "data": text, **fields}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_trace(path: str | Path) -> list[dict[str, Any]]:
    """Read every record of a trace file, in order."""
    with Path(path).open(encoding="ascii") as f:
        return [json.loads(line) for line in f if line.strip()]

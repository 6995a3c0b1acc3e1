"""An SNTP server (RFC 4330) on 127.0.0.1 that serves a time the test chooses.

``SntpServer(time=datetime(2019, 6, 1, tzinfo=timezone.utc))`` answers every
mode-3 request with that instant, running on from the moment the server
started (``frozen=True`` keeps it still). It can also misbehave the ways a
client must survive: stay silent, send a kiss-o'-death (stratum 0), claim to
be unsynchronised (leap indicator 3), or echo the wrong originate time.
:attr:`requests` counts what it received, so a test can tell "no query" from
"a query that was refused".

It runs on the shared server loop of :mod:`emulator.servers.tls_servers`, like
the other local servers.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal, Self

from ..runtime.sntp import MODE_CLIENT, MODE_SERVER, SntpError, SntpPacket, decode, encode
from .tls_servers import DEFAULT_TIMEOUT, DatagramServer

Behaviour = Literal["answer", "silent", "kiss", "unsynchronised", "wrong-originate"]


@dataclass(frozen=True, slots=True)
class SntpSettings:
    time: datetime  #: what the server's clock reads at start (aware; a naive time means UTC)
    frozen: bool = False  #: keep answering exactly ``time`` instead of letting it run on
    behaviour: Behaviour = "answer"
    stratum: int = 1


class SntpServer(DatagramServer):
    """A UDP SNTP server on 127.0.0.1, any free port (:attr:`port`)."""

    def __init__(self, time_: datetime | None = None, *, settings: SntpSettings | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        if settings is None:
            if time_ is None:
                raise TypeError("SntpServer needs a time (or settings)")
            settings = SntpSettings(time=time_)
        super().__init__(timeout=timeout)
        instant = settings.time if settings.time.tzinfo else settings.time.replace(tzinfo=timezone.utc)
        self.settings = settings
        self.requests = 0
        self._epoch = instant.timestamp()
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SntpServer {self.host}:{self.port} {self.settings.behaviour}>"

    def now(self) -> float:
        """The server's clock, Unix seconds."""
        if self.settings.frozen:
            return self._epoch
        return self._epoch + (time.monotonic() - self._started)

    def start(self) -> Self:
        super().start()
        self._started = time.monotonic()  # the served time runs on from here (no one knows the port before)
        return self

    def answer(self, request: bytes) -> bytes | None:
        """The reply to one datagram (None: say nothing). Pure apart from the clock; tests call it directly."""
        with self._lock:
            self.requests += 1
        try:
            asked = decode(request)
        except SntpError:
            return None
        if asked.mode != MODE_CLIENT or self.settings.behaviour == "silent":
            return None
        received = self.now()
        behaviour = self.settings.behaviour
        return encode(SntpPacket(
            leap=3 if behaviour == "unsynchronised" else 0,
            version=asked.version,
            mode=MODE_SERVER,
            stratum=0 if behaviour == "kiss" else self.settings.stratum,
            reference_id=b"RATE" if behaviour == "kiss" else b"LOCL",
            originate_raw=(asked.transmit_raw ^ 1) if behaviour == "wrong-originate" else asked.transmit_raw,
            receive=received,
            transmit=self.now(),
        ))

    def _answer(self, data: bytes, sender: tuple[str, int]) -> bytes | None:
        return self.answer(data)

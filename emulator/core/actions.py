"""What the core asks the edge to do (outputs, in the imperative).

:meth:`Module.actions_to_perform` returns them as **one ordered list**: order is
semantics (``OK`` goes out before a later URC; a write must not overtake the
timer that guards it). Frozen, keyword-only, slotted; don't subclass these.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import IntEnum
from typing import overload

from .events import PingAnswered, TimeAnswered
from .tls_request import TlsRequest


class Protocol(IntEnum):
    """``<proto>`` of ``+MIPOPEN`` (fibocom-tcpip.md §4)."""

    TCP = 0
    UDP = 1
    SSL = 2


@dataclass(frozen=True, kw_only=True, slots=True)
class WriteToHost:
    """Send these bytes to the host on the serial line.

    ``secret`` marks bytes that hold certificate or key material (the echo of
    an upload when a profile echoes data); traces and logs must not show them.
    """

    data: bytes
    secret: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class StartTimer:
    """Arm (or re-arm) timer ``timer``; answer with ``TimerExpired(timer=...)`` after ``seconds``."""

    timer: Hashable
    seconds: float


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelTimer:
    """Disarm timer ``timer`` if it is running."""

    timer: Hashable


@dataclass(frozen=True, kw_only=True, slots=True)
class HostInputSeen:
    """For traces only: what the host sent, with uploaded file bodies replaced by a placeholder.

    Emitted only by a module built with ``trace_input=True``, in order with the
    writes it caused.
    """

    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class PowerCycled:
    """The module has reset (``AT+CFUN=1,1``, ``AT+CFUN=15``): the edge drops what it held for it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OpenLink:
    """Connect socket ``link_id`` to ``host``:``port`` (TCP, UDP, or TCP then a TLS handshake).

    Answer with ``LinkOpened`` or ``LinkOpenFailed``. ``host`` is as the host typed it;
    the edge resolves it (``--resolve`` first). ``tls`` is set for ``Protocol.SSL``.
    """

    link_id: int
    host: str
    port: int
    protocol: Protocol
    src_port: int | None = None
    tls: TlsRequest | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SendToPeer:
    """Send these payload bytes on socket ``link_id`` (encrypted first when it is SSL)."""

    link_id: int
    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class CloseLink:
    """Close socket ``link_id`` (close_notify first for SSL); answer with ``LinkClosed``.

    Also sent to abandon a socket still opening; then no other event for it may follow.
    """

    link_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolveName:
    """Look ``host`` up (``+MIPDNS``); answer with ``NameResolved(query=...)``."""

    query: int
    host: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PingHost:
    """Send one echo request to ``host`` (``+MPING``); answer with ``PingAnswered(probe=...)``.

    ``host`` is as the host typed it; the edge resolves it (``--resolve`` first)
    and probes the way the system lets an unprivileged process (an ICMP datagram
    socket, else a TCP connect). ``timeout_s`` bounds the wait for the answer.
    """

    probe: int
    host: str
    size: int
    ttl: int
    tos: int
    timeout_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class QueryTime:
    """Ask the SNTP server ``host``:``port`` for the time (``+MIPNTP``); answer with ``TimeAnswered``.

    ``host`` is resolved by the edge (``--resolve`` first); no answer within ``timeout_s`` is a failure.
    """

    query: int
    host: str
    port: int
    timeout_s: float


@overload
def unanswered(probe: PingHost, why: str) -> PingAnswered: ...
@overload
def unanswered(probe: QueryTime, why: str) -> TimeAnswered: ...
def unanswered(probe: PingHost | QueryTime, why: str) -> PingAnswered | TimeAnswered:
    """The edge's answer to a ``+MPING`` / ``+MIPNTP`` probe it could not make: no address / no time, and ``why``.

    One spelling for every such answer (a driver without links, a bug in ``perform`` or in the probe's task),
    so the core sees the same failed shape whatever the edge's reason.
    """
    if isinstance(probe, PingHost):
        return PingAnswered(probe=probe.probe, address=None, why=why)
    return TimeAnswered(query=probe.query, utc=None, why=why)


@dataclass(frozen=True, kw_only=True, slots=True)
class PauseReading:
    """Stop (``paused``) or resume reading from socket ``link_id``: the module's receive buffer is full."""

    link_id: int
    paused: bool


Action = (
    WriteToHost
    | StartTimer
    | CancelTimer
    | HostInputSeen
    | PowerCycled
    | OpenLink
    | SendToPeer
    | CloseLink
    | ResolveName
    | PauseReading
    | PingHost
    | QueryTime
)

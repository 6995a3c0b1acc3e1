"""What happened at the edge (inputs to the core, in the past tense).

Frozen, keyword-only, slotted; don't subclass these.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from .codes import FailureClass


@dataclass(frozen=True, kw_only=True, slots=True)
class TimerExpired:
    """A timer asked for with ``StartTimer`` has run out."""

    timer: Hashable


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkOpened:
    """Socket ``link_id`` is connected (for SSL: the handshake is done)."""

    link_id: int
    #: for the "why" side channel: negotiated version and suite, e.g. "TLSv1.2 DHE-RSA-AES128-SHA256"
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkOpenFailed:
    """Socket ``link_id`` could not be opened.

    ``gtsslerr`` is the NL668 ``+GTSSLERR`` code of a failed handshake (manual §1.3.4),
    ``None`` when no TLS error is involved (refused, unreachable, unresolvable);
    ``failure`` its class, which the profile's ``[gtsslerr]`` table maps to what
    the host sees (``None``: implied by the code, :func:`~.codes.failure_class_of`).
    ``why`` is for logs and traces only, never for the host.
    """

    link_id: int
    gtsslerr: int | None = None
    failure: FailureClass | None = None
    why: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerDataReceived:
    """Payload bytes arrived on socket ``link_id`` (already decrypted).

    For UDP, ``peer`` is the sender's ``(ip, port)``.
    """

    link_id: int
    data: bytes
    peer: tuple[str, int] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerClosed:
    """The peer or the network ended socket ``link_id``: ``reset`` for a RST or a network error,
    otherwise an orderly close (FIN, or close_notify then FIN). ``gtsslerr`` (and its ``failure`` class)
    when a TLS alert ended it."""

    link_id: int
    reset: bool = False
    gtsslerr: int | None = None
    failure: FailureClass | None = None
    why: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkClosed:
    """A ``CloseLink`` is done: socket ``link_id`` is gone at the edge."""

    link_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class NameResolved:
    """Answer to ``ResolveName``: the IPv4 addresses, or an empty tuple when the name does not resolve."""

    query: int
    addresses: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class PingAnswered:
    """Answer to ``PingHost``.

    ``address`` is the IPv4 address the module reports for the target (``None``:
    the name does not resolve). ``icmp_type`` is the ICMP type of the answer (0: echo
    reply, 3: destination unreachable with ``icmp_code``), ``None`` when nothing came
    back within the timeout. ``rtt_ms`` is set for an echo reply.
    """

    probe: int
    address: str | None
    icmp_type: int | None = None
    icmp_code: int = 0
    rtt_ms: int | None = None
    why: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class TimeAnswered:
    """Answer to ``QueryTime``: the server's time now (an aware UTC datetime), or ``None`` and ``why``."""

    query: int
    utc: datetime | None
    why: str = ""


# --- the console's verbs (emulator.console): the world around the module changes -------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class PowerCycleRequested:
    """The power supply was cut and restored: the module reboots as after ``AT+CFUN=1,1``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ClockSet:
    """The module's real-time clock now reads ``utc`` (an aware datetime)."""

    utc: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class NetworkChanged:
    """Radio conditions changed: ``rssi``/``ber`` (``+CSQ``) and ``registration`` (``<stat>``); ``None`` keeps one."""

    rssi: int | None = None
    ber: int | None = None
    registration: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PdpDropped:
    """The network deactivated the PDP context (``+MIPCALL: 0``); every socket goes with it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class UrcInjected:
    """Say ``text`` as a URC (framed by the V.250 settings), as if the firmware had."""

    text: str


ControlEvent = PowerCycleRequested | ClockSet | NetworkChanged | PdpDropped | UrcInjected

#: What the sockets report about one link (each has ``link_id``).
LinkEvent = LinkOpened | LinkOpenFailed | PeerDataReceived | PeerClosed | LinkClosed

Event = (
    TimerExpired
    | LinkOpened
    | LinkOpenFailed
    | PeerDataReceived
    | PeerClosed
    | LinkClosed
    | NameResolved
    | PingAnswered
    | TimeAnswered
    | ControlEvent
)

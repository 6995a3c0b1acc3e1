"""SNTP (RFC 4330) on the network side of ``+MIPNTP``: the wire format, and one client query.

The client sends one mode-3 request over UDP and takes the first reply that
passes RFC 4330 §5's checks (mode 4, the request's version, leap indicator not
3 "unsynchronised", stratum 1-15 (0 is a kiss-o'-death), a non-zero transmit
time, and the originate time equal to our transmit time so a stray or spoofed
datagram is not believed). The clock offset is the usual
``((T2 - T1) + (T3 - T4)) / 2``; the answer is the server's estimate of *now*
at the moment the reply arrived.

The wire helpers are shared with the test server
(:mod:`emulator.servers.sntp_server`), so both sides read the same layout.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from .resolve import Resolver

#: seconds from 1900-01-01 (NTP era 0) to 1970-01-01
NTP_UNIX_DELTA = 2_208_988_800
PACKET = struct.Struct("!BBbbII4sQQQQ")  # 48 bytes, RFC 4330 §4
VERSION = 4
MODE_CLIENT = 3
MODE_SERVER = 4
LEAP_UNSYNCHRONISED = 3


class SntpError(Exception):
    """No usable answer: unreachable, refused, timed out, or a reply that fails RFC 4330 §5."""


@dataclass(frozen=True, slots=True)
class SntpPacket:
    """The fields of an (S)NTP packet the emulator reads or writes; timestamps in Unix seconds (0.0: unset)."""

    leap: int
    version: int
    mode: int
    stratum: int
    reference_id: bytes = b"\0\0\0\0"
    originate: float = 0.0
    receive: float = 0.0
    transmit: float = 0.0
    originate_raw: int = 0  #: the 64-bit originate field as sent, compared exactly (no float rounding)
    transmit_raw: int = 0


def to_ntp(unix: float) -> int:
    """Unix seconds -> the 64-bit NTP timestamp (32.32 fixed point, era wrapped as RFC 4330 §3 says)."""
    if unix == 0.0:
        return 0
    whole = int(unix // 1)
    fraction = int((unix - whole) * (1 << 32)) & 0xFFFFFFFF
    return (((whole + NTP_UNIX_DELTA) & 0xFFFFFFFF) << 32) | fraction


def from_ntp(value: int) -> float:
    """The 64-bit NTP timestamp -> Unix seconds. A clear top bit means era 1 (2036-2104), RFC 4330 §3."""
    if value == 0:
        return 0.0
    seconds, fraction = value >> 32, value & 0xFFFFFFFF
    if not seconds & 0x80000000:
        seconds += 1 << 32
    return seconds - NTP_UNIX_DELTA + fraction / (1 << 32)


def encode(packet: SntpPacket) -> bytes:
    first = (packet.leap << 6) | (packet.version << 3) | packet.mode
    originate = packet.originate_raw or to_ntp(packet.originate)
    transmit = packet.transmit_raw or to_ntp(packet.transmit)
    return PACKET.pack(first, packet.stratum, 0, -20, 0, 0, packet.reference_id, 0, originate,
                       to_ntp(packet.receive), transmit)


def decode(data: bytes) -> SntpPacket:
    """Read the 48-byte header (extension fields and a MAC after it are ignored); raises SntpError if short."""
    if len(data) < PACKET.size:
        raise SntpError(f"{len(data)}-byte reply (an NTP packet has 48)")
    first, stratum, _poll, _precision, _delay, _dispersion, ref_id, _ref, originate, receive, transmit = (
        PACKET.unpack_from(data)
    )
    return SntpPacket(
        leap=first >> 6, version=(first >> 3) & 7, mode=first & 7, stratum=stratum, reference_id=ref_id,
        originate=from_ntp(originate), receive=from_ntp(receive), transmit=from_ntp(transmit),
        originate_raw=originate, transmit_raw=transmit,
    )


def check_reply(reply: SntpPacket, sent_transmit: int) -> str | None:
    """Why ``reply`` must not be believed (RFC 4330 §5), or None when it is good."""
    if reply.mode != MODE_SERVER:
        return f"mode {reply.mode}, not a server reply"
    if reply.version != VERSION:
        return f"version {reply.version} (asked with {VERSION})"
    if reply.originate_raw != sent_transmit:
        return "originate time is not our transmit time (stray or spoofed)"
    if reply.stratum == 0:
        return f"kiss-o'-death {reply.reference_id.decode('ascii', 'replace')!r}"
    if reply.stratum > 15:
        return f"stratum {reply.stratum}"
    if reply.leap == LEAP_UNSYNCHRONISED:
        return "server clock not synchronised (leap indicator 3)"
    if reply.transmit_raw == 0:
        return "no transmit time"
    return None


async def query_time(
    loop: asyncio.AbstractEventLoop,
    resolver: Resolver,
    host: str,
    port: int,
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.time,
) -> datetime:
    """Ask ``host``:``port`` (``--resolve`` first) for the time; the server's UTC now, or SntpError."""
    targets = await resolver.resolve(loop, host, port)
    if not targets:
        raise SntpError(f"{host}: no address")
    addr, real_port = targets[0]
    deadline = loop.time() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            sock.connect((addr, real_port))
            t1 = clock()
            sent = to_ntp(t1)
            await loop.sock_sendall(sock, encode(SntpPacket(leap=0, version=VERSION, mode=MODE_CLIENT, stratum=0,
                                                             transmit_raw=sent)))
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise SntpError(f"no valid answer from {addr}:{real_port} within {timeout_s:g} s")
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 1024), remaining)
                except TimeoutError:
                    continue  # the deadline check above says it
                t4 = clock()
                reply = decode(data) if len(data) >= PACKET.size else None
                why = "short datagram" if reply is None else check_reply(reply, sent)
                if reply is not None and why is None:
                    break
                if reply is not None and reply.stratum == 0 and reply.originate_raw == sent:
                    raise SntpError(f"{addr}:{real_port}: {why}")  # a kiss-o'-death is final (RFC 4330 §8)
                # Anything else that fails the checks is ignored: the real answer may still come.
        except OSError as exc:  # ICMP port unreachable arrives as ECONNREFUSED on the connected socket
            raise SntpError(f"{addr}:{real_port}: {exc.strerror or exc}") from None
    offset = ((reply.receive - t1) + (reply.transmit - t4)) / 2
    return datetime.fromtimestamp(t4 + offset, timezone.utc)

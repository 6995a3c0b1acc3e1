"""The network side of ``+MPING``: one echo probe, the way an unprivileged process can send one.

1. **ICMP echo** on an ICMP datagram socket (``socket(AF_INET, SOCK_DGRAM,
   IPPROTO_ICMP)``), which Linux grants to the groups in
   ``net.ipv4.ping_group_range`` without any privilege: a real echo request,
   with the asked-for payload size, TTL and TOS; the reply's round trip is
   measured. An ICMP error for it (net/host unreachable) comes back as a
   socket error and is reported as ICMP type 3.
2. **TCP connect probe** where that socket is refused (many distributions
   ship ``ping_group_range = 1 0``, "nobody"): a connect to the target's port
   443 and 80 at once; a completed handshake *or* a reset both prove the host
   answered, and the time to the first of them is the round trip (one SYN
   there and back, as an echo). Size is not carried (a SYN has no payload);
   TTL and TOS are set on the socket.

Either way nothing back within the timeout is "no answer". Where a probe
goes follows ``--resolve`` like the sockets: the address ``+MIPDNS`` would
answer for a name, a rule's port for the probe port. The address reported to
the host is the IPv4 literal it typed, else that resolved address, never a
redirect target (issue 11).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import math
import socket
import struct
import time
from dataclasses import dataclass
from enum import Enum

from .resolve import Resolver

logger = logging.getLogger(__name__)

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0
ICMP_UNREACHABLE = 3
#: the TCP probe dials these ports of the target at once (chosen: the two most likely to answer)
TCP_PROBE_PORTS = (443, 80)
#: socket errors that are an ICMP destination-unreachable in disguise -> its code (RFC 792)
_UNREACHABLE = {errno.ENETUNREACH: 0, errno.EHOSTUNREACH: 1, errno.EPROTO: 2}


class ProbeMethod(Enum):
    ICMP = "icmp datagram socket"
    TCP = "tcp connect"


@dataclass(frozen=True, slots=True)
class EchoResult:
    """What one echo found. ``address`` None: the host does not resolve; ``icmp_type`` None: no answer."""

    address: str | None
    icmp_type: int | None = None
    icmp_code: int = 0
    rtt_ms: int | None = None
    method: ProbeMethod | None = None
    why: str = ""


def icmp_available() -> bool:
    """Whether this process may open an ICMP datagram socket (``net.ipv4.ping_group_range``)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
    except OSError:
        return False
    return True


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(seq: int, size: int) -> bytes:
    """An ICMP echo request; the kernel puts the socket's own identifier in (ping sockets do)."""
    payload = bytes(i & 0xFF for i in range(size))
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, 0, seq & 0xFFFF)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, checksum(header + payload), 0, seq & 0xFFFF) + payload


def _rtt_ms(started: float) -> int:
    # Whole milliseconds, at least 1: hosts read 0 as "no reply" (the L610 OneOS driver does).
    return max(1, math.ceil((time.monotonic() - started) * 1000))


def shown_address(dialled: str, resolved: str) -> str:
    """The address the host is told it reached (``+MPING``, ``+MIPRUDP``'s sender): the IPv4 literal it
    typed, even where a ``--resolve`` rule redirects it, else ``resolved`` (what ``+MIPDNS`` says for the
    name); never a redirect target of a literal (issue 11)."""
    try:
        return str(ipaddress.IPv4Address(dialled.strip()))
    except ValueError:
        return resolved


async def _target(loop: asyncio.AbstractEventLoop, resolver: Resolver, host: str) -> tuple[str, str] | None:
    """(the address to report, the address to probe), or None when ``host`` does not resolve."""
    addresses = await resolver.resolve_name(loop, host.strip())
    if not addresses:
        return None
    return shown_address(host, addresses[0]), addresses[0]


async def ping_once(
    loop: asyncio.AbstractEventLoop,
    resolver: Resolver,
    host: str,
    *,
    seq: int,
    size: int,
    ttl: int,
    tos: int,
    timeout_s: float,
) -> EchoResult:
    """Send one echo to ``host`` and wait for its answer (see the module docstring for how)."""
    target = await _target(loop, resolver, host)
    if target is None:
        return EchoResult(address=None, why=f"{host}: no address")
    shown, addr = target
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    except OSError as exc:
        logger.debug("no ICMP datagram socket (%s): TCP connect probe", exc)
        return await _tcp_probe(loop, resolver, host, shown, addr, ttl=ttl, tos=tos, timeout_s=timeout_s)
    with sock:
        return await _icmp_probe(loop, sock, shown, addr, seq=seq, size=size, ttl=ttl, tos=tos, timeout_s=timeout_s)


async def _icmp_probe(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, shown: str, addr: str, *,
    seq: int, size: int, ttl: int, tos: int, timeout_s: float,
) -> EchoResult:
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    deadline = loop.time() + timeout_s
    started = time.monotonic()
    try:
        await loop.sock_sendto(sock, echo_request(seq, size), (addr, 0))
        while (remaining := deadline - loop.time()) > 0:
            try:
                data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), remaining)
            except TimeoutError:
                break
            if len(data) >= 8:
                kind, code, _sum, _ident, got_seq = struct.unpack_from("!BBHHH", data)
                if kind == ICMP_ECHO_REPLY and got_seq == seq & 0xFFFF:
                    return EchoResult(shown, ICMP_ECHO_REPLY, 0, _rtt_ms(started), ProbeMethod.ICMP)
    except OSError as exc:
        if exc.errno in _UNREACHABLE:
            return EchoResult(shown, ICMP_UNREACHABLE, _UNREACHABLE[exc.errno], None, ProbeMethod.ICMP,
                              why=exc.strerror or "")
        return EchoResult(shown, None, method=ProbeMethod.ICMP, why=f"icmp: {exc.strerror or exc}")
    return EchoResult(shown, None, method=ProbeMethod.ICMP, why=f"no echo reply within {timeout_s:g} s")


async def _connect_once(
    loop: asyncio.AbstractEventLoop, addr: str, port: int, ttl: int, tos: int
) -> tuple[int, int] | None:
    """(ICMP type, code) this connect amounts to: (0, 0) when the host answered (SYN-ACK or RST)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
        try:
            await loop.sock_connect(sock, (addr, port))
        except ConnectionRefusedError:
            return ICMP_ECHO_REPLY, 0  # a reset: somebody is there
        except OSError as exc:
            if exc.errno in _UNREACHABLE:
                return ICMP_UNREACHABLE, _UNREACHABLE[exc.errno]
            return None
        return ICMP_ECHO_REPLY, 0


async def _tcp_probe(
    loop: asyncio.AbstractEventLoop, resolver: Resolver, host: str, shown: str, addr: str, *,
    ttl: int, tos: int, timeout_s: float,
) -> EchoResult:
    # A --resolve rule for host:443 / host:80 (or any port) may move the probe to another address or port.
    targets = list(dict.fromkeys(resolver.lookup(host, port) or (addr, port) for port in TCP_PROBE_PORTS))
    started = time.monotonic()
    tasks = {asyncio.ensure_future(_connect_once(loop, a, p, ttl, tos)) for a, p in targets}
    try:
        pending = tasks
        deadline = loop.time() + timeout_s
        while pending and (remaining := deadline - loop.time()) > 0:
            done, pending = await asyncio.wait(pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                answer = task.result()
                if answer is None:
                    continue
                kind, code = answer
                rtt = _rtt_ms(started) if kind == ICMP_ECHO_REPLY else None
                return EchoResult(shown, kind, code, rtt, ProbeMethod.TCP)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return EchoResult(shown, None, method=ProbeMethod.TCP, why=f"no answer on ports {TCP_PROBE_PORTS} within "
                                                               f"{timeout_s:g} s")

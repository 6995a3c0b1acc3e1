"""Name resolution for the module's sockets, with curl-like ``--resolve`` overrides.

Why overrides: host software under test dials the hosts it dials in the field
(``www.baidu.com``:443, the manual's ``114.255.225.39``). ``--resolve
www.baidu.com:443=127.0.0.1:4433`` sends that socket to a local test server
without touching the host program, the way ``curl --resolve`` does (plus an
optional port rewrite, which curl has as ``--connect-to``).

Rule syntax: ``HOST[:PORT]=ADDR[:PORT]``

* ``HOST``: a name (matched case-insensitively, a trailing dot ignored) or an
  IPv4 literal (so an IP the host program dials can be redirected as well).
* ``:PORT`` after ``HOST``: the rule applies to that port only; without it, to
  any port.
* ``ADDR``: an IPv4 address. ``:PORT`` after it: connect there instead;
  without it, to the port that was asked for.

Each side is read by :func:`emulator.hostport.parse_host_port`, as ``--tcp``
and ``nl668-lab check`` read theirs; an IPv6 address, bracketed or not, is
refused as such.

When several rules match, a rule for the exact port beats a rule for any
port, and among equals the first one given wins.

Lookups never block the loop: real DNS goes through ``loop.getaddrinfo``
(a thread of the loop's default executor). The module is IPv4-only, so only
``AF_INET`` answers are used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from ..hostport import parse_host_port

logger = logging.getLogger(__name__)

# RFC 1123 host names, plus "_" (seen in the wild; getaddrinfo accepts it).
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


@dataclass(frozen=True, slots=True)
class ResolveRule:
    """One ``--resolve`` override (see the module docstring for the syntax)."""

    host: str  #: the name (lower case, no trailing dot) or IPv4 literal it applies to
    port: int | None  #: the only port it applies to, or ``None`` for any port
    addr: str  #: the IPv4 address to use instead
    addr_port: int | None  #: the port to use instead, or ``None`` to keep the asked-for port

    def __str__(self) -> str:
        left = self.host if self.port is None else f"{self.host}:{self.port}"
        right = self.addr if self.addr_port is None else f"{self.addr}:{self.addr_port}"
        return f"{left}={right}"


def _normalise(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _split_port(text: str, spec: str, what: str) -> tuple[str, int | None]:
    # An unbracketed IPv6 address would get parse_host_port's "needs brackets", which sends the writer off to
    # add brackets only to be refused again: say at once that no IPv6 form is taken.
    if text.count(":") > 1 and not text.strip().startswith("["):
        raise ValueError(f"bad --resolve {spec!r}: {text!r}: IPv6 is not supported (the module is IPv4-only)")
    try:
        # Port 0 is refused as written, so as the default it can only mean "no port given".
        host, port = parse_host_port(text, default_port=0)
    except ValueError as exc:
        raise ValueError(f"bad --resolve {spec!r}: {what}: {exc}") from None
    if ":" in host:
        raise ValueError(f"bad --resolve {spec!r}: {text!r}: IPv6 is not supported (the module is IPv4-only)")
    return host, port or None


def parse_resolve(spec: str) -> ResolveRule:
    """Parse ``HOST[:PORT]=ADDR[:PORT]``.

    Raises:
        ValueError: the spec is malformed; the message quotes it.
    """
    left, sep, right = spec.partition("=")
    if not sep or not left or not right:
        raise ValueError(f"bad --resolve {spec!r}: expected HOST[:PORT]=ADDR[:PORT]")
    host, port = _split_port(left, spec, "host")
    addr, addr_port = _split_port(right, spec, "address")
    host = _normalise(host)
    if not (_is_ipv4(host) or (_NAME.match(host) and not host.replace(".", "").isdigit())):
        raise ValueError(f"bad --resolve {spec!r}: {host!r} is neither a host name nor an IPv4 address")
    if not _is_ipv4(addr):
        raise ValueError(f"bad --resolve {spec!r}: {addr!r} is not an IPv4 address")
    return ResolveRule(host=host, port=port, addr=addr, addr_port=addr_port)


class Resolver:
    """Resolves the hosts the module's sockets dial: overrides first, then real DNS.

    Args:
        rules: the overrides, in the order given (see the module docstring for precedence).
    """

    def __init__(self, rules: Iterable[ResolveRule] = ()) -> None:
        self.rules: tuple[ResolveRule, ...] = tuple(rules)

    @classmethod
    def from_specs(cls, specs: Iterable[str]) -> Resolver:
        """Build from ``--resolve`` strings; raises ``ValueError`` naming the first bad one."""
        return cls(parse_resolve(spec) for spec in specs)

    def __repr__(self) -> str:
        return f"Resolver([{', '.join(map(str, self.rules))}])"

    def lookup(self, host: str, port: int) -> tuple[str, int] | None:
        """The override for ``host``:``port``, or ``None`` if no rule applies."""
        name = _normalise(host)
        exact = next((r for r in self.rules if r.host == name and r.port == port), None)
        rule = exact or next((r for r in self.rules if r.host == name and r.port is None), None)
        if rule is None:
            return None
        return rule.addr, port if rule.addr_port is None else rule.addr_port

    def resolve_now(self, host: str, port: int) -> list[tuple[str, int]] | None:
        """What :meth:`resolve` answers without asking DNS (an override, an IPv4 literal, an empty
        name), or ``None`` when only DNS can tell.

        Lets a socket to a known address be dialled in the same loop callback as
        the ``+MIPOPEN`` that asked for it, with no task in between.
        """
        override = self.lookup(host, port)
        if override is not None:
            logger.debug("resolve %s:%d -> %s:%d (override)", host, port, *override)
            return [override]
        name = host.strip()
        if _is_ipv4(name):
            return [(name, port)]
        if not name:
            return []
        return None

    async def resolve(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[tuple[str, int]]:
        """Where a socket to ``host``:``port`` should connect, best first; ``[]`` if the name does not resolve."""
        known = self.resolve_now(host, port)
        if known is not None:
            return known
        name = host.strip()
        try:
            infos = await loop.getaddrinfo(name, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            logger.info("resolve %s: %s", host, exc)
            return []
        found: list[tuple[str, int]] = []
        for *_, sockaddr in infos:
            pair = (str(sockaddr[0]), int(sockaddr[1]))
            if pair not in found:
                found.append(pair)
        return found

    async def resolve_name(self, loop: asyncio.AbstractEventLoop, host: str) -> tuple[str, ...]:
        """The IPv4 addresses of ``host`` (``+MIPDNS``); ``()`` if it does not resolve.

        A DNS query has no port, so every rule for ``host`` applies, whether it
        names a port or not: rules for any port first, then port-specific
        ones, each in the order given.
        """
        name = _normalise(host)
        rules = [r for r in self.rules if r.host == name and r.port is None]
        rules += [r for r in self.rules if r.host == name and r.port is not None]
        if rules:
            return tuple(dict.fromkeys(r.addr for r in rules))
        if _is_ipv4(host.strip()):
            return (host.strip(),)
        return tuple(dict.fromkeys(addr for addr, _ in await self.resolve(loop, host, 0)))

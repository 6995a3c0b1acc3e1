"""The one ``HOST:PORT`` reader behind ``nl668-emu --tcp``/``--rfc2217``, ``nl668-lab check HOST[:PORT]``
and the fleet's target (Locust's ``--host``), so the same text means the same endpoint everywhere.

Accepted: ``host:port``, ``[v6]:port``; ``host`` or ``[v6]`` alone where the caller has a default port;
``:port`` or ``port`` alone where the caller has a default host.

An IPv6 address needs its brackets, also where the port may be left out: ``::1`` is refused with a message
that says ``[::1]``. Chosen: reading an unbracketed address as host-only would make ``::1:8443`` mean the
address ``::1:8443`` (a valid one) on port 443, where its writer most likely meant ``[::1]:8443``; a wrong
guess there dials the wrong endpoint silently, a refusal costs two characters. RFC 3986's authority and
curl write IPv6 hosts in brackets for the same reason.
"""

from __future__ import annotations

__all__ = ["format_host_port", "parse_host_port"]


def parse_host_port(
    text: str,
    *,
    default_host: str | None = None,
    default_port: int | None = None,
    allow_port_zero: bool = False,
) -> tuple[str, int]:
    """``text`` as ``(host, port)``; the host without brackets.

    Args:
        text: the endpoint as written (surrounding blanks ignored).
        default_host: the host of ``:port`` and of a bare ``port``; None: a host must be given.
        default_port: the port of a bare ``host`` / ``[v6]``; None: a port must be given.
        allow_port_zero: port 0 is allowed (a listener's "any free port").

    Raises:
        ValueError: the text is none of the accepted forms; the message quotes it and says what is wrong.
    """
    raw = text
    text = text.strip()
    lowest = 0 if allow_port_zero else 1
    if text.startswith("["):
        close = text.find("]")
        host, rest = text[1:close], text[close + 1:]
        if close < 0 or not host or "[" in host:
            raise ValueError(f"an IPv6 address is written [ADDRESS] or [ADDRESS]:PORT, not {raw!r}")
        if rest and not rest.startswith(":"):
            raise ValueError(f"only :PORT may follow [{host}], not {raw!r}")
        port_text: str | None = rest[1:] if rest else None
    elif text.count(":") > 1:
        raise ValueError(f"an IPv6 address needs brackets: [ADDRESS] or [ADDRESS]:PORT (e.g. [::1]:443), not {raw!r}")
    elif ":" in text:
        host, _, port_text = text.partition(":")
    elif default_host is not None and _digits(text):
        host, port_text = "", text
    else:
        host, port_text = text, None
    if "[" in host or "]" in host:
        raise ValueError(f"stray bracket in {raw!r}")
    if not host:
        if default_host is None:
            raise ValueError(f"no host in {raw!r}")
        host = default_host
    if port_text is None:
        if default_port is None:
            raise ValueError(f"no port in {raw!r}: HOST:PORT")
        return host, default_port
    if not _digits(port_text):
        raise ValueError(f"bad port in {raw!r}")
    port = int(port_text)
    if not lowest <= port <= 65535:
        raise ValueError(f"port out of range ({lowest}-65535) in {raw!r}")
    return host, port


def _digits(text: str) -> bool:
    # int() also takes "+80", " 80", "8_0" and non-ASCII digits, none of which is a port as written
    return text.isascii() and text.isdigit()


def format_host_port(host: str, port: int) -> str:
    """``(host, port)`` written back as :func:`parse_host_port` reads it: an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

"""``parse_host_port``: the one HOST:PORT rule, and the three readers built on it."""

from __future__ import annotations

import re

import pytest

from emulator.fleet.scenarios import parse_target
from emulator.hostport import parse_host_port
from emulator.transports.tcp import parse_endpoint

LISTEN = {"default_host": "127.0.0.1", "allow_port_zero": True}  # as --tcp / --rfc2217
DIAL = {"default_port": 443}  # as nl668-lab check and the fleet's target


@pytest.mark.parametrize(("text", "kw", "want"), [
    ("example.test:8443", {}, ("example.test", 8443)),
    ("127.0.0.1:1", {}, ("127.0.0.1", 1)),
    ("[::1]:8443", {}, ("::1", 8443)),
    ("[2001:db8::1]:65535", {}, ("2001:db8::1", 65535)),
    ("  example.test:80 ", {}, ("example.test", 80)),
    ("example.test", DIAL, ("example.test", 443)),
    ("[::1]", DIAL, ("::1", 443)),
    ("8443", DIAL, ("8443", 443)),  # no default host: a bare number is a name, as before
    ("0", LISTEN, ("127.0.0.1", 0)),
    (":0", LISTEN, ("127.0.0.1", 0)),
    ("4000", LISTEN, ("127.0.0.1", 4000)),
    ("0.0.0.0:4000", LISTEN, ("0.0.0.0", 4000)),
    ("[::]:0", LISTEN, ("::", 0)),
])
def test_accepted(text: str, kw: dict[str, object], want: tuple[str, int]) -> None:
    assert parse_host_port(text, **kw) == want  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "kw", "message"), [
    ("::1", DIAL, "needs brackets"),
    ("::1", LISTEN, "needs brackets"),
    ("2001:db8::1:443", DIAL, "[::1]"),
    ("[::1", DIAL, "[ADDRESS]:PORT"),
    ("[]:443", DIAL, "[ADDRESS]:PORT"),
    ("[::1]443", DIAL, "only :PORT"),
    ("example.test]:443", DIAL, "stray bracket"),
    ("example.test", {}, "no port"),
    ("[::1]", {}, "no port"),
    ("localhost", LISTEN, "no port"),
    (":443", DIAL, "no host"),
    ("", DIAL, "no host"),
    ("example.test:", DIAL, "bad port"),
    ("example.test:x", DIAL, "bad port"),
    ("example.test:+80", DIAL, "bad port"),
    ("example.test:8_0", DIAL, "bad port"),
    ("example.test:0", DIAL, "out of range"),
    ("example.test:65536", LISTEN, "out of range"),
])
def test_refused(text: str, kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_host_port(text, **kw)  # type: ignore[arg-type]
    assert repr(text) in str(caught.value)  # the message quotes what was written


def test_the_listeners_and_the_fleet_target_read_alike() -> None:
    assert parse_endpoint("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError, match="needs brackets"):
        parse_endpoint("::1")  # was host ":" port 1
    assert parse_target("tls://[::1]:8883") == ("::1", 8883)
    assert parse_target("SSL://Broker.Example.TEST:8883/") == ("broker.example.test", 8883)
    assert parse_target("[::1]") == ("::1", 443)
    for bad in ("tls://::1", "tls://h:8883/path", "tls://h:0", "http://h"):
        with pytest.raises(ValueError):
            parse_target(bad)

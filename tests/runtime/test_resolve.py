"""``--resolve`` rules and the resolver: overrides first, IP literals as is, then real (non-blocking) DNS."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from emulator.cli import _parser
from emulator.runtime.resolve import Resolver, ResolveRule, parse_resolve

T = TypeVar("T")


class TestParse:
    @pytest.mark.parametrize(
        ("spec", "rule"),
        [
            ("www.baidu.com:443=127.0.0.1:4433", ResolveRule("www.baidu.com", 443, "127.0.0.1", 4433)),
            ("www.baidu.com=127.0.0.1", ResolveRule("www.baidu.com", None, "127.0.0.1", None)),
            ("WWW.Example.Test.:80=10.0.0.1", ResolveRule("www.example.test", 80, "10.0.0.1", None)),
            ("114.255.225.39:20444=127.0.0.1:5000", ResolveRule("114.255.225.39", 20444, "127.0.0.1", 5000)),
            ("my_host=127.0.0.2:1", ResolveRule("my_host", None, "127.0.0.2", 1)),
            ("a.test:65535=10.0.0.1:65535", ResolveRule("a.test", 65535, "10.0.0.1", 65535)),
            # emulator/hostport.py's forms: brackets around a host, blanks around each side
            ("[a.test]:80=10.0.0.1", ResolveRule("a.test", 80, "10.0.0.1", None)),
            ("a.test=[10.0.0.1]:8080", ResolveRule("a.test", None, "10.0.0.1", 8080)),
            (" a.test:80 = 10.0.0.1 ", ResolveRule("a.test", 80, "10.0.0.1", None)),
        ],
    )
    def test_good(self, spec: str, rule: ResolveRule) -> None:
        assert parse_resolve(spec) == rule

    def test_str_round_trips(self) -> None:
        for spec in ("www.baidu.com:443=127.0.0.1:4433", "a.b=1.2.3.4", "a.b:1=1.2.3.4", "a.b=1.2.3.4:9"):
            assert str(parse_resolve(spec)) == spec

    @pytest.mark.parametrize(
        "spec",
        [
            "",
            "www.baidu.com",
            "=127.0.0.1",
            "www.baidu.com=",
            "www.baidu.com=localhost",  # ADDR must be an address
            "www.baidu.com=127.0.0.1:0",
            "www.baidu.com=127.0.0.1:65536",
            "www.baidu.com=127.0.0.1:",
            "www.baidu.com:x=127.0.0.1",
            "www baidu.com=127.0.0.1",
            "1.2.3=127.0.0.1",
            "www.baidu.com=::1",
            "[::1]:443=127.0.0.1",
            "-bad.example=127.0.0.1",
            ":443=127.0.0.1",  # no host
            "www.baidu.com:0=127.0.0.1",
            "www.baidu.com:=127.0.0.1",
            "www.baidu.com:+443=127.0.0.1",  # int() takes these; a port as written is ASCII digits only
            "www.baidu.com:4_43=127.0.0.1",
            "www.baidu.com=127.0.0.1:\u0664\u0664\u0663",  # Arabic-Indic 443: str.isdigit() says yes
            "www.baidu.com:443:1=127.0.0.1",
            "www.baidu.com]:443=127.0.0.1",
            "[www.baidu.com=127.0.0.1",
            "[a.test]x=127.0.0.1",
        ],
    )
    def test_bad_specs_name_themselves(self, spec: str) -> None:
        with pytest.raises(ValueError, match="bad --resolve") as info:
            parse_resolve(spec)
        assert repr(spec) in str(info.value)

    @pytest.mark.parametrize(
        "spec",
        ["::1=127.0.0.1", "[::1]=127.0.0.1", "[::1]:443=127.0.0.1", "a.test=::1", "a.test=[::1]", "a.test=[::1]:443"],
    )
    def test_ipv6_is_refused_as_ipv6(self, spec: str) -> None:
        # brackets or not, the answer is the module's IPv4-only, not "add brackets"
        with pytest.raises(ValueError, match="IPv6 is not supported") as info:
            parse_resolve(spec)
        assert repr(spec) in str(info.value)


class TestLookup:
    def test_port_rules_beat_any_port_rules_and_the_first_wins(self) -> None:
        resolver = Resolver.from_specs(
            ["www.baidu.com=10.0.0.1", "www.baidu.com:443=10.0.0.2:4433", "www.baidu.com:443=10.0.0.3", "x=10.0.0.9"]
        )
        assert resolver.lookup("www.baidu.com", 443) == ("10.0.0.2", 4433)
        assert resolver.lookup("WWW.BAIDU.COM.", 80) == ("10.0.0.1", 80)  # case, trailing dot; port kept
        assert resolver.lookup("www.baidu.cn", 443) is None

    def test_ip_literal_hosts_can_be_redirected(self) -> None:
        resolver = Resolver.from_specs(["188.93.19.231:5555=127.0.0.1:6000"])
        assert resolver.lookup("188.93.19.231", 5555) == ("127.0.0.1", 6000)
        assert resolver.lookup("188.93.19.231", 5556) is None


class TestResolve:
    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(asyncio.wait_for(coro, 10))

    def test_rule_then_literal_then_dns(self) -> None:
        resolver = Resolver.from_specs(["www.baidu.com:443=127.0.0.1:4433"])

        async def main() -> tuple[list[tuple[str, int]], ...]:
            loop = asyncio.get_running_loop()
            return (
                await resolver.resolve(loop, "www.baidu.com", 443),
                await resolver.resolve(loop, "10.1.2.3", 7),
                await resolver.resolve(loop, "localhost", 80),
                await resolver.resolve(loop, "no-such-host.invalid", 80),
                await resolver.resolve(loop, "", 80),
            )

        rule, literal, dns, missing, empty = self.run(main())
        assert rule == [("127.0.0.1", 4433)]
        assert literal == [("10.1.2.3", 7)]
        assert ("127.0.0.1", 80) in dns and len(dns) == len(set(dns))
        assert missing == [] and empty == []

    def test_resolve_name_uses_every_rule_of_the_host(self) -> None:
        resolver = Resolver.from_specs(
            ["a.test:443=10.0.0.2", "a.test=10.0.0.1", "a.test:80=10.0.0.1", "b.test:1=10.0.0.5"]
        )

        async def main() -> tuple[tuple[str, ...], ...]:
            loop = asyncio.get_running_loop()
            return (
                await resolver.resolve_name(loop, "A.test"),
                await resolver.resolve_name(loop, "b.test"),
                await resolver.resolve_name(loop, "10.9.8.7"),
                await resolver.resolve_name(loop, "localhost"),
                await resolver.resolve_name(loop, "no-such-host.invalid"),
            )

        a, b, literal, local, missing = self.run(main())
        assert a == ("10.0.0.1", "10.0.0.2")  # any-port rules first, then port rules; no duplicates
        assert b == ("10.0.0.5",)
        assert literal == ("10.9.8.7",)
        assert "127.0.0.1" in local
        assert missing == ()


class TestCommandLine:
    def test_resolve_is_repeatable(self) -> None:
        args = _parser().parse_args(["--resolve", "www.baidu.com:443=127.0.0.1:4433", "--resolve", "a.test=10.0.0.1"])
        assert args.resolve == [parse_resolve("www.baidu.com:443=127.0.0.1:4433"), parse_resolve("a.test=10.0.0.1")]

    def test_a_bad_rule_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as info:
            _parser().parse_args(["--resolve", "www.baidu.com=localhost"])
        assert info.value.code == 2
        assert "'www.baidu.com=localhost'" in capsys.readouterr().err

"""The network side of +MPING and +MIPNTP against real sockets on 127.0.0.1: the SNTP client and the local
SNTP server, the echo probe (ICMP datagram socket where the system allows it, else a TCP connect), --resolve."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
from collections.abc import Coroutine
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulator.runtime.probes import EchoResult, ProbeMethod, checksum, echo_request, icmp_available, ping_once
from emulator.runtime.resolve import Resolver
from emulator.runtime.sntp import SntpError, SntpPacket, decode, encode, from_ntp, query_time, to_ntp
from emulator.servers.sntp_server import SntpServer, SntpSettings
from emulator.servers.tls_servers import TcpServer

pytestmark = pytest.mark.integration
T = TypeVar("T")
SERVED = datetime(2019, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def ask(resolver: Resolver, host: str, port: int, timeout_s: float = 2.0) -> datetime:
    return await query_time(asyncio.get_running_loop(), resolver, host, port, timeout_s)


async def echo(resolver: Resolver, host: str, *, seq: int = 1, size: int = 32, ttl: int = 64,
               timeout_s: float = 2.0) -> EchoResult:
    return await ping_once(asyncio.get_running_loop(), resolver, host, seq=seq, size=size, ttl=ttl, tos=0,
                           timeout_s=timeout_s)


class TestSntpWire:
    @pytest.mark.parametrize("instant", [SERVED, datetime(2040, 2, 29, 1, 2, 3, 500000, tzinfo=timezone.utc)])
    def test_timestamps_round_trip_in_both_eras(self, instant: datetime) -> None:
        unix = instant.timestamp()
        assert from_ntp(to_ntp(unix)) == pytest.approx(unix, abs=1e-6)
        if instant.year > 2036:  # RFC 4330 §3: era 1 has the top bit clear
            assert not to_ntp(unix) >> 63

    def test_packet_layout(self) -> None:
        data = encode(SntpPacket(leap=0, version=4, mode=3, stratum=0, transmit=SERVED.timestamp()))
        assert len(data) == 48 and data[0] == 0x23  # LI 0, VN 4, mode 3 (RFC 4330 §4)
        back = decode(data)
        assert (back.version, back.mode, back.transmit) == (4, 3, SERVED.timestamp())
        with pytest.raises(SntpError):
            decode(data[:47])


class TestSntpQuery:
    def test_answer_and_resolve_rule_with_port(self) -> None:
        with SntpServer(SERVED) as server:
            resolver = Resolver.from_specs([f"pool.ntp.org:123=127.0.0.1:{server.port}"])
            got = run(ask(resolver, "pool.ntp.org", 123))
            assert server.requests == 1
        assert abs(got - SERVED) < timedelta(seconds=1)  # the served time, running on since start

    def test_a_frozen_time_comes_back_to_the_microsecond_order(self) -> None:
        with SntpServer(settings=SntpSettings(time=SERVED, frozen=True)) as server:
            got = run(ask(Resolver(), "127.0.0.1", server.port))
        assert abs(got - SERVED) < timedelta(milliseconds=50)  # the offset maths is symmetric

    @pytest.mark.parametrize(("behaviour", "why"), [
        ("silent", "no valid answer"), ("unsynchronised", "no valid answer"),
        ("wrong-originate", "no valid answer"), ("kiss", "kiss-o'-death"),
    ])
    def test_answers_that_must_not_be_believed(self, behaviour: str, why: str) -> None:
        with SntpServer(settings=SntpSettings(time=SERVED, behaviour=behaviour)) as server:  # type: ignore[arg-type]
            with pytest.raises(SntpError, match=why):
                run(ask(Resolver(), "127.0.0.1", server.port, timeout_s=0.3))
            assert server.requests == 1

    def test_nobody_listening_fails_fast(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with pytest.raises(SntpError, match="refused"):
            run(ask(Resolver(), "127.0.0.1", port, timeout_s=5))  # ICMP port unreachable, not the 5 s

    def test_unresolvable(self) -> None:
        with pytest.raises(SntpError, match="no address"):
            run(ask(Resolver(), "no-such-host.invalid", 123))


def _in_ping_group() -> bool:
    low, high = map(int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    return any(low <= gid <= high for gid in {os.getgid(), *os.getgroups()})


class TestEcho:
    def test_icmp_availability_follows_ping_group_range(self) -> None:
        assert icmp_available() == _in_ping_group()

    def test_echo_request_checksum(self) -> None:
        packet = echo_request(7, 32)
        assert len(packet) == 40 and packet[0] == 8 and struct.unpack("!H", packet[6:8]) == (7,)
        assert checksum(packet) == 0  # a packet with its checksum in sums to zero (RFC 1071)

    def test_reply_through_a_resolve_rule(self) -> None:
        with TcpServer() as server:
            resolver = Resolver.from_specs([f"www.baidu.com=127.0.0.1:{server.port}"])
            result = run(echo(resolver, "www.baidu.com"))
            if result.method is ProbeMethod.TCP:
                server.wait_accepted(1)  # the probe really reached the rule's address and port
        assert (result.address, result.icmp_type) == ("127.0.0.1", 0)
        assert result.rtt_ms is not None and result.rtt_ms >= 1
        assert result.method is (ProbeMethod.ICMP if icmp_available() else ProbeMethod.TCP)

    def test_a_redirected_literal_is_reported_as_typed(self) -> None:
        resolver = Resolver.from_specs(["114.255.225.39=127.0.0.1"])
        result = run(echo(resolver, "114.255.225.39", seq=2, size=0, ttl=255))
        assert (result.address, result.icmp_type) == ("114.255.225.39", 0)  # 127.0.0.1 answered (RST or echo)

    def test_no_answer_within_the_timeout(self) -> None:
        result = run(echo(Resolver(), "127.0.0.1", seq=3, timeout_s=0))
        assert (result.address, result.icmp_type, result.rtt_ms) == ("127.0.0.1", None, None)

    def test_unresolvable(self) -> None:
        result = run(echo(Resolver(), "no-such-host.invalid", seq=4, timeout_s=1))
        assert result.address is None


ICMP_CHILD = textwrap.dedent("""
    import asyncio
    from emulator.runtime.probes import ProbeMethod, icmp_available, ping_once
    from emulator.runtime.resolve import Resolver

    async def main():
        loop = asyncio.get_running_loop()
        assert icmp_available()
        reply = await ping_once(loop, Resolver(), "127.0.0.1", seq=9, size=1372, ttl=64, tos=0, timeout_s=2)
        assert (reply.method, reply.icmp_type, reply.address) == (ProbeMethod.ICMP, 0, "127.0.0.1"), reply
        unreachable = await ping_once(loop, Resolver(), "10.1.2.3", seq=10, size=32, ttl=64, tos=0, timeout_s=1)
        assert (unreachable.icmp_type, unreachable.icmp_code) == (3, 0), unreachable  # no route in the namespace
        print("icmp ok")

    asyncio.run(main())
""")


@pytest.mark.skipif(os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("ip")),
                    reason="needs root, unshare and ip for a private network namespace")
def test_icmp_path_in_a_private_network_namespace() -> None:
    """The ICMP datagram-socket path, even where this host's ping_group_range refuses it: in a network
    namespace of its own (loopback only) the child admits its group, without touching the host's setting."""
    script = 'ip link set lo up && echo "0 0" > /proc/sys/net/ipv4/ping_group_range && exec "$0" -c "$1"'
    done = subprocess.run(["unshare", "--net", "sh", "-c", script, sys.executable, ICMP_CHILD],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    if done.returncode and "Operation not permitted" in done.stderr:
        pytest.skip(f"no network namespace here: {done.stderr.strip()}")
    assert done.returncode == 0 and done.stdout.strip() == "icmp ok", done.stderr

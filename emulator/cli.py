"""``python -m emulator``: serve one module on a PTY until SIGINT or SIGTERM.

Argument parsing and wiring only: one asyncio loop, one scheduler, one
driver, one PTY, and the module's sockets (``--resolve`` rewrites where
they go). Exit codes: 0 after a signal, 2 for a usage or profile
error, 1 when the PTY or its link cannot be set up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import datetime, timezone

from .core.commands import COMMAND_TABLE
from .core.errors import ProfileError
from .core.module import Module
from .core.profile import Profile
from .profiles import DEFAULT_PROFILE, list_profiles, load_profile
from .runtime.clocks import SystemClock
from .runtime.driver import AsyncioScheduler, ModuleDriver
from .runtime.links import PeerLinks
from .runtime.resolve import Resolver, ResolveRule, parse_resolve
from .trace import TraceWriter
from .transports.pty import PtyTransport

logger = logging.getLogger(__name__)


def _utc(text: str) -> datetime:
    """An ISO-8601 time; a value without an offset is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _resolve_rule(text: str) -> ResolveRule:
    try:
        return parse_resolve(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Emulate a Fibocom NL668/M910 module (SSL AT firmware) on a pseudo-terminal.",
    )
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"product variant (default {DEFAULT_PROFILE})")
    parser.add_argument("--pty", metavar="PATH", help="create a symlink to the device here (e.g. /tmp/ttyNL668)")
    parser.add_argument("--list-profiles", action="store_true", help="print the known profiles and exit")
    parser.add_argument(
        "--list-commands", action="store_true", help="print the firmware's command table as Markdown and exit"
    )
    parser.add_argument(
        "--clock", type=_utc, metavar="ISO8601", help="module clock at power-on (naive = UTC; default: now)"
    )
    parser.add_argument("--trace", metavar="FILE", help="write a JSON-lines trace of the serial line")
    parser.add_argument(
        "--resolve",
        type=_resolve_rule,
        action="append",
        default=[],
        metavar="HOST[:PORT]=ADDR[:PORT]",
        help="send the module's sockets for HOST (on PORT, or any port) to ADDR (on PORT, or the same port),"
        " as curl --resolve; repeatable (e.g. www.baidu.com:443=127.0.0.1:4433)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the emulator; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.list_profiles:
        for name in list_profiles():
            print(name)
        return 0
    if args.list_commands:
        print(COMMAND_TABLE.render_markdown(), end="")
        return 0
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    initial_clock = args.clock or datetime.now(timezone.utc)
    try:
        return asyncio.run(
            _serve(profile, initial_clock, link_path=args.pty, trace_path=args.trace, resolver=Resolver(args.resolve))
        )
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def _serve(
    profile: Profile, initial_clock: datetime, *, link_path: str | None, trace_path: str | None, resolver: Resolver
) -> int:
    loop = asyncio.get_running_loop()
    clock = SystemClock()
    trace = TraceWriter(trace_path) if trace_path else None
    try:
        scheduler = AsyncioScheduler(loop, clock)
        module = Module(profile, clock, trace_input=trace is not None, initial_clock=initial_clock)
        transport = PtyTransport(loop, link_path=link_path)
        try:
            driver = ModuleDriver(
                module, write=transport.write, scheduler=scheduler, trace=trace, name=transport.device_path
            )
            links = PeerLinks(loop, resolver, driver.deliver, name=transport.device_path)
            driver.links = links
            transport.flow = links.hold
            stop = asyncio.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            transport.start(driver.feed)
            driver.start()
            line = f"NL668 emulator ({profile.name}) on {transport.device_path}"
            if link_path:
                line += f" -> {link_path}"
            print(line, flush=True)
            await stop.wait()
            logger.info("signal received, shutting down")
            driver.close()  # aborts the module's sockets too
            scheduler.close()
            await links.wait_closed()
        finally:
            transport.close()
    finally:
        if trace is not None:
            trace.close()
    return 0

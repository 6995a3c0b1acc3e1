"""``python -m emulator``: serve modules on PTYs (or TCP, RFC 2217) until SIGINT or SIGTERM.

Argument parsing and wiring only: one asyncio loop, one scheduler, and per
module (``--modules N``) one station (driver, line, sockets; ``--resolve``
rewrites where they go), plus the ``--control`` console. ``nl668-emu replay
FILE`` is the trace replayer (:mod:`emulator.replay`), ``nl668-emu trace-view TRACE`` draws a trace as an
HTML sequence diagram (:mod:`emulator.traceview`), ``nl668-emu run [OPTIONS] -- HOST...``
runs a host program with working DTR/RTS on the PTY (:mod:`emulator.modemctl.wrapper`). Exit codes: 0 after a
signal, 2 for a usage or profile error, 1 when a line or listener cannot be
set up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from . import __version__
from .console import DTR_DROP_CHOICES, Console, ControlServer, DtrDrop, dtr_drop_action
from .core.commands import COMMAND_TABLE
from .core.errors import ProfileError
from .core.identity import profile_for_unit
from .core.profile import Profile
from .data import MissingDataError
from .isotime import utc_argument
from .modemctl.build import BuildError
from .modemctl.lines import HOST_ENV_PREFIX, ModemLines
from .profiles import DEFAULT_PROFILE, list_profiles, load_profile
from .runtime.clocks import SystemClock
from .runtime.driver import AsyncioScheduler
from .runtime.port_file import write_port_file
from .runtime.resolve import Resolver, ResolveRule, parse_resolve
from .runtime.station import Station, Timing, build_station
from .stdout import emit
from .trace import TraceWriter
from .transports.pty import PtyTransport
from .transports.rfc2217 import Rfc2217Transport
from .transports.tcp import TcpTransport, parse_endpoint

logger = logging.getLogger(__name__)


def _resolve_rule(text: str) -> ResolveRule:
    try:
        return parse_resolve(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _endpoint(text: str) -> tuple[str, int]:
    try:
        return parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nl668-emu",
        description="Emulate a Fibocom NL668/M910/L610 module (SSL AT firmware) on a pseudo-terminal.",
        epilog="subcommands (each has its own --help): "
        "nl668-emu run [OPTIONS] -- HOST-COMMAND... (a host program with DTR/RTS on the PTY); "
        "nl668-emu replay FILE [--live] (replay a trace or log, diff the module's side); "
        "nl668-emu trace-view TRACE [-o FILE] [--open] (a trace as a sequence diagram in HTML)",
    )
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"product variant (default {DEFAULT_PROFILE})")
    parser.add_argument("--pty", metavar="PATH", help="create a symlink to the device here (e.g. /tmp/ttyNL668)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--list-profiles", action="store_true", help="print the known profiles and exit")
    parser.add_argument(
        "--list-commands", action="store_true", help="print the firmware's command table as Markdown and exit"
    )
    parser.add_argument(
        "--clock", type=utc_argument, metavar="ISO8601", help="module clock at power-on (naive = UTC; default: now)"
    )
    parser.add_argument(
        "--trace", metavar="FILE",
        help="write a JSON-lines trace of the serial line (with --modules N: FILE-0.jsonl ... one per module)",
    )
    parser.add_argument(
        "--resolve",
        type=_resolve_rule,
        action="append",
        default=[],
        metavar="HOST[:PORT]=ADDR[:PORT]",
        help="send the module's sockets for HOST (on PORT, or any port) to ADDR (on PORT, or the same port),"
        " as curl --resolve; repeatable (e.g. www.baidu.com:443=127.0.0.1:4433)",
    )
    front = parser.add_mutually_exclusive_group()
    front.add_argument(
        "--tcp", type=_endpoint, metavar="HOST:PORT",
        help="serve the line on raw TCP (pyserial socket://HOST:PORT) instead of a PTY; one connection at a"
        " time, a second is refused; HOST defaults to 127.0.0.1, PORT 0 picks a free port",
    )
    front.add_argument(
        "--rfc2217", type=_endpoint, metavar="HOST:PORT",
        help="serve the line as an RFC 2217 server (pyserial rfc2217://HOST:PORT) instead of a PTY",
    )
    parser.add_argument(
        "--dtr-drop", choices=DTR_DROP_CHOICES, default="ignore",
        help="what a host dropping DTR does, on RFC 2217 or a PTY with the modem-control library (default ignore)",
    )
    parser.add_argument(
        "--print-host-env", action="store_true",
        help="after each PTY's banner line, print the variables (LD_PRELOAD=...) that give a host started"
        " elsewhere working DTR/RTS ioctls; nl668-emu run -- HOST does it for you",
    )
    parser.add_argument(
        "--port-file", metavar="FILE",
        help="write the listening ports there, one a line (each module's, then --control's), once listening",
    )
    parser.add_argument(
        "--modules", type=_positive, default=1, metavar="N",
        help="serve N modules, each on its own PTY (--pty PATH gets PATH0..PATHN-1) or port (PORT+i, or free ports)",
    )
    parser.add_argument(
        "--workers", type=int, nargs="?", const=0, metavar="K",
        help="spread the modules over K processes, one event loop each (no K: one per core); the console,"
        " --port-file and the banner cover them all (see emulator/runtime/workers.py)",
    )
    parser.add_argument(
        "--control", type=_endpoint, metavar="HOST:PORT",
        help="the console line protocol (power-cycle, clock, signal, pdp-drop, ...; see emulator/console.py)",
    )
    parser.add_argument(
        "--baud", type=_positive, metavar="RATE",
        help="pace the serial line at a UART's rate (8N1: RATE/10 bytes a second, both ways); default: full speed",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS", help="delay every answer of the module by this much"
    )
    parser.add_argument(
        "--rtt", type=float, default=0.0, metavar="SECONDS", help="network round trip added to every socket event"
    )
    parser.add_argument(
        "--keylog", metavar="FILE",
        help="append every TLS session's secrets to FILE (NSS key log format, for Wireshark); default $SSLKEYLOGFILE",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the emulator (or ``replay FILE``); returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["replay"]:
        from .replay import main as replay_main

        return replay_main(argv[1:])
    if argv[:1] == ["trace-view"]:
        from .traceview.cli import main as trace_view_main

        return trace_view_main(argv[1:])
    if argv[:1] == ["run"]:
        from .modemctl.wrapper import main as run_main

        return run_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.pty and (args.tcp or args.rfc2217):
        parser.error("--pty makes a PTY; --tcp and --rfc2217 serve the line on a socket instead")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.keylog:
        from .tls import keylog

        try:
            keylog.configure(args.keylog)  # secrets to that file only, never to logs or traces
        except OSError as exc:
            print(f"error: --keylog {args.keylog}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.list_profiles:
        try:
            names = list_profiles()
        except ProfileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0 if emit("\n".join(names)) else 1
    if args.list_commands:
        return 0 if emit(COMMAND_TABLE.render_markdown(), end="") else 1
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    initial_clock = args.clock or datetime.now(timezone.utc)
    if args.workers is not None:
        if args.workers < 0:
            parser.error("--workers K needs K >= 1 (or no K: one per core)")
        from .runtime.workers import serve_workers

        return serve_workers(_serve, profile, initial_clock, args, Resolver(args.resolve))
    try:
        return asyncio.run(_serve(profile, initial_clock, args, Resolver(args.resolve)))
    except (MissingDataError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _transport(loop: asyncio.AbstractEventLoop, args: argparse.Namespace, index: int) -> Any:
    """Module ``index``'s line: a PTY, or a listener on PORT+index (free ports when PORT is 0)."""
    for kind, endpoint in ((TcpTransport, args.tcp), (Rfc2217Transport, args.rfc2217)):
        if endpoint is not None:
            host, port = endpoint
            return kind(loop, host, port + index if port else 0)
    link = args.pty if args.modules == 1 or args.pty is None else f"{args.pty}{index}"
    return PtyTransport(loop, link_path=link)


def _trace_writer(args: argparse.Namespace, index: int) -> TraceWriter | None:
    """One trace per module: a replay plays one serial line."""
    if not args.trace:
        return None
    if args.modules == 1:
        return TraceWriter(args.trace)
    path = Path(args.trace)
    return TraceWriter(path.with_name(f"{path.stem}-{index}{path.suffix}"))


def _fixed(station: Station) -> Callable[[], Station]:
    return lambda: station


async def _serve(
    profile: Profile, initial_clock: datetime, args: argparse.Namespace, resolver: Resolver, *,
    indexes: range | None = None, ready: Callable[[list[str], list[int]], None] | None = None,
) -> int:
    """Serve modules ``indexes`` (default all); ``ready(banners, ports)`` replaces the port file and banner
    (a ``--workers`` worker reports to its parent instead)."""
    loop = asyncio.get_running_loop()
    clock = SystemClock()
    traces: list[TraceWriter] = []
    scheduler = AsyncioScheduler(loop, clock)
    stations: list[Station] = []
    banners: list[str] = []
    control: ControlServer | None = None
    modem_lines: list[ModemLines] = []
    try:
        for index in range(args.modules) if indexes is None else indexes:
            transport = _transport(loop, args, index)
            name = transport.device_path
            trace = _trace_writer(args, index)
            if trace is not None:
                traces.append(trace)
            try:
                station = build_station(  # module i's own IMEI, IMSI and ICCID (i = 0: the profile's)
                    loop, scheduler, profile_for_unit(profile, index), transport, clock=clock, resolver=resolver,
                    name=name, initial_clock=initial_clock, trace=trace,
                    timing=Timing(baud=args.baud, latency=args.latency, rtt=args.rtt),
                )
            except BaseException:
                transport.close()
                raise
            stations.append(station)
            if isinstance(transport, Rfc2217Transport):
                transport.on_dtr_drop = dtr_drop_action(station, cast(DtrDrop, args.dtr_drop))
            line = f"NL668 emulator ({profile.name}) on {name}"
            if isinstance(transport, PtyTransport) and transport.link_path is not None:
                line += f" -> {transport.link_path}"
            banners.append(line)
            if isinstance(transport, PtyTransport):  # DTR/RTS for hosts under the preload library
                modem_lines.append(ModemLines(loop, transport, dtr_drop_action(station, cast(DtrDrop, args.dtr_drop))))
                if args.print_host_env:
                    banners.append(HOST_ENV_PREFIX + modem_lines[-1].host_env_line())
        ports = [s.transport.address[1] for s in stations if isinstance(s.transport, TcpTransport)]
        if args.control is not None:
            control = ControlServer([Console(_fixed(station)) for station in stations], *args.control)
            await control.start()
            ports.append(control.address[1])
            banners.append(f"NL668 control on {control.address[0]}:{control.address[1]}")
        if ready is not None:
            ready(banners, ports)
        else:
            if args.port_file:
                write_port_file(args.port_file, ports)
            # Once everything listens and the port file is there: a script may read the banner as "ready".
            emit("\n".join(banners))  # a reader gone after the banner changes nothing: serve on
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        logger.info("signal received, shutting down")
    finally:
        if control is not None:
            await control.close()
        for lines in modem_lines:
            lines.close()
        for station in stations:
            station.close()  # the line, the timers, and the module's sockets
        scheduler.close()
        for station in stations:
            await station.links.wait_closed()
            if isinstance(station.transport, TcpTransport):
                await station.transport.wait_closed()
        for trace in traces:
            trace.close()
    return 0

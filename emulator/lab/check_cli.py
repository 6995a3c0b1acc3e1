"""``nl668-lab check HOST[:PORT]``: the command line of :mod:`emulator.lab.check` (options, table, JSON, exit).

Exit status: 0 when each variant connects with at least one of the settings tried
(``--require-all``: with every one of them), 1 when not, 2 on usage errors or when the
server cannot be reached at all (nothing got past TCP).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from ..core.errors import ProfileError
from ..hostport import format_host_port, parse_host_port
from ..isotime import utc_argument
from ..profiles import list_profiles, load_profile
from ..runtime.resolve import Resolver, parse_resolve
from ..stdout import emit
from ..tls import keylog
from ..trace import TraceWriter
from .advice import Advice, advise, load_pool
from .check import VERSION_NAMES, Cell, CheckConfig, CheckError, Report, run_check

__all__ = ["check_main", "render"]


def _target(text: str) -> tuple[str, int]:
    try:
        return parse_host_port(text, default_port=443)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cipher(text: str) -> int | None:
    if text == "default":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a cipher id or 'default', not {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nl668-lab check",
        description="Run the module's own TLS handshake against a server for every variant and setting, "
        "and say which settings connect and what would fix the others.",
    )
    p.add_argument("target", type=_target, metavar="HOST[:PORT]", help="the server (port 443 by default)")
    p.add_argument("--profile", action="append", metavar="NAME", help="variant to check (repeatable; default: all)")
    p.add_argument("--trust", action="append", default=[], metavar="FILE",
                   help="a TRUSTFILE (repeatable; a bundle file counts as one file holding several certificates)")
    p.add_argument("--cert", metavar="FILE", help="CERTFILE (the module's client certificate)")
    p.add_argument("--key", metavar="FILE", help="KEYFILE")
    p.add_argument("--clock", type=utc_argument, metavar="ISO", help="the module clock (default: now)")
    p.add_argument("--servername", metavar="NAME", help="the host the module dials, when HOST is an address")
    p.add_argument("--resolve", action="append", default=[], metavar="HOST[:PORT]=ADDR[:PORT]",
                   help="as curl --resolve and nl668-emu --resolve (repeatable)")
    p.add_argument("--ver", action="append", type=int, metavar="N", help="only this +GTSSLVER (repeatable)")
    p.add_argument("--cipher", action="append", type=_cipher, metavar="ID|default",
                   help="only this cipher id, or the variant's default set (repeatable)")
    p.add_argument("--mode", action="append", type=int, choices=(0, 1), help="only this +GTSSLMODE")
    p.add_argument("--require-all", action="store_true",
                   help="exit 0 only if every setting tried connects, for every variant")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="per handshake (default 10 s)")
    p.add_argument("--parallel", type=int, default=32, metavar="N", help="handshakes at once (default 32)")
    p.add_argument("--write-trust", metavar="FILE", help="write the TRUSTFILE the advice found (PEM)")
    p.add_argument("--ca-pool", action="append", default=[], metavar="FILE",
                   help="PEM certificates to look a missing issuer up in (besides the system bundle)")
    p.add_argument("--no-system-ca", action="store_true", help="do not look missing issuers up in the system bundle")
    p.add_argument("--keylog", metavar="FILE", help="append the TLS secrets (NSS key log format) to FILE")
    p.add_argument("--trace", metavar="FILE",
                   help="write each handshake's steps as a trace (one socket per handshake; keys and certificate "
                   "bodies left out): view it with nl668-emu trace-view FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return p


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CheckError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _config(args: argparse.Namespace) -> CheckConfig:
    names = args.profile or list_profiles()
    profiles = [load_profile(n) for n in names]
    if (args.cert is None) != (args.key is None):
        raise CheckError("--cert and --key go together (CERTFILE and KEYFILE)")
    host, port = args.target
    return CheckConfig(
        host=host, port=port, profiles=profiles,
        trust_pems=tuple(_read(p, "TRUSTFILE") for p in args.trust),
        cert_pem=_read(args.cert, "CERTFILE") if args.cert else None,
        key_pem=_read(args.key, "KEYFILE") if args.key else None,
        clock=args.clock, servername=args.servername,
        resolver=Resolver([parse_resolve(r) for r in args.resolve]),
        timeout=args.timeout, parallel=args.parallel,
        versions=args.ver, ciphers=args.cipher, modes=args.mode,
    )


# --- the table ---------------------------------------------------------------------------------------------


def _cell_text(cells: list[Cell]) -> str:
    """The default set's result, then the single ids that connect: ``1 [2,3,4]``, ``0/70 []``."""
    default = next((c for c in cells if c.setting.cipher is None), None)
    ok = [str(c.setting.cipher) for c in cells if c.setting.cipher is not None and c.opened]
    head = default.short() if default is not None else "-"
    return f"{head} [{','.join(ok)}]"


def render(report: Report, advice: list[Advice]) -> str:
    """The table a person reads at a glance, then the reasons and the advice."""
    cfg = report.config
    where = format_host_port(*report.address) if report.address else "no address"
    out = [
        f"nl668-lab check {format_host_port(cfg.host, cfg.port)} ({where}); dialled as '{cfg.dial_name}'; module clock "
        f"{report.module_time:%Y-%m-%d %H:%M:%S} UTC; TRUSTFILEs {len(cfg.trust_pems)}; "
        f"CERTFILE {'yes' if cfg.cert_pem else 'no'}",
        f"{report.handshakes} distinct handshakes in {report.seconds:.1f} s. Cell: +MIPOPEN result with the "
        "variant's default ciphers (0/N: +GTSSLERR N), then [the single cipher ids that connect].",
        "",
    ]
    versions = sorted({c.setting.version for c in report.cells})
    # Variants whose every row reads the same share one group of rows.
    groups: dict[tuple[tuple[str, ...], ...], list[str]] = {}
    for variant in report.variants():
        cells = report.of(variant)
        rows = []
        for mode in sorted({c.setting.mode for c in cells}):
            texts = []
            for v in versions:
                these = [c for c in cells if c.setting.mode == mode and c.setting.version == v]
                texts.append(_cell_text(these) if these else "n/a")
            rows.append((str(mode), *texts))
        groups.setdefault(tuple(rows), []).append(variant)
    grouped = {" ".join(variants): list(rows) for rows, variants in groups.items()}
    head = ["variants", "mode", *[f"{v}={VERSION_NAMES.get(v, v)}" for v in versions]]
    table = [head] + [[name, *key] for name, keys in grouped.items() for key in keys]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    widths[0] = min(widths[0], 48)
    for r in table:
        name = r[0] if len(r[0]) <= widths[0] else r[0][: widths[0] - 3] + "..."
        out.append("  ".join([name.ljust(widths[0]), *(x.ljust(w) for x, w in zip(r[1:], widths[1:]))]).rstrip())
    if report.skipped:
        out.append(f"not checked (the settings asked for are refused: ERROR): {', '.join(report.skipped)}")
    out += ["", "reasons:"]
    reasons: dict[str, list[Cell]] = {}
    for c in report.cells:
        if not c.opened:
            reasons.setdefault(f"+GTSSLERR {c.gtsslerr}: {c.attempt.why}", []).append(c)
    for text, cells in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
        first = cells[0]
        out.append(f"  {text}  [{len(cells)} cells, e.g. {first.variant} {first.setting}; {first.attempt.engine}]")
    if not reasons:
        out.append("  every cell connects")
    out += ["", "advice:"]
    for a in advice:
        out.append(f"  {', '.join(a.variants)}: {a.verdict}")
        out += [f"    {line}" for line in a.lines]
        if a.at_lines:
            out.append("    AT: " + "; ".join(a.at_lines))
    return "\n".join(out)


async def _run(args: argparse.Namespace, trace: TraceWriter | None) -> tuple[Report, list[Advice]]:
    config = _config(args)
    config.trace = trace
    pool = load_pool(args.ca_pool, system=not args.no_system_ca)  # a bad --ca-pool stops before any handshake
    report = await run_check(config)
    return report, await advise(report, pool)


def check_main(argv: list[str]) -> int:
    """``nl668-lab check ...``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    trace: TraceWriter | None = None
    try:
        if args.keylog:
            keylog.configure(args.keylog)
        if args.trace:
            trace = TraceWriter(args.trace)
        report, advice = asyncio.run(_run(args, trace))
    except (CheckError, ProfileError, ValueError, OSError) as exc:
        print(f"nl668-lab check: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keylog:
            keylog.configure(None)  # called in-process (tests, tools): later sessions are not logged there
        if trace is not None:
            trace.close()
    written = ""
    if args.write_trust:
        pem = next((a.trust_pem for a in advice if a.trust_pem), None)
        if pem is None:
            written = "no TRUSTFILE to write: the advice found none"
        else:
            try:
                Path(args.write_trust).write_bytes(pem)
            except OSError as exc:
                print(f"nl668-lab check: error: cannot write --write-trust {args.write_trust}: {exc.strerror or exc}",
                      file=sys.stderr)
                return 2
            written = f'wrote {args.write_trust} ({len(pem)} bytes): AT+GTSSLFILE="TRUSTFILE",{len(pem)}'
    status = report.exit_status(require_all=args.require_all)
    if args.json:
        emit(json.dumps({
            "host": report.config.host, "port": report.config.port, "servername": report.config.dial_name,
            "address": list(report.address) if report.address else None,
            "module_time": report.module_time.isoformat(), "handshakes": report.handshakes,
            "cells": [c.as_json() for c in report.cells], "advice": [a.as_json() for a in advice],
            "refused_settings": report.skipped,
            "write_trust": written or None, "exit": status,
        }))
    else:
        emit(render(report, advice) + (f"\n\n{written}" if written else ""))
    return status

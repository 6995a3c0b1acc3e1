"""``nl668-lab``: serve the field-failure lab on 127.0.0.1 until SIGINT/SIGTERM.

``nl668-lab [--scenario NAME]... [--list] [--json]``
``nl668-lab check HOST[:PORT] [--profile NAME]... [--trust FILE]... ...`` (see ``nl668-lab check --help``)

* no option: start every endpoint, print the table (scenario, address, what a
  module sees per variant and ``+GTSSLMODE``), serve until a signal;
* ``--scenario NAME`` (repeatable): only those;
* ``--list``: print the scenarios and what a module sees, start nothing;
* ``--json``: print the running endpoints as one JSON list (``scenario``,
  ``host``, ``port``, ``description``) on one line, then serve: for scripts.

To point an emulated module at an endpoint:
``nl668-emu --resolve www.example.test:PORT=127.0.0.1:PORT`` and
``AT+MIPOPEN=1,,"www.example.test",PORT,2`` (the table's assumptions are in
:mod:`emulator.lab.scenarios`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from .. import __version__
from ..data import MissingDataError
from ..servers.pki import MissingPkiFile, pki_path
from ..stdout import emit
from .scenarios import HOST, SCENARIOS, VARIANTS, Outcome, Scenario, by_name

__all__ = ["main", "markdown", "table"]


def _sees(scenario: Scenario) -> str:
    cells = []
    for variant in VARIANTS:
        modes = [f"mode {m}: {scenario.outcome(variant, m).text()}" for m in (0, 1)]
        cells.append(f"{variant} [" + "; ".join(modes) + "]")
    return "  ".join(cells)


def table(scenarios: Sequence[Scenario], ports: dict[str, int] | None = None) -> str:
    """The lab's printout: one line per scenario (with its address when running)."""
    width = max(len(s.name) for s in scenarios)
    lines = []
    for s in scenarios:
        address = f"127.0.0.1:{ports[s.name]:<5}" if ports else ""
        setup = f" after {';'.join(s.setup)}" if s.setup else ""
        lines.append(f"{s.name:<{width}}  {address}  {s.description}{setup}\n{'':<{width}}  {_sees(s)}")
    return "\n".join(lines)


def _cell(outcome: Outcome) -> str:
    if outcome.opened is None:
        return "setup ERROR"
    if outcome.opened:
        return "1"
    return "0, no code" if outcome.code is None else f"0, **{outcome.code}**"


def markdown(scenarios: Sequence[Scenario] = SCENARIOS) -> str:
    """The table as Markdown, for docs/LAB.md (a test keeps the page equal to this)."""
    head = ["scenario", "server", "module setup"] + [f"{v} mode {m}" for v in VARIANTS for m in (0, 1)] + ["why"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in scenarios:
        cells = [f"`{s.name}`", s.description, "; ".join(f"`{c}`" for c in s.setup) or "-"]
        cells += [_cell(s.outcome(v, m)) for v in VARIANTS for m in (0, 1)]
        cells.append(s.why or "-")
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def _pki_problem(exc: BaseException) -> str:
    """One line: which file, what went wrong, what to do (a MissingPkiFile's reason already says what to do)."""
    if isinstance(exc, OSError) and exc.filename:
        advice = ("" if isinstance(exc, MissingPkiFile)
                  else "; reinstall nl668-emulator, or in a checkout run `make certs`")
        return f"cannot read the test PKI file {exc.filename} ({exc.strerror}){advice}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        # ``nl668-lab check HOST[:PORT] ...``: the module's handshake against any server (emulator.lab.check)
        from .check_cli import check_main

        return check_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="nl668-lab", description=__doc__.split("\n\n")[0],
        epilog="subcommand: nl668-lab check HOST[:PORT] [options] (will a module connect to this server, "
        "for every variant and setting, and if not why and what fixes it; see nl668-lab check --help)",
    )
    parser.add_argument("--scenario", action="append", metavar="NAME", help="run only this scenario (repeatable)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--json", action="store_true", help="print the running endpoints as JSON, then serve")
    args = parser.parse_args(argv)
    try:
        chosen = tuple(by_name(n) for n in args.scenario) if args.scenario else SCENARIOS
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    if args.list:
        return 0 if emit(table(chosen)) else 1

    try:
        # the servers read the test PKI (shipped with the package): a missing or unreadable file is
        # one line naming it, never a traceback
        from .server import Lab

        lab = Lab(s.name for s in chosen).start()
    except (MissingDataError, OSError) as exc:
        print(f"nl668-lab: error: {_pki_problem(exc)}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        # A reader gone after the banner changes nothing: the lab serves on.
        if args.json:
            emit(json.dumps([e.as_json() for e in lab.endpoints]))
        else:
            # The module side's trust file is the installed package's copy (no certs/ beside a wheel's user).
            trust = pki_path("root-ca.pem")
            emit(table(chosen, {e.scenario.name: e.port for e in lab.endpoints})
                 + f"\n\nmodule side: --resolve {HOST}:PORT=127.0.0.1:PORT, TRUSTFILE {trust}; Ctrl-C stops the lab")
        stop.wait()
    finally:
        lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

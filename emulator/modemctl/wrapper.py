"""``nl668-emu run [emulator options] -- HOST-COMMAND [ARGS...]``: a host program with working DTR/RTS.

Why a wrapper: real host programs set DTR and RTS right after opening the port, which fails on a
PTY (ENOTTY). The wrapper starts the emulator (``python -m emulator OPTIONS --print-host-env``: every
usual option works, and the emulator is the same code as ``nl668-emu``), puts the modem-control
library in front of the host program (``LD_PRELOAD``, after any preload already set) with the
variables it needs, exports ``NL668_DEVICE`` (the ``--pty`` link, else ``/dev/pts/N``), runs the host
and stops the emulator when the host exits.

Exit status: the host's (128+N when a signal N killed it); 127 when the command is not found, 126
when it cannot be run; 2 for a usage error or no C compiler, and the emulator's own status when it
cannot start (2: bad option or profile, 1: the PTY cannot be made). The emulator runs in its own
session, so Ctrl-C reaches the host (it may clean up over the line) and not the emulator; SIGTERM
and SIGHUP to the wrapper are passed on to the host; the emulator dies with the wrapper.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import sys
from types import FrameType

from ..runtime.lifetime import die_with_parent
from .build import BuildError, library_path
from .lines import HOST_ENV_PREFIX, merge_env

USAGE = "usage: nl668-emu run [EMULATOR OPTIONS] -- HOST-COMMAND [ARGS...]"
#: options that serve no PTY, or more than one, or that the wrapper sets itself
REFUSED = ("--tcp", "--rfc2217", "--modules", "--print-host-env", "--list-profiles", "--list-commands")
STOP_TIMEOUT = 10.0


def _fail(message: str, status: int = 2) -> int:
    print(f"nl668-emu run: {message}", file=sys.stderr)
    return status


def _start_emulator(options: list[str]) -> tuple[subprocess.Popen[bytes], dict[str, str]] | int:
    """The running emulator and the variables it printed, or the exit status when it did not start."""
    emulator = subprocess.Popen(
        [sys.executable, "-m", "emulator", *options, "--print-host-env"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True, preexec_fn=die_with_parent,
    )
    assert emulator.stdout is not None
    fd = emulator.stdout.fileno()
    # The banner is one write once everything listens (module line, our variables, --control's line):
    # read it whole, unbuffered, so the rest of the pipe stays for communicate() at the end.
    banner = b""
    while not any(line.startswith(HOST_ENV_PREFIX.encode()) for line in banner.splitlines()[: banner.count(b"\n")]):
        chunk = os.read(fd, 65536)
        if not chunk:
            status = emulator.wait()  # it said why on stderr (inherited)
            return status or 1
        banner += chunk
    while select.select([fd], [], [], 0)[0] and (chunk := os.read(fd, 65536)):
        banner += chunk
    host_vars: dict[str, str] = {}
    for line in banner.decode(errors="replace").splitlines():
        if line.startswith(HOST_ENV_PREFIX):
            host_vars = dict(word.split("=", 1) for word in shlex.split(line[len(HOST_ENV_PREFIX):]))
        else:
            print(line, file=sys.stderr, flush=True)  # which device (and control port), for the user
    return emulator, host_vars


def _stop(emulator: subprocess.Popen[bytes]) -> None:
    if emulator.poll() is None:
        emulator.terminate()
    try:
        emulator.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        emulator.kill()
        emulator.communicate()


def _run_host(command: list[str], env: dict[str, str]) -> int:
    try:
        host = subprocess.Popen(command, env=env)
    except FileNotFoundError:
        return _fail(f"{command[0]}: command not found", 127)
    except PermissionError:
        return _fail(f"{command[0]}: permission denied", 126)

    def forward(signum: int, _frame: FrameType | None) -> None:
        if host.poll() is None:
            host.send_signal(signum)

    # Ctrl-C goes to the whole foreground group, the host included: the wrapper waits for it to finish.
    previous = {sig: signal.signal(sig, handler) for sig, handler in (
        (signal.SIGINT, signal.SIG_IGN), (signal.SIGTERM, forward), (signal.SIGHUP, forward),
    )}
    try:
        status = host.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status


def main(argv: list[str]) -> int:
    """Run ``argv`` (what follows ``run``); returns the exit status (the host's)."""
    if "--" not in argv:
        if argv and argv[0] in ("-h", "--help"):
            print(f"{USAGE}\n\nEMULATOR OPTIONS are nl668-emu's (see nl668-emu --help) for one PTY module.")
            return 0
        return _fail(f"the host command follows --\n{USAGE}")
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    if not command:
        return _fail(f"no host command after --\n{USAGE}")
    # argparse takes unambiguous prefixes (--rfc for --rfc2217): refuse those too
    refused = [o for o in options if o.startswith("--") and any(r.startswith(o.split("=", 1)[0]) for r in REFUSED)]
    if refused:
        return _fail(f"{refused[0]} cannot be used with run (it serves one module on a PTY)")
    try:
        library_path()  # before starting anything: the one-line reason, and the build happens once
    except BuildError as exc:
        return _fail(f"error: {exc}")
    started = _start_emulator(options)
    if isinstance(started, int):
        return started
    emulator, host_vars = started
    try:
        return _run_host(command, merge_env(os.environ, host_vars))
    finally:
        _stop(emulator)

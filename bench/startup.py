"""Start-up: ``python -m emulator`` spawned to the PTY answering ``AT`` with ``OK``.

Timed from the spawn to the ``OK`` read on the device the process printed (so
"ready" means ready to serve, not only "the path exists"). Baseline: a bare
``python -c pass`` in the same run (the interpreter's own start-up), and the
imports alone. Target: < 0.5 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import common  # noqa: I001
from common import RawHost, median, now, python_startup, record, report

ROUNDS = 7


def start_once() -> float:
    t0 = now()
    proc = subprocess.Popen([sys.executable, "-m", "emulator"], stdout=subprocess.PIPE, text=True,
                            cwd=common.EMULATOR_ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        path = line.rsplit(" on ", 1)[1].split()[0]
        host = RawHost(path)
        host.command(b"AT", timeout=5)
        elapsed = now() - t0
        host.close()
        return elapsed
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def imports_only() -> float:
    t0 = now()
    subprocess.run([sys.executable, "-c", "import emulator.cli"], check=True, cwd=common.EMULATOR_ROOT)
    return now() - t0


def main() -> None:
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "0")
    start_once()  # bytecode caches
    emu = median(start_once() for _ in range(ROUNDS))
    bare = median(python_startup() for _ in range(ROUNDS))
    imports = median(imports_only() for _ in range(ROUNDS))
    figures = {"startup_s": emu, "python_bare_s": bare, "imports_s": imports, "ratio_to_bare": emu / bare}
    report("Start-up", [
        ("spawn -> AT answered OK", f"{emu * 1e3:.0f} ms", f"python -c pass {bare * 1e3:.0f} ms;"
         f" import emulator.cli {imports * 1e3:.0f} ms",
         f"{emu / bare:.1f}x of bare python; target < 500 ms: {'met' if emu < 0.5 else 'MISSED'}"),
    ])
    record("startup", figures)


if __name__ == "__main__":
    main()

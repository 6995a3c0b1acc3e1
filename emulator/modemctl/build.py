"""Build the modem-control preload library with the system C compiler, once per source version.

Why at run time: an installed wheel has no ``make``, and the library must match the machine's C
library, so it is compiled where it runs. ``make install`` calls :func:`library_path` to do it
ahead of time (``python -m emulator.modemctl.build``). The result is cached in
``$XDG_CACHE_HOME/nl668-emulator/`` (default ``~/.cache/nl668-emulator/``) under a name keyed by
the source's hash and the machine, so an upgraded source is rebuilt and an unchanged one never is.
Builds are written to a temporary name and renamed into place, so concurrent first uses (pytest-xdist,
several wrappers) never load a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("nl668_modemctl.c")


class BuildError(RuntimeError):
    """The library cannot be built (no C compiler, or it failed); the message is one line."""


def cache_dir() -> Path:
    """Where built libraries are kept: ``$XDG_CACHE_HOME/nl668-emulator`` or ``~/.cache/nl668-emulator``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nl668-emulator"


def _compiler() -> list[str]:
    """``$CC`` (it may carry arguments, e.g. ``ccache gcc``) or ``cc``, resolved on ``$PATH``."""
    words = shlex.split(os.environ.get("CC") or "cc")
    found = shutil.which(words[0]) if words else None
    if found is None:
        name = words[0] if words else "$CC"
        raise BuildError(
            f"no C compiler ({name!r} not found): the modem-control library (DTR/RTS on the PTY) is built"
            " once with the system compiler; install one (Debian: apt-get install gcc) or set CC"
        )
    return [found, *words[1:]]


def library_path() -> Path:
    """The built library, compiling it first if this source version was never built here.

    Raises:
        BuildError: no C compiler, or the compiler failed (the message says which, in one line).
    """
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + platform.machine().encode()).hexdigest()[:16]
    target = cache_dir() / f"nl668_modemctl-{key}.so"
    if target.is_file():
        return target
    compiler = _compiler()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".nl668_modemctl-", suffix=".so", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        done = subprocess.run(
            [*compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(tmp), str(SOURCE), "-ldl"],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            detail = " ".join((done.stderr or done.stdout).split())[:300]
            raise BuildError(f"building the modem-control library with {compiler[0]} failed: {detail}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def main() -> int:
    """``python -m emulator.modemctl.build``: build (if needed) and print the library's path."""
    try:
        print(library_path())
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A short bounded run of the atheris harness (fuzz/fuzz_at.py) as part of ``make test``.

Why in a subprocess: libFuzzer owns the process (it installs signal handlers, calls ``exit``), and the
instrumentation must not leak into the rest of the suite. The run is bounded by libFuzzer's own
``-max_total_time``; the subprocess timeout is only a backstop. ``make fuzz`` runs the long version.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HARNESS = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_at.py"
SECONDS = 12


def test_the_fuzz_harness_finds_nothing_in_a_short_run(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(HARNESS), f"-max_total_time={SECONDS}", f"-artifact_prefix={tmp_path}/",
         "-print_final_stats=1"],
        capture_output=True, text=True, timeout=SECONDS + 60, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Done" in proc.stderr  # libFuzzer ran to its time bound
    assert not list(tmp_path.glob("crash-*"))

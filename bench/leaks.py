"""10,000 TLS open/handshake/close cycles through the AT interface: fds, RSS and tracemalloc figures.

Too long for the test suite (about 15 ms a cycle: 2.5 minutes); tests/robustness/test_leaks.py runs a
bounded loop. Usage: ``python bench/leaks.py [CYCLES] [tcp]``. Exit status 1 if anything grew past the
bounds of the test.
"""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import record  # noqa: E402  (bench/common.py: merges into bench/results.json)
from tests.robustness.leak_cycles import run  # noqa: E402
from tests.robustness.test_leaks import FD_SLACK, rss_bound  # noqa: E402


def main() -> int:
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    tls = not (len(sys.argv) > 2 and sys.argv[2] == "tcp")
    tracemalloc.start()
    figures = run(cycles, tls=tls)
    traced, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    print(f"{'TLS' if tls else 'TCP'}: {figures}")
    print(f"tracemalloc: {traced / 2**20:.2f} MiB traced at the end, peak {peak / 2**20:.2f} MiB")
    for stat in snapshot.statistics("lineno")[:5]:
        print("  ", stat)
    grew = figures.fds_after > figures.fds_before + FD_SLACK or figures.rss_after > rss_bound(figures)
    record(f"leaks_{'tls' if tls else 'tcp'}", {
        "cycles": figures.cycles, "seconds": round(figures.seconds, 1), "ms_per_cycle": round(figures.per_cycle_ms, 2),
        "fds_before": figures.fds_before, "fds_after": figures.fds_after,
        "rss_mib_before": round(figures.rss_before / 2**20, 1), "rss_mib_after": round(figures.rss_after / 2**20, 1),
        "test_server_sessions": figures.server_sessions, "tracemalloc_mib_end": round(traced / 2**20, 2),
        "tracemalloc_mib_peak": round(peak / 2**20, 2), "within_bounds": not grew,
    })
    return 1 if grew else 0


if __name__ == "__main__":
    sys.exit(main())

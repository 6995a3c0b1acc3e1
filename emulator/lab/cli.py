"""``nl668-lab``: placeholder until the lab lands (issue 4)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("nl668-lab: not built yet", file=sys.stderr)
    return 2

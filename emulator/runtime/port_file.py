"""``--port-file``: every listener's port, one a line, in module order (then the console's)."""

from __future__ import annotations

import os
from pathlib import Path


def write_port_file(path: str, ports: list[int]) -> None:
    """Write it atomically, so a CI script polling for the file never reads half of it."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{port}\n" for port in ports))
    os.replace(tmp, target)

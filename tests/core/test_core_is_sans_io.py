"""The core does no I/O and keeps no time: it imports nothing that could."""

from __future__ import annotations

import ast
from pathlib import Path

import emulator.core

BANNED = {
    "socket", "select", "selectors", "ssl", "OpenSSL", "serial", "asyncio", "threading",
    "time", "os", "subprocess", "io", "pathlib", "signal", "pty", "tty", "termios", "logging.handlers",
}


def test_core_imports_no_io_module() -> None:
    root = Path(emulator.core.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name in BANNED or name.split(".")[0] in BANNED:
                    offenders.append(f"{path.relative_to(root)}: {name}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "now" and getattr(node.func.value, "id", "") == "datetime":
                    offenders.append(f"{path.relative_to(root)}: datetime.now()")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "open":
                offenders.append(f"{path.relative_to(root)}: open()")
    assert offenders == []

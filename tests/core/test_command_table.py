"""The command table documents the firmware: every command says where it comes from."""

from __future__ import annotations

import re

from emulator.core.at_syntax import Form
from emulator.core.commands import COMMAND_TABLE

SOURCE = re.compile(r"manual §\d|V\.250 §|27\.007 §|fibocom-tcpip\.md|chosen")


def test_every_command_cites_a_source() -> None:
    missing = [spec.name for spec in COMMAND_TABLE if not SOURCE.search(spec.source)]
    assert missing == []


def test_every_command_has_a_form_and_a_summary() -> None:
    for spec in COMMAND_TABLE:
        assert spec.forms, spec.name
        assert spec.summary.strip(), spec.name
        assert all(isinstance(f, Form) and fs.syntax for f, fs in spec.forms.items()), spec.name


def test_ssl_commands_cite_their_manual_section() -> None:
    sections = {"+GTSSLFILE": "§1.1", "+GTSSLMODE": "§1.2", "+GTSSLERR": "§1.3", "+GTSSLVER": "§1.4", "+GTSSLCIPHER": "§1.5"}
    for name, section in sections.items():
        spec = COMMAND_TABLE.lookup(name)
        assert spec is not None and f"manual {section}" in spec.source


def test_rendered_documentation_lists_every_command() -> None:
    text = COMMAND_TABLE.render_markdown()
    for spec in COMMAND_TABLE:
        assert f"## AT{spec.name} " in text


def test_docs_commands_md_is_current() -> None:
    """docs/COMMANDS.md is generated (`python -m emulator --list-commands > docs/COMMANDS.md`)."""
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "COMMANDS.md"
    assert doc.read_text() == COMMAND_TABLE.render_markdown()

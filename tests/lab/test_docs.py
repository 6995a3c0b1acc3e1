"""docs/LAB.md shows the scenario table exactly as the code has it (one source)."""

from __future__ import annotations

from pathlib import Path

from emulator.lab.cli import markdown

LAB_MD = Path(__file__).resolve().parents[2] / "docs" / "LAB.md"


def test_the_page_shows_the_tables_rows() -> None:
    text = LAB_MD.read_text(encoding="utf-8")
    generated = text.split("<!-- generated: emulator.lab.cli.markdown() -->\n", 1)[1].split("<!-- end generated -->")[0]
    assert generated == markdown(), "regenerate the table in docs/LAB.md from emulator.lab.cli.markdown()"

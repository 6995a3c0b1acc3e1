"""The trace view as one self-contained HTML file: the template with the model inlined as JSON.

No network fetch at view time: the CSS and the (vanilla) JavaScript are in the
template, the data in a ``<script type="application/json">`` element, and the
page's Content-Security-Policy forbids any other source. The JSON is escaped so
that no text of the trace (a host may type anything) can close that element.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from .model import model_from_file


def template() -> str:
    """The page template shipped with the package (``emulator/traceview/template.html``)."""
    return resources.files(__package__).joinpath("template.html").read_text(encoding="utf-8")


def _json(value: object) -> str:
    # "<" as \u003c: nothing inside the JSON can end the script element or open a comment.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")


def render_model(model: dict[str, Any]) -> str:
    """The HTML page for a model from :func:`~emulator.traceview.model.build_model`.

    Payloads go in a script element of their own, parsed on the first "show payload" only: they
    are most of a long trace's bytes, and the first render should not pay for them.
    """
    payloads: list[str] = []
    rows = []
    for row in model.get("rows", []):
        payload = row.get("payload")
        if isinstance(payload, dict) and "b64" in payload:
            row = {**row, "payload": {"size": payload["size"], "i": len(payloads)}}
            payloads.append(payload["b64"])
        rows.append(row)
    title = html.escape(str(model.get("title") or "trace"))
    page = template().replace("__TITLE__", title).replace("__PAYLOADS__", _json(payloads))
    return page.replace("__DATA__", _json({**model, "rows": rows}))


def render_trace(path: str | Path) -> str:
    """The HTML page for the trace file at ``path``."""
    return render_model(model_from_file(path))

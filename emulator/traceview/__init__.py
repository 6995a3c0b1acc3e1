"""The trace view (issue 14): a ``--trace`` file as a sequence diagram in one self-contained HTML page.

:mod:`.model` turns records into lifelines and rows, :mod:`.render` inlines them
in the page template, :mod:`.cli` is ``nl668-emu trace-view``.
"""

from .model import build_model, model_from_file
from .render import render_model, render_trace

__all__ = ["build_model", "model_from_file", "render_model", "render_trace"]

"""Debian's headless Chromium driven by playwright, for the trace-view tests, the benchmark and the README picture.

The browser is the system's ``/usr/bin/chromium`` (``make install`` installs it with apt);
playwright only drives it (``executable_path``), it never downloads one. Each launch gets a
fresh profile directory and the flags that keep Chromium off the network.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}


@dataclass
class Opened:
    """A trace-view page loaded in the browser, and what its console said."""

    page: Any
    errors: list[str] = field(default_factory=list)  #: console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  #: every URL the page asked for

    @property
    def render_ms(self) -> float:
        """From navigation start to the end of the page's first render (``data-render-ms``)."""
        return float(self.page.get_attribute("body", "data-render-ms"))


class Browser:
    """One Chromium for many pages (each in a new tab)."""

    def __init__(self, context: Any) -> None:
        self._context = context

    def open(self, html: Path) -> Opened:
        page = self._context.new_page()
        opened = Opened(page)
        page.on("console", lambda m: opened.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: opened.errors.append(f"page error: {e}"))
        page.on("request", lambda r: opened.requests.append(r.url))
        page.goto(html.resolve().as_uri())
        page.wait_for_selector("body[data-render-ms]", state="attached", timeout=30_000)
        return opened


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium with a fresh profile, closed (and its profile removed) on exit."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    from playwright.sync_api import sync_playwright  # test extra: imported only where a browser is wanted

    profile = tempfile.mkdtemp(prefix="trace-view-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS, viewport=VIEWPORT
            )
            try:
                yield Browser(context)
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)

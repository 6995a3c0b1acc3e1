"""Host side: how bytes reach a module (a PTY now; TCP and RFC 2217 later)."""

from __future__ import annotations

from .pty import PtyTransport

__all__ = ["PtyTransport"]

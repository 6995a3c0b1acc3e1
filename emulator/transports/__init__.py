"""Host side: how bytes reach a module: a PTY, raw TCP, RFC 2217, or in-process buffers (``nl668://``)."""

from __future__ import annotations

from .memory import MemoryLine
from .pty import PtyTransport
from .rfc2217 import Rfc2217Transport
from .tcp import TcpTransport

__all__ = ["MemoryLine", "PtyTransport", "Rfc2217Transport", "TcpTransport"]

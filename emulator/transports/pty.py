"""A pseudo-terminal the host opens like the module's USB serial port.

Theory of operation. ``os.openpty()`` gives a master and a slave. The host
opens the slave's device path (``/dev/pts/N``); the emulator reads and writes
the master on the asyncio loop with ``add_reader``/``add_writer``, so a
thousand PTYs need no thread.

Two details matter for a faithful line:

* the slave is put in raw mode, so the kernel neither echoes nor translates
  CR/LF: every echo the host sees is the module's own (``ATE``);
* the emulator keeps its own slave fd open for the transport's lifetime, so
  when the host closes the port the master does not start failing with
  ``EIO``, and the host can reopen it (as a real USB port survives a
  ``close()``/``open()`` cycle).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import tty
from collections.abc import Callable
from pathlib import Path

from .end_of_pass import end_of_pass

logger = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
#: Bytes kept for a host that is not reading. Beyond this the module "transmits into the void",
#: as a real UART without flow control does, rather than growing without bound.
MAX_PENDING = 1024 * 1024
#: Back-pressure: above HIGH_WATER buffered bytes the module stops reading its sockets
#: (``flow(True)``), below LOW_WATER it reads again; MAX_PENDING is only a last resort.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class PtyTransport:
    """A PTY pair serving one module.

    The pair is opened by the constructor (so :attr:`device_path` is known
    before anything runs); bytes start flowing in :meth:`start`. All methods
    must be called on the loop's thread.

    Args:
        loop: the loop that watches the master.
        link_path: if given, a symlink created there to the device (a stable
            name such as ``/tmp/ttyNL668``). An existing symlink is replaced;
            any other file there is refused with :class:`FileExistsError`.

    Raises:
        FileExistsError: ``link_path`` names something that is not a symlink.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, link_path: str | Path | None = None) -> None:
        self._loop = loop
        self._receiver: Callable[[bytes], None] | None = None
        self._pending = bytearray()
        self._closed = False
        self._blocked = False
        self._writer_armed = False
        self._queued = False  # a flush is deferred to the end of this loop pass
        #: told True when the host falls behind, False when it has caught up (PeerLinks.hold)
        self.flow: Callable[[bool], None] | None = None
        self.master_fd, self._slave_fd = os.openpty()
        try:
            tty.setraw(self._slave_fd)
            os.set_blocking(self.master_fd, False)
            self.device_path = os.ttyname(self._slave_fd)
            self.link_path = Path(link_path) if link_path is not None else None
            if self.link_path is not None:
                _place_symlink(self.link_path, self.device_path)
        except BaseException:
            os.close(self.master_fd)
            os.close(self._slave_fd)
            raise

    def __repr__(self) -> str:
        return f"<PtyTransport {self.device_path}>"

    def start(self, receiver: Callable[[bytes], None]) -> None:
        """Start delivering host bytes to ``receiver`` (a driver's ``feed``)."""
        if self._closed:
            raise RuntimeError("transport is closed")
        self._receiver = receiver
        self._loop.add_reader(self.master_fd, self._on_readable)

    def write(self, data: bytes) -> None:
        """Send bytes to the host; what the kernel cannot take now is buffered and sent when it can.

        The bytes go to the kernel at the end of the loop pass, with every other line's and socket's
        writes of the pass (:mod:`emulator.transports.end_of_pass`: writes made together share their
        readers' wake-ups), one ``write(2)`` per PTY. A host sees the same bytes in the same order.
        """
        if self._closed or not data:
            return
        self._buffer(data)
        if not self._queued and not self._writer_armed:
            self._queued = True
            end_of_pass(self._loop).defer(self.flush)

    def flush(self) -> None:
        """Write what is pending now; wait for the fd to be writable if the kernel did not take it all.

        Run at the end of the pass, or earlier by the station for the power-on URCs.
        """
        self._queued = False
        if self._closed or not self._pending or self._writer_armed:
            return
        self._on_writable()
        if self._pending and not self._writer_armed and not self._closed:
            self._writer_armed = True
            self._loop.add_writer(self.master_fd, self._on_writable)

    def close(self) -> None:
        """Stop watching the PTY, close it and remove the symlink. Idempotent.

        What this pass wrote still goes out first (as far as the kernel takes it without waiting).
        """
        if self._closed:
            return
        if self._pending and not self._writer_armed:
            self._on_writable()
        self._closed = True
        self._loop.remove_reader(self.master_fd)
        self._loop.remove_writer(self.master_fd)
        os.close(self.master_fd)
        os.close(self._slave_fd)
        if self.link_path is not None:
            _remove_symlink(self.link_path, self.device_path)

    def _buffer(self, data: bytes) -> None:
        room = MAX_PENDING - len(self._pending)
        if len(data) > room:
            logger.warning("%s: host is not reading; %d bytes dropped", self.device_path, len(data) - room)
            data = data[:room]
        self._pending += data
        if not self._blocked and len(self._pending) > HIGH_WATER:
            self._blocked = True
            if self.flow is not None:
                self.flow(True)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master_fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            # EIO means no slave is open; ours always is, so this would be a real fault.
            logger.warning("%s: read failed: %s", self.device_path, exc)
            if exc.errno == errno.EIO:
                self._loop.remove_reader(self.master_fd)
            return
        if data and self._receiver is not None:
            self._receiver(data)

    def _on_writable(self) -> None:
        try:
            sent = os.write(self.master_fd, self._pending)
        except BlockingIOError:
            return
        except OSError as exc:
            logger.warning("%s: write failed: %s", self.device_path, exc)
            sent = len(self._pending)
        del self._pending[:sent]
        if self._blocked and len(self._pending) < LOW_WATER:
            self._blocked = False
            if self.flow is not None:
                self.flow(False)
        if not self._pending and self._writer_armed:
            self._writer_armed = False
            self._loop.remove_writer(self.master_fd)


def _place_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target``, atomically replacing an older symlink but never a real file."""
    if link.exists() or link.is_symlink():
        if not link.is_symlink():
            raise FileExistsError(errno.EEXIST, "refusing to replace a file that is not a symlink", str(link))
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _remove_symlink(link: Path, target: str) -> None:
    """Remove ``link`` if it is still ours (another emulator may have taken the name since)."""
    try:
        if link.is_symlink() and os.readlink(link) == target:
            link.unlink()
    except OSError as exc:
        logger.warning("could not remove %s: %s", link, exc)

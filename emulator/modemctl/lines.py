"""The module's side of the PTY's modem-control lines, served to the preload library on a unix socket.

Why: a PTY has no DTR/RTS/CTS/DSR/CD, so the preload library (``nl668_modemctl.c``) answers a
host's ``TIOCM*`` ioctls on the emulator's PTY by asking this server. The lines live here, at the
edge, one :class:`ModemLines` per PTY: DTR and RTS are what the host last set (on at start; a
closing host does not lower them: no ``HUPCL`` emulation), and a DTR drop (on -> off) calls
``on_dtr_drop``, which the CLI and :class:`~emulator.runtime.running.RunningModule` wire to
``--dtr-drop`` exactly as the RFC 2217 front end does.

The lines the module drives read as on the RFC 2217 front end (chosen: a powered module's UART
with ``AT&C0``): CTS, DSR and CD on, RI off. The emulated module is always powered (a reset is a
deaf ``boot.reboot_s``, not seen on the lines), so ``TIOCMIWAIT`` waits until the emulator stops.

Protocol (one request a connection, one line each way, see the C source): ``GET 0``, ``SET <bits>``,
``BIS <bits>``, ``BIC <bits>`` answer the ``TIOCM_*`` bits; ``WAIT <mask>`` is held until close;
anything else answers ``ERR``. The socket sits in a private (0700) temporary directory, so only the
user running the emulator can toggle its lines. Loop thread only; no task outlives :meth:`close`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import socket
import tempfile
import termios
from collections.abc import Callable, Mapping

from ..transports.pty import PtyTransport
from .build import library_path

logger = logging.getLogger(__name__)

#: the variables the library reads (and NL668_DEVICE, for the host's convenience)
ENV_DEVICE = "NL668_MODEMCTL_DEVICE"
ENV_SOCKET = "NL668_MODEMCTL_SOCKET"
ENV_HOST_DEVICE = "NL668_DEVICE"
#: the line ``nl668-emu --print-host-env`` prints after each PTY's banner line
HOST_ENV_PREFIX = "NL668 host env: "
#: driven by the module: what a powered module's UART shows (RFC 2217's LineSettings says the same)
MODULE_DRIVEN = termios.TIOCM_CTS | termios.TIOCM_DSR | termios.TIOCM_CAR
MAX_REQUEST = 64


class ModemLines:
    """DTR/RTS as the host set them, and a socket the preload library asks (on ``loop``'s thread).

    Args:
        loop: the loop serving ``transport``.
        transport: the PTY whose lines these are.
        on_dtr_drop: called when the host drops DTR (``dtr_drop_action``); ``None`` ignores it.

    Raises:
        OSError: the socket cannot be made.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, transport: PtyTransport, on_dtr_drop: Callable[[], None] | None
    ) -> None:
        self._loop = loop
        self.device_path = transport.device_path
        self.link_path = transport.link_path
        self.on_dtr_drop = on_dtr_drop
        self.dtr = True
        self.rts = True
        self._waiting: set[socket.socket] = set()
        self._open: dict[socket.socket, bytearray] = {}
        self._closed = False
        self._dir = tempfile.mkdtemp(prefix="nl668-lines-")
        self.socket_path = os.path.join(self._dir, "lines.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.bind(self.socket_path)
            self._sock.listen(64)
            self._sock.setblocking(False)
        except BaseException:
            self._sock.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        loop.add_reader(self._sock.fileno(), self._accept)

    def __repr__(self) -> str:
        return f"<ModemLines {self.device_path} dtr={self.dtr} rts={self.rts}>"

    def bits(self) -> int:
        """Every line as ``TIOCMGET`` reports it."""
        return MODULE_DRIVEN | (termios.TIOCM_DTR if self.dtr else 0) | (termios.TIOCM_RTS if self.rts else 0)

    def set_lines(self, *, dtr: bool | None = None, rts: bool | None = None) -> None:
        """What the host's ioctl does (``None`` leaves a line as it is); a DTR drop runs ``on_dtr_drop``."""
        dropped = self.dtr and dtr is False
        if dtr is not None:
            self.dtr = dtr
        if rts is not None:
            self.rts = rts
        if dropped:
            logger.info("%s: DTR dropped", self.device_path)
            if self.on_dtr_drop is not None:
                self.on_dtr_drop()

    # --- what a host needs ------------------------------------------------------------------------

    def host_vars(self) -> dict[str, str]:
        """The variables that give a host program the library (``LD_PRELOAD`` holds only ours).

        Raises:
            BuildError: the library is not built and cannot be (no C compiler).
        """
        return {
            "LD_PRELOAD": str(library_path()),
            ENV_DEVICE: self.device_path,
            ENV_SOCKET: self.socket_path,
            ENV_HOST_DEVICE: str(self.link_path) if self.link_path is not None else self.device_path,
        }

    def host_env_line(self) -> str:
        """:meth:`host_vars` as shell words ``NAME=VALUE ...`` (what ``--print-host-env`` prints)."""
        return " ".join(f"{name}={shlex.quote(value)}" for name, value in self.host_vars().items())

    def close(self) -> None:
        """Stop serving (a waiting ``TIOCMIWAIT`` returns EIO) and remove the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for conn in list(self._open):
            self._drop(conn)
        shutil.rmtree(self._dir, ignore_errors=True)

    # --- the socket -------------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: the host's ioctl sees EIO, the emulator goes on
                logger.warning("%s: modem-lines socket: %s", self.device_path, exc)
                return
            conn.setblocking(False)
            self._open[conn] = bytearray()
            self._loop.add_reader(conn.fileno(), self._readable, conn)

    def _readable(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(MAX_REQUEST)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data or conn in self._waiting:  # the host went away (or wrote after WAIT): done
            self._drop(conn)
            return
        pending = self._open[conn]
        pending += data
        if b"\n" not in pending:
            if len(pending) >= MAX_REQUEST:
                self._answer(conn, b"ERR\n")
            return
        reply = self._request(bytes(pending.split(b"\n", 1)[0]))
        if reply is None:
            self._waiting.add(conn)
        else:
            self._answer(conn, reply)

    def _request(self, line: bytes) -> bytes | None:
        """The answer to one request line, or None to hold it (WAIT)."""
        words = line.split()
        try:
            op, value = words[0].decode("ascii"), int(words[1])
        except (IndexError, UnicodeDecodeError, ValueError):
            return b"ERR\n"
        dtr, rts = bool(value & termios.TIOCM_DTR), bool(value & termios.TIOCM_RTS)
        match op:
            case "GET":
                pass
            case "SET":
                self.set_lines(dtr=dtr, rts=rts)
            case "BIS":
                self.set_lines(dtr=True if dtr else None, rts=True if rts else None)
            case "BIC":
                self.set_lines(dtr=False if dtr else None, rts=False if rts else None)
            case "WAIT":
                return None  # the module-driven lines never change (see the module docstring)
            case _:
                return b"ERR\n"
        return b"%d\n" % self.bits()

    def _answer(self, conn: socket.socket, reply: bytes) -> None:
        try:
            conn.send(reply)  # a few bytes into an empty socket buffer: never partial
        except OSError:
            pass  # the host gave up (killed mid-ioctl): nothing to tell
        self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        self._open.pop(conn, None)
        self._waiting.discard(conn)
        if conn.fileno() >= 0:
            self._loop.remove_reader(conn.fileno())
        conn.close()


def merge_env(base: Mapping[str, str], host_vars: Mapping[str, str]) -> dict[str, str]:
    """``base`` with ``host_vars`` set, our library appended to any ``LD_PRELOAD`` already there."""
    env = dict(base)
    for name, value in host_vars.items():
        present = env.get(name, "")
        if name == "LD_PRELOAD" and present.strip():
            # ld.so splits on spaces and colons; the host's own preloads keep their place in front
            value = present if value in present.replace(":", " ").split() else f"{present}:{value}"
        env[name] = value
    return env


"""A module served on a real PTY (or TCP, RFC 2217, in-process buffers) by an asyncio loop on a thread.

For tests and tools that are synchronous (pyserial is): the loop thread plays
the role of ``python -m emulator`` in-process, and the caller talks to
:attr:`RunningModule.device_path` like to a real port. Everything the loop
owns is touched only on the loop thread, through :meth:`RunningModule.call`.

Exceptions raised by callbacks on the loop (a driver or core bug) are kept
and re-raised by :meth:`RunningModule.close`, so a test cannot pass while the
module crashed behind its back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import serial

from ..core.clock import Clock
from ..core.module import Module
from ..core.profile import Profile
from ..profiles import DEFAULT_PROFILE, load_profile
from ..console import Console, DtrDrop, dtr_drop_action
from .clocks import SystemClock
from .driver import AsyncioScheduler, ModuleDriver
from .links import PeerLinks
from .resolve import Resolver
from .station import Station, build_station
from ..trace import TraceWriter
from ..transports.memory import MemoryLine
from ..transports.rfc2217 import Rfc2217Transport
from ..transports.tcp import DEFAULT_HOST, TcpTransport

T = TypeVar("T")
#: the ``nl668://`` scheme's attach keys: in-process modules a URL may open a port on (``?attach=ID``),
#: e.g. the pytest plugin's, until they close. Kept here, not in the URL handler, so that this module
#: never imports the handler (the handler imports this one to power modules on).
_ATTACHABLE: dict[str, "RunningModule"] = {}
_ATTACH_KEYS = itertools.count(1)


def attached_module(key: str) -> "RunningModule | None":
    """The in-process module an ``nl668://...?attach=KEY`` URL names, or None once it closed."""
    return _ATTACHABLE.get(key)


if TYPE_CHECKING:
    # Imported only for a PTY front end (below): they need termios, which Windows lacks, where the
    # nl668:// handler's in-process modules (front_end="memory") must still run.
    from ..modemctl.lines import ModemLines
    from ..transports.pty import PtyTransport

    Transport = PtyTransport | TcpTransport | Rfc2217Transport | MemoryLine
FRONT_ENDS = ("pty", "tcp", "rfc2217", "memory")


class LoopError(RuntimeError):
    """A callback on the module's loop raised; the original is the ``__cause__``."""


class RunningModule:
    """One module on a PTY, served until :meth:`close` (or the end of a ``with`` block).

    Args:
        profile: a profile name (case-insensitive) or a :class:`Profile`.
        clock: the clock the module reads; :class:`SystemClock` by default.
        initial_clock: the module's ``+CCLK`` time at power-on (default: the clock's now).
        trace_path: if given, a JSON-lines trace of both directions is written there.
        link_path: if given, a symlink to the device is created there.
        strict: build the module in strict mode (handler bugs raise instead of answering ``ERROR``).
        timeout: how long :meth:`call` waits for the loop thread.
        resolve: ``--resolve`` rules ``HOST[:PORT]=ADDR[:PORT]`` for the module's sockets
            (e.g. ``"www.baidu.com:443=127.0.0.1:4433"`` to reach a local test server).
        front_end: how the host reaches the line: ``"pty"``, ``"tcp"`` (``socket://``),
            ``"rfc2217"`` or ``"memory"`` (:attr:`line`, for the ``nl668://`` URL handler).
        host, port: where a TCP or RFC 2217 front end listens (port 0: any free port).
        dtr_drop: what a host dropping DTR does (``ignore``, ``power-cycle``, ``pdp-drop``): over RFC 2217,
            or on the PTY under the modem-control library (:meth:`host_env`).

    Raises:
        ProfileError: the profile cannot be loaded.
        ValueError: a ``resolve`` rule is malformed.
        FileExistsError: ``link_path`` names a file that is not a symlink.
    """

    # Built on the loop thread; touch them only through call().
    module: Module
    scheduler: AsyncioScheduler
    transport: Transport
    driver: ModuleDriver
    links: PeerLinks
    station: Station
    _memory_url: str
    _attach_key: str | None = None  # a memory module's key in _ATTACHABLE
    #: a PTY's DTR/RTS as the preload library's hosts set them (None for the other front ends)
    modem_lines: ModemLines | None = None

    def __init__(
        self,
        profile: str | Profile = DEFAULT_PROFILE,
        *,
        clock: Clock | None = None,
        initial_clock: datetime | None = None,
        trace_path: str | Path | None = None,
        link_path: str | Path | None = None,
        strict: bool = False,
        timeout: float = 5.0,
        resolve: Sequence[str] = (),
        front_end: str = "pty",
        host: str = DEFAULT_HOST,
        port: int = 0,
        dtr_drop: DtrDrop = "ignore",
    ) -> None:
        if front_end not in FRONT_ENDS:
            raise ValueError(f"front_end must be one of {FRONT_ENDS}, not {front_end!r}")
        self.front_end = front_end
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.resolver = Resolver.from_specs(resolve)
        self.clock: Clock = clock or SystemClock()
        self.timeout = timeout
        self.errors: list[BaseException] = []
        self._trace = TraceWriter(trace_path) if trace_path is not None else None
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._on_loop_error)
        self._thread = threading.Thread(target=self._run_loop, name="nl668-loop", daemon=True)
        self._closed = False
        self._thread.start()
        try:
            self.call(self._build, initial_clock, link_path, strict, (host, port, dtr_drop))
        except BaseException:
            self._stop_loop()
            raise

    @property
    def device_path(self) -> str:
        """The PTY the host opens (``/dev/pts/N``); for the other front ends, :attr:`url`."""
        pty = self._pty()
        return pty.device_path if pty is not None else self.url

    @property
    def url(self) -> str:
        """What ``serial.serial_for_url`` opens: a device path, ``socket://``, ``rfc2217://``, ``nl668://...?attach=``."""
        pty = self._pty()
        if pty is not None:
            return pty.device_path
        if isinstance(self.transport, MemoryLine):
            return self._memory_url
        return cast("TcpTransport | Rfc2217Transport", self.transport).url

    @property
    def link_path(self) -> Path | None:
        """The symlink to the device, if one was asked for."""
        pty = self._pty()
        return pty.link_path if pty is not None else None

    @property
    def line(self) -> MemoryLine:
        """The in-process line of a ``front_end="memory"`` module."""
        if not isinstance(self.transport, MemoryLine):
            raise TypeError(f"a {self.front_end} module has no in-process line")
        return self.transport

    @property
    def console(self) -> Console:
        """The control API (power-cycle, clock, signal, PDP, sockets, URCs, certificates, why)."""
        return Console(lambda: self.station, self.call)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop thread and return its result (or raise its exception)."""
        if threading.get_ident() == self._thread.ident:
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:
                    future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(self.timeout)

    def host_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for a host subprocess (``subprocess.Popen(..., env=...)``) whose DTR/RTS/CTS/DSR/CD
        ioctls on this PTY work: ``base`` (default ``os.environ``) plus the modem-control preload library.

        Raises:
            TypeError: not the PTY front end (RFC 2217 carries the lines itself).
            BuildError: the library is not built yet and there is no C compiler to build it.
        """
        if self.modem_lines is None:
            raise TypeError(f"a {self.front_end} module has no PTY modem-control lines to serve")
        from ..modemctl.lines import merge_env

        # host_vars reads only what was fixed at construction (and builds the library): off the loop is fine
        return merge_env(os.environ if base is None else base, self.modem_lines.host_vars())

    def open_serial(self, *, timeout: float = 2.0, via_link: bool = False) -> serial.Serial:
        """Open the line with pyserial at 115200 baud, as a host would. Close it when done."""
        if isinstance(self.transport, MemoryLine):
            return serial.serial_for_url(self._memory_url, timeout=timeout)
        path = str(self.link_path) if via_link and self.link_path is not None else self.url
        return serial.serial_for_url(path, 115200, timeout=timeout)

    def close(self, *, raise_errors: bool = True) -> None:
        """Stop the module, close the PTY (removing the symlink) and the loop.

        Raises:
            LoopError: a callback on the loop raised while the module ran.
        """
        if self._closed:
            return
        self._closed = True
        if self._attach_key is not None:
            del _ATTACHABLE[self._attach_key]
        try:
            self.call(self._teardown)
            asyncio.run_coroutine_threadsafe(self._sockets_closed(), self.loop).result(self.timeout)
        finally:
            self._stop_loop()
        if raise_errors and self.errors:
            raise LoopError(f"{len(self.errors)} error(s) on the module's loop") from self.errors[0]

    def __enter__(self) -> RunningModule:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(raise_errors=exc is None)

    def _build(
        self, initial_clock: datetime | None, link_path: str | Path | None, strict: bool, where: tuple[str, int, DtrDrop]
    ) -> None:
        host, port, dtr_drop = where
        self.scheduler = AsyncioScheduler(self.loop, self.clock)
        self.transport = self._transport(link_path, host, port)
        try:
            self.station = build_station(
                self.loop, self.scheduler, self.profile, self.transport, clock=self.clock, resolver=self.resolver,
                name=self.front_end if isinstance(self.transport, MemoryLine) else self.url,
                initial_clock=initial_clock, trace=self._trace, strict=strict,
            )
        except BaseException:
            self.transport.close()
            raise
        self.module, self.driver, self.links = self.station.module, self.station.driver, self.station.links
        if isinstance(self.transport, Rfc2217Transport):
            self.transport.on_dtr_drop = dtr_drop_action(self.station, dtr_drop)
        pty = self._pty()
        if pty is not None:
            from ..modemctl.lines import ModemLines

            self.modem_lines = ModemLines(self.loop, pty, dtr_drop_action(self.station, dtr_drop))
        if isinstance(self.transport, MemoryLine):
            self._attach_key = str(next(_ATTACH_KEYS))
            _ATTACHABLE[self._attach_key] = self
            self._memory_url = f"nl668://{self.profile.name}?attach={self._attach_key}"

    def _transport(self, link_path: str | Path | None, host: str, port: int) -> Transport:
        match self.front_end:
            case "tcp":
                return TcpTransport(self.loop, host, port)
            case "rfc2217":
                return Rfc2217Transport(self.loop, host, port)
            case "memory":
                return MemoryLine(self.loop)
        from ..transports.pty import PtyTransport

        return PtyTransport(self.loop, link_path=link_path)

    def _pty(self) -> PtyTransport | None:
        """The PTY front end's transport, or None for the others."""
        return cast("PtyTransport", self.transport) if self.front_end == "pty" else None

    def _teardown(self) -> None:
        if self.modem_lines is not None:
            self.modem_lines.close()
        self.station.close()  # the line, the timers, the module's sockets
        self.scheduler.close()

    async def _sockets_closed(self) -> None:
        await self.links.wait_closed()
        if isinstance(self.transport, TcpTransport):
            await self.transport.wait_closed()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(self.timeout)
        if not self._thread.is_alive():
            self.loop.close()
        if self._trace is not None:
            self._trace.close()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        self.errors.append(exc if isinstance(exc, BaseException) else RuntimeError(context.get("message")))
        loop.default_exception_handler(context)

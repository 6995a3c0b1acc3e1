"""A module served on a real PTY by an asyncio loop on a background thread.

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
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import serial

from ..core.clock import Clock
from ..core.module import Module
from ..core.profile import Profile
from ..profiles import DEFAULT_PROFILE, load_profile
from ..runtime.clocks import SystemClock
from ..runtime.driver import AsyncioScheduler, ModuleDriver
from ..runtime.links import PeerLinks
from ..runtime.resolve import Resolver
from ..trace import TraceWriter
from ..transports.pty import PtyTransport

T = TypeVar("T")


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

    Raises:
        ProfileError: the profile cannot be loaded.
        ValueError: a ``resolve`` rule is malformed.
        FileExistsError: ``link_path`` names a file that is not a symlink.
    """

    # Built on the loop thread; touch them only through call().
    module: Module
    scheduler: AsyncioScheduler
    transport: PtyTransport
    driver: ModuleDriver
    links: PeerLinks

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
    ) -> None:
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
            self.call(self._build, initial_clock, link_path, strict)
        except BaseException:
            self._stop_loop()
            raise

    @property
    def device_path(self) -> str:
        """The PTY the host opens (``/dev/pts/N``)."""
        return self.transport.device_path

    @property
    def link_path(self) -> Path | None:
        """The symlink to the device, if one was asked for."""
        return self.transport.link_path

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

    def open_serial(self, *, timeout: float = 2.0, via_link: bool = False) -> serial.Serial:
        """Open the device with pyserial at 115200 baud, as a host would. Close it when done."""
        path = str(self.link_path) if via_link and self.link_path is not None else self.device_path
        return serial.Serial(path, 115200, timeout=timeout)

    def close(self, *, raise_errors: bool = True) -> None:
        """Stop the module, close the PTY (removing the symlink) and the loop.

        Raises:
            LoopError: a callback on the loop raised while the module ran.
        """
        if self._closed:
            return
        self._closed = True
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

    def _build(self, initial_clock: datetime | None, link_path: str | Path | None, strict: bool) -> None:
        extra = {} if initial_clock is None else {"initial_clock": initial_clock}
        self.module = Module(self.profile, self.clock, strict=strict, trace_input=self._trace is not None, **extra)
        self.scheduler = AsyncioScheduler(self.loop, self.clock)
        self.transport = PtyTransport(self.loop, link_path=link_path)
        self.driver = ModuleDriver(
            self.module,
            write=self.transport.write,
            scheduler=self.scheduler,
            trace=self._trace,
            name=self.transport.device_path,
        )
        self.links = PeerLinks(self.loop, self.resolver, self.driver.deliver, name=self.transport.device_path)
        self.driver.links = self.links
        self.transport.flow = self.links.hold
        self.transport.start(self.driver.feed)
        self.driver.start()

    def _teardown(self) -> None:
        self.transport.close()
        self.driver.close()  # aborts the module's sockets too
        self.scheduler.close()

    async def _sockets_closed(self) -> None:
        await self.links.wait_closed()

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

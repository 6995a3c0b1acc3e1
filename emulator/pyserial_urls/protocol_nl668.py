"""``nl668://PROFILE?clock=ISO8601&resolve=HOST:PORT=ADDR:PORT``: an emulated module as a pyserial port.

Why: a host's test suite on Windows, or in a container without ``/dev/pts``,
still gets the whole engine: no PTY, no socket. The port object hosts a
:class:`~emulator.runtime.running.RunningModule` with an in-process line (an
asyncio loop thread runs the module, its timers and its sockets); ``read`` and
``write`` go through thread-safe buffers with pyserial's timeout semantics
(``timeout=None`` blocks, ``0`` returns what is there, ``t`` waits up to ``t``
seconds for ``size`` bytes).

Query parameters: ``clock`` (the module clock at power-on, read as ``--clock`` is: Z or z = UTC, an offset
converted, naive = UTC; an offset's ``+`` is written ``%2B``, a bare one decodes to a space and is refused),
``resolve`` (repeatable, as ``--resolve``), ``trace`` (a ``--trace`` file), ``attach=ID`` (a port on a
module already running in this process: :attr:`RunningModule.url` of a ``front_end="memory"`` module),
``strict=1`` (handler bugs raise on close instead of answering ``ERROR``). The module powers on when the port
opens and is gone when it closes; as on a PTY, opening discards what the
module said before (its power-on URCs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from ..isotime import parse_utc

if TYPE_CHECKING:
    from ..runtime.running import RunningModule
    from ..transports.memory import MemoryLine

SCHEME = "nl668"

def parse_url(url: str) -> dict[str, Any]:
    """The profile and options of an ``nl668://`` URL (raises :class:`SerialException` if malformed)."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise SerialException(f"expected a {SCHEME}:// URL, not {url!r}")
    profile = unquote(parts.netloc + parts.path).strip("/") or None
    options: dict[str, Any] = {
        "profile": profile, "resolve": [], "initial_clock": None, "strict": False, "trace_path": None, "attach": None,
    }
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if key == "resolve":
            options["resolve"].extend(values)
        elif key == "clock":
            try:
                options["initial_clock"] = parse_utc(values[-1])
            except ValueError:
                raise SerialException(f"{SCHEME}: clock is not an ISO-8601 time: {values[-1]!r}") from None
        elif key == "attach":
            options["attach"] = values[-1]
        elif key == "trace":
            options["trace_path"] = values[-1]
        elif key == "strict":
            options["strict"] = values[-1] not in ("", "0", "false", "no")
        else:
            raise SerialException(f"{SCHEME}: unknown option {key!r} (clock, resolve, strict, trace, attach)")
    return options


class Serial(SerialBase):  # type: ignore[misc]  # pyserial ships no type hints
    """A pyserial port on an in-process emulated module."""

    is_open: bool
    _running: RunningModule | None = None
    _line: MemoryLine | None = None
    _owns_module = False

    def open(self) -> None:
        """Power a module on behind this port (see the module docstring for the URL)."""
        from ..core.errors import ProfileError
        from ..profiles import DEFAULT_PROFILE
        from ..runtime.running import RunningModule, attached_module

        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise SerialException("Port is already open.")
        options = parse_url(self.portstr)
        if options["attach"] is not None:
            running = attached_module(options["attach"])
            if running is None:
                raise SerialException(f"{self.portstr}: no such in-process module (closed?)")
            self._running, self._line, self._owns_module = running, running.line, False
            self.is_open = True
            self._line.discard()
            return
        try:
            running = RunningModule(
                options["profile"] or DEFAULT_PROFILE,
                initial_clock=options["initial_clock"],
                resolve=options["resolve"],
                strict=options["strict"],
                trace_path=options["trace_path"],
                front_end="memory",
            )
        except (ProfileError, ValueError) as exc:
            raise SerialException(f"{self.portstr}: {exc}") from exc
        self._running, self._line, self._owns_module = running, running.line, True
        self.is_open = True
        self._line.discard()  # as pyserial's open flushes a PTY: the power-on URCs went out before

    @property
    def running(self) -> RunningModule:
        """The module behind the port (for its :attr:`~RunningModule.console`)."""
        if self._running is None:
            raise PortNotOpenError()
        return self._running

    def close(self) -> None:
        if not self.is_open:
            return
        self.is_open = False
        running, self._running, self._line = self._running, None, None
        if running is not None and self._owns_module:
            running.close()

    def _reconfigure_port(self, force_update: bool = False) -> None:
        """Baud rate and framing do not slow an in-process line."""

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass

    def _need_line(self) -> MemoryLine:
        if not self.is_open or self._line is None:
            raise PortNotOpenError()
        return self._line

    @property
    def in_waiting(self) -> int:
        return self._need_line().waiting

    def read(self, size: int = 1) -> bytes:
        line = self._need_line()
        if line.closed:
            raise SerialException("the emulated module is gone")
        return line.read(size, self._timeout)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        line = self._need_line()
        data = bytes(data)
        line.send(data)
        return len(data)

    def flush(self) -> None:
        self._need_line()

    def reset_input_buffer(self) -> None:
        self._need_line().discard()

    def reset_output_buffer(self) -> None:
        self._need_line()

    @property
    def cts(self) -> bool:
        self._need_line()
        return True

    @property
    def dsr(self) -> bool:
        self._need_line()
        return True

    @property
    def ri(self) -> bool:
        self._need_line()
        return False

    @property
    def cd(self) -> bool:
        self._need_line()
        return True

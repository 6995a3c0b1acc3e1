"""The control API: what the world around a module does, from Python and over a loopback line protocol.

Why: a host program's hardest paths (the network drops the PDP context, a
server resets a socket, signal fades, the power blinks) cannot be provoked
from the serial line. Like an emulator console, these verbs change the world
and the test watches the module's answer on the wire. Everything becomes a
core event (:data:`~emulator.core.events.ControlEvent`, handled by
:mod:`emulator.core.control`) or a network-side socket action
(:meth:`PeerLinks.drop`), so the module reacts exactly as to the real thing.

Line protocol (``--control HOST:PORT``; one command a line, one reply line)::

    power-cycle | clock ISO8601 | signal RSSI [BER] | registration STAT | pdp-drop
    socket-close N | socket-reset N | urc TEXT | certs | why | module N | modules | help

Replies: ``OK``, ``OK <json>`` or ``ERROR <reason>``. ``module N`` picks which
module of a ``--modules N`` process later commands address (default 0); with
``--workers K`` the one listener is the parent's, which forwards each line to the
worker holding module N (:mod:`emulator.runtime.workers`). The
certificate store is shown as counts and subjects, never key or certificate
bytes; ``why`` is the last socket failure's reason (what ``+GTSSLERR`` cannot
say). Binds 127.0.0.1 unless told otherwise: it can reset the module.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

from cryptography import x509

from .core.events import ClockSet, ControlEvent, NetworkChanged, PdpDropped, PowerCycleRequested, UrcInjected
from .isotime import parse_utc
from .runtime.station import Station
from .transports.tcp import DEFAULT_HOST, listening_socket

logger = logging.getLogger(__name__)

T = TypeVar("T")
DtrDrop = Literal["ignore", "power-cycle", "pdp-drop"]
DTR_DROP_CHOICES: tuple[DtrDrop, ...] = ("ignore", "power-cycle", "pdp-drop")


class ConsoleError(ValueError):
    """A console command that cannot be done (bad argument, no such socket)."""


class Console:
    """The verbs for one module.

    Args:
        station: returns the module's :class:`Station` (read on the loop thread).
        call: runs a function on the module's loop thread and returns its result
            (``RunningModule.call``); by default the caller is on that thread.
    """

    def __init__(self, station: Callable[[], Station], call: Callable[..., Any] | None = None) -> None:
        self._station = station
        self._call = call or (lambda fn: fn())

    def _on_loop(self, fn: Callable[[Station], T]) -> T:
        return self._call(lambda: fn(self._station()))  # type: ignore[no-any-return]

    def _event(self, event: ControlEvent) -> None:
        self._on_loop(lambda st: st.driver.deliver(event))

    def power_cycle(self) -> None:
        """Cut and restore power: the module reboots (certificates and SSL settings are lost)."""
        self._event(PowerCycleRequested())

    def set_clock(self, when: datetime) -> None:
        """Set the module's real-time clock (a naive time is UTC)."""
        utc = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
        self._event(ClockSet(utc=utc))

    def set_signal(self, rssi: int, ber: int | None = None) -> None:
        """What ``+CSQ`` reports from now on (27.007: rssi 0-31 or 99, ber 0-7 or 99)."""
        if not (0 <= rssi <= 31 or rssi == 99) or not (ber is None or 0 <= ber <= 7 or ber == 99):
            raise ConsoleError("rssi is 0-31 or 99, ber 0-7 or 99")
        self._event(NetworkChanged(rssi=rssi, ber=ber))

    def set_registration(self, stat: int) -> None:
        """The registration ``<stat>`` (0 not registered, 1 home, 2 searching, 3 denied, 5 roaming)."""
        if not 0 <= stat <= 5:
            raise ConsoleError("stat is 0-5")
        self._event(NetworkChanged(registration=stat))

    def drop_pdp(self) -> None:
        """The network deactivates the PDP context: ``+MIPCALL: 0``, sockets lost."""
        self._event(PdpDropped())

    def close_socket(self, link_id: int) -> None:
        """The peer (or network) closes socket ``link_id`` in order (FIN)."""
        self._drop(link_id, reset=False)

    def reset_socket(self, link_id: int) -> None:
        """The network resets socket ``link_id`` (RST)."""
        self._drop(link_id, reset=True)

    def _drop(self, link_id: int, *, reset: bool) -> None:
        if not self._on_loop(lambda st: st.links.drop(link_id, reset=reset)):
            raise ConsoleError(f"socket {link_id} is not open")

    def inject_urc(self, text: str) -> None:
        """Have the module say ``text`` as a URC (framed as its URCs are)."""
        self._event(UrcInjected(text=text))

    def certificates(self) -> dict[str, Any]:
        """The certificate store: counts and subjects, never key or certificate bytes."""

        def read(st: Station) -> dict[str, Any]:
            store = st.module.state.certs
            return {
                "certfile": _subjects([store.certfile] if store.certfile is not None else []),
                "keyfile": {"count": int(store.keyfile is not None)},
                "trustfile": _subjects(store.trustfiles),
            }

        return self._on_loop(read)

    def last_why(self) -> dict[str, Any]:
        """The last socket failure the edge reported (link, gtsslerr, reason), or ``{}``."""
        return self._on_loop(lambda st: dict(st.module.state.last_failure))

    def execute(self, line: str) -> str:
        """Run one line of the line protocol; return the reply line (never raises for bad input)."""
        words = line.split()  # no verb takes a quoted argument; urc takes the rest of the line as is
        if not words:
            return "ERROR empty command"
        verb, args = words[0].lower(), words[1:]
        try:
            result = self._run(verb, args, line)
        except IndexError:
            return f"ERROR {verb}: missing argument"
        except (ConsoleError, ValueError) as exc:
            return f"ERROR {exc}"
        return "OK" if result is None else "OK " + json.dumps(result, sort_keys=True)

    def _run(self, verb: str, args: list[str], line: str) -> Any:
        match verb:
            case "power-cycle":
                self.power_cycle()
            case "clock":
                self.set_clock(parse_utc(args[0]))  # the command lines' parser: Z/z, offsets, naive = UTC
            case "signal":
                self.set_signal(int(args[0]), int(args[1]) if len(args) > 1 else None)
            case "registration":
                self.set_registration(int(args[0]))
            case "pdp-drop":
                self.drop_pdp()
            case "socket-close":
                self.close_socket(int(args[0]))
            case "socket-reset":
                self.reset_socket(int(args[0]))
            case "urc":
                text = line.strip().split(None, 1)[1] if len(line.split()) > 1 else ""
                if not text:
                    raise ConsoleError("urc needs a text")
                self.inject_urc(text)
            case "certs":
                return self.certificates()
            case "why":
                return self.last_why()
            case "help":
                return HELP
            case _:
                raise ConsoleError(f"unknown command {verb!r} (try help)")
        return None


HELP = [
    "power-cycle", "clock ISO8601", "signal RSSI [BER]", "registration STAT", "pdp-drop", "socket-close N",
    "socket-reset N", "urc TEXT", "certs", "why", "module N", "modules", "help",
]


def _subjects(pems: Sequence[bytes]) -> dict[str, Any]:
    subjects = []
    for pem in pems:
        try:
            subjects.append(x509.load_pem_x509_certificate(pem).subject.rfc4514_string())
        except ValueError:
            subjects.append("(unreadable)")  # a profile that stores anything ("none" content check)
    return {"count": len(pems), "subjects": subjects}


def dtr_drop_action(station: Station, mode: DtrDrop) -> Callable[[], None] | None:
    """What a DTR drop does (an option, since firmware builds differ with AT&D): ``None`` for ignore."""
    console = Console(lambda: station)
    match mode:
        case "power-cycle":
            return console.power_cycle
        case "pdp-drop":
            return console.drop_pdp
    return None


class LineServer:
    """A listener for the console's line protocol (bound at construction, so its port is known at once).

    ``module N`` and ``modules`` are answered here, for ``modules`` modules; every other line goes to an
    ``answer(current module, line)`` the subclass gives :meth:`_serve_lines` from its :meth:`_session`.
    """

    def __init__(self, modules: int, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self._modules = modules
        self._sock = listening_socket(host, port)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, sock=self._sock)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        else:
            self._sock.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _serve_lines(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: Callable[[int, str], Awaitable[str]]
    ) -> None:
        """One connection: a reply line for each line, until the client leaves."""
        current = 0
        try:
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").strip()
                words = text.split()
                verb = words[0].lower() if words else ""
                if verb == "module":
                    try:
                        index = int(words[1])
                    except (IndexError, ValueError):
                        index = -1
                    if 0 <= index < self._modules:
                        current, reply = index, "OK"
                    else:
                        reply = f"ERROR module 0-{self._modules - 1}"
                elif verb == "modules":
                    reply = f"OK {self._modules}"
                else:
                    reply = await answer(current, text)
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError):  # ValueError: a line beyond the stream's 64 KiB limit
            pass
        finally:
            writer.close()


class ControlServer(LineServer):
    """The line protocol on a loopback TCP port, for every module of the process (loop thread only)."""

    def __init__(self, consoles: Sequence[Console], host: str = DEFAULT_HOST, port: int = 0) -> None:
        super().__init__(len(consoles), host, port)
        self._consoles = list(consoles)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve_lines(reader, writer, self._answer)

    async def _answer(self, index: int, text: str) -> str:
        return self._consoles[index].execute(text)

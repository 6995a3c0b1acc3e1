"""One fleet member as a host driver sees it: AT commands through :class:`~emulator.at_client.AtClient`, each
exchange and each network outcome reported to a :data:`Report` callback (Locust's request event).

What is reported (request type, name, failure):

* ``AT``, the command's name (``AT+MIPCALL=``, ``AT+GTSSLERR?``): the time from the command to its final
  result code; a failure is what the module answered (``ERROR``, ``+CME ERROR: 3``) or ``timeout``.
* ``TLS``, ``+MIPOPEN handshake``: ``AT+MIPOPEN`` written to ``+MIPOPEN: <s>,1`` read; a failure is named
  by what the module said: ``+GTSSLERR: <code>`` (from ``AT+GTSSLERR?`` after ``+MIPOPEN: <s>,0``), else
  ``+MIPOPEN: <s>,0`` (no SSL error: refused, reset, no address), or ``timeout``.
* ``TLS``, ``+MIPSEND round trip``: ``AT+MIPSEND`` to the echo's ``+MIPRTCP`` URC; failures ``+MIPSTAT:
  <s>,1`` / ``+MIPSTAT: <s>,2`` (the socket went while waiting), ``timeout``.
* ``TLS``, ``reconnect``: from the network's PDP drop to ``+MIPOPEN: <s>,1`` on the new context.

Nothing here imports Locust: :mod:`emulator.fleet.users` binds :data:`Report` to its request event.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from ..at_client import AtClient, AtError
from ..console import Console
from ..core.profile import Profile
from .hosting import FleetPort, ModuleHost

#: ``report(request_type, name, response_time_ms, response_length, failure)``; failure None = success
Report = Callable[[str, str, float, int, "str | None"], None]

_NAME = re.compile(r"^(AT(?:[+&^$][A-Z0-9]+|[A-Z]\d*)?[=?]?)", re.IGNORECASE)


def command_name(line: str) -> str:
    """What a command line is reported as: its name and form, without arguments (``AT+MIPOPEN=``)."""
    head = line.split(";", 1)[0].strip()
    match = _NAME.match(head)
    return match.group(1).upper() if match else head[:16]


def _failure(exc: AtError | TimeoutError) -> str:
    """The failure's name: the module's final result code (``ERROR``, ``+CME ERROR: 3``) or ``timeout``."""
    return "timeout" if isinstance(exc, TimeoutError) else exc.result


def _no_report(request_type: str, name: str, ms: float, length: int, failure: str | None) -> None:
    pass


class FleetModule:
    """An emulated module on the process's :class:`ModuleHost`, driven like a host driver drives one.

    Args:
        profile: profile name or :class:`Profile`.
        resolve: ``--resolve`` rules for this module's sockets (``HOST[:PORT]=ADDR[:PORT]``).
        report: where exchanges and outcomes go (default: nowhere).
        timeout: AT and URC deadline in seconds.
        host: the loop to run on (default: the process's shared one).
        index: the module index its IMEI, IMSI and ICCID derive from (:mod:`emulator.core.identity`; 0 is the
            profile's own); default: the host's next free one (:class:`~emulator.fleet.hosting.ModuleHost`).
    """

    def __init__(self, profile: str | Profile = "NL668_AM_00", *, resolve: tuple[str, ...] | list[str] = (),
                 report: Report | None = None, timeout: float = 30.0, host: ModuleHost | None = None,
                 name: str | None = None, index: int | None = None) -> None:
        self.host = host or ModuleHost.shared()
        self.report = report or _no_report
        self.timeout = timeout
        self.station, self.line = self.host.add(profile, resolve=resolve, name=name, index=index)
        self.port = FleetPort(self.line)
        try:
            self.client = AtClient(self.port, timeout=timeout)  # type: ignore[arg-type]  # pyserial's subset
        except BaseException:
            self.close()
            raise

    @property
    def index(self) -> int:
        """The module index this module's identity derives from."""
        return self.host.index_of(self.station)

    @property
    def console(self) -> Console:
        """The control API (pdp-drop, signal, socket-reset...) of this module, run on its loop."""
        return Console(lambda: self.station, self.host.call)

    # --- AT ------------------------------------------------------------------------------------------

    def at(self, line: str, data: bytes | None = None, *, timeout: float | None = None,
           name: str | None = None) -> list[str]:
        """Send one command line (with ``data`` at its ``>`` prompt); return its information lines.

        Raises:
            AtError: the module answered ``ERROR`` / ``+CME ERROR`` (reported as that failure).
            TimeoutError: no final result code in time (reported as ``timeout``).
        """
        t0 = time.perf_counter()
        name = name or command_name(line)
        # Reported on each way out but an exception of the caller's (a stopped Locust user's GreenletExit
        # mid-command is no outcome of the module's, and must not count as a success).
        try:
            if data is None:
                lines = self.client.command(line, timeout=timeout)
            else:
                lines = self.client.command_with_data(line, data, timeout=timeout)
        except (AtError, TimeoutError) as exc:
            self.report("AT", name, (time.perf_counter() - t0) * 1e3, 0, _failure(exc))
            raise
        self.report("AT", name, (time.perf_counter() - t0) * 1e3, 0, None)
        return lines

    def wait_urc(self, prefix: str, *, timeout: float | None = None) -> str:
        """The first URC starting with ``prefix`` (earlier ones stay queued in ``client.urcs``)."""
        return self.client.wait_urc(prefix, timeout=timeout)

    # --- network outcomes ----------------------------------------------------------------------------

    def attach(self) -> None:
        """``AT+MIPCALL=1`` and its ``+MIPCALL: <ip>`` (the PDP context)."""
        self.at("AT+MIPCALL=1")
        self.wait_urc("+MIPCALL: ")

    def load_trust(self, pem: bytes) -> None:
        """Store a trust file and turn verification on (``+GTSSLFILE="TRUSTFILE"``, ``+GTSSLMODE=1``)."""
        self.at(f'AT+GTSSLFILE="TRUSTFILE",{len(pem)}', pem)
        self.at("AT+GTSSLMODE=1")

    def open_tls(self, server: str, port: int, link: int = 1, *, name: str = "+MIPOPEN handshake",
                 since: float | None = None) -> bool:
        """Open SSL socket ``link``; report the handshake (from ``since``, default the command) and its outcome."""
        t0 = time.perf_counter() if since is None else since
        failure: str | None = None
        try:
            self.client.command(f'AT+MIPOPEN={link},,"{server}",{port},2')
            urc = self.client.wait_urc(f"+MIPOPEN: {link},")
            elapsed = (time.perf_counter() - t0) * 1e3
            if not urc.endswith(",1"):
                failure = self._ssl_failure(urc)
        except (AtError, TimeoutError) as exc:
            elapsed, failure = (time.perf_counter() - t0) * 1e3, _failure(exc)
        self.report("TLS", name, elapsed, 0, failure)
        return failure is None

    def _ssl_failure(self, urc: str) -> str:
        for answer in self.at("AT+GTSSLERR?"):
            if answer.startswith("+GTSSLERR: "):
                return answer
        return urc

    def close_tls(self, link: int = 1) -> None:
        """``AT+MIPCLOSE`` and its ``+MIPCLOSE: <s>,<type>``."""
        self.at(f"AT+MIPCLOSE={link}")
        self.wait_urc(f"+MIPCLOSE: {link},")

    def echo(self, payload: bytes, link: int = 1) -> bool:
        """One round trip to an echo server: ``+MIPSEND`` then the same bytes back in ``+MIPRTCP``."""
        t0 = time.perf_counter()
        failure: str | None = None
        expected = payload.hex().upper()
        try:
            self.client.command_with_data(f"AT+MIPSEND={link},{len(payload)}", payload)
            received = ""
            deadline = time.monotonic() + self.timeout
            while len(received) < len(expected) and failure is None:
                urc = self.client.wait_urc((f"+MIPRTCP: {link},", f"+MIPSTAT: {link},"), deadline=deadline)
                if urc.startswith("+MIPSTAT"):
                    failure = urc
                else:
                    received += urc.rsplit(",", 1)[1]
            if failure is None and received != expected:
                failure = "echo differs"
        except (AtError, TimeoutError) as exc:
            failure = _failure(exc)
        self.report("TLS", "+MIPSEND round trip", (time.perf_counter() - t0) * 1e3, len(payload), failure)
        return failure is None

    def reconnect_after_drop(self, server: str, port: int, link: int = 1, *, late: float = 0.0) -> bool:
        """The network drops the PDP context (console), then the driver's recovery: ``+MIPCALL=1`` and a new
        ``+MIPOPEN``; reported as ``reconnect`` from the drop (``late`` seconds before now: when a storm was
        due) to ``+MIPOPEN: <s>,1``."""
        t0 = time.perf_counter() - late
        attached = self.host.call(lambda: self.station.module.state.pdp_active)
        self.console.drop_pdp()
        try:
            if attached:  # (after a failed recovery there is no context left to drop)
                self.wait_urc("+MIPCALL: 0")
            self.reset_link(link)
            self.attach()
        except (AtError, TimeoutError) as exc:
            self.report("TLS", "reconnect", (time.perf_counter() - t0) * 1e3, 0, _failure(exc))
            return False
        return self.open_tls(server, port, link, name="reconnect", since=t0)

    def reset_link(self, link: int = 1) -> None:
        """After a failure: make sure socket ``link`` is closed (unreported), and drop the URCs met so far."""
        try:
            self.client.command(f"AT+MIPCLOSE={link}", timeout=5)
            self.client.wait_urc(f"+MIPCLOSE: {link},", timeout=5)
        except (AtError, TimeoutError):
            pass  # not open any more: nothing to close
        self.client.urcs.clear()

    def close(self) -> None:
        """Power the module off (its sockets close)."""
        self.host.remove(self.station)

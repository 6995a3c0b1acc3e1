"""``nl668-lab check``: "will my module connect?" against any server, for every variant and setting.

Theory of operation. A check runs the module's own handshake, not a look-alike:

* the settings of each cell (``+GTSSLVER``, ``+GTSSLCIPHER``, ``+GTSSLMODE``,
  the TRUSTFILEs, CERTFILE/KEYFILE, the module clock) are put on a core
  :class:`~emulator.core.module_state.ModuleState` of the variant's profile, and the
  :class:`~emulator.core.tls_request.TlsRequest` comes from the very builder ``+MIPOPEN`` uses
  (:func:`emulator.core.commands.tcpip.tls_request`): same effective version and cipher ids;
* the engine is :func:`emulator.tls.engine.make_tls_client` (OpenSSL or tlslite-ng, the same
  rule, context factory, host check, SNI rule and alert mapping), driven over an asyncio
  stream the way :class:`~emulator.runtime.links.PeerLinks` drives it (ClientHello right
  after the TCP connect, feed what arrives, flush what the engine owes, EOF = peer closed);
* the code shown is what ``AT+GTSSLERR?`` would say, through the profile's ``[gtsslerr]``
  table (:func:`emulator.core.commands.ssl.reported_gtsslerr`), and the reason is the "why"
  side channel's text (:func:`emulator.core.commands.tcpip.describe_link_event`);
* a handshake that does not finish within the per-handshake timeout is the module's open
  time-out: ``+MIPOPEN: <s>,0`` with the code the core gives it (90 user_canceled, class
  ``timeout``).

Cells that give the same ClientHello and settings (the same ``TlsRequest``: across
variants, or ``+GTSSLVER=0`` and 4 on an L610) are tried once. Every handshake runs on one
event loop, concurrently (a semaphore bounds how many at once), no thread per handshake.

With a trace (``CheckConfig.trace``, ``--trace FILE``), each handshake is one socket of the
runtime's trace format (:mod:`emulator.trace`), numbered 1, 2, ... in matrix order: a
``label`` record naming the cells it stands for, ``open``, the observer steps the runtime's
sockets give (``tcp_connected``, then the engine's own ``new_steps()``: ClientHello,
ServerHello, certificates, alerts, handshake done), the "why" record of the outcome (with its
``+GTSSLERR`` code), and ``close`` when it opened. ``nl668-emu trace-view`` draws it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from emulator.core.cert_store import FileRejected, check_content
from emulator.core.clock import ManualClock
from emulator.core.codes import FailureClass, FileType, GtsslErr, SslVersion
from emulator.core.commands.ssl import reported_gtsslerr
from emulator.core.commands.tcpip import describe_link_event, tls_request
from emulator.core.events import LinkOpened, LinkOpenFailed
from emulator.core.module_state import ModuleClock, ModuleState
from emulator.core.profile import Profile
from emulator.core.tls_request import TlsRequest
from emulator.hostport import format_host_port
from emulator.runtime.links import describe_socket_error
from emulator.runtime.resolve import Resolver
from emulator.tls.alert_codes import TlsFailure, TlsPeerClosed
from emulator.tls.context_factory import is_ip_literal
from emulator.tls.engine import make_tls_client, needs_legacy

if TYPE_CHECKING:
    from emulator.trace import TraceWriter

__all__ = [
    "Attempt",
    "Cell",
    "CheckConfig",
    "CheckError",
    "Report",
    "Setting",
    "StepObserver",
    "VERSION_NAMES",
    "attempt_handshake",
    "cell_name",
    "matrix",
    "run_check",
]

#: ``+GTSSLVER`` -> what it means on the wire (0: "not set", the variant's highest: L610)
VERSION_NAMES: dict[int, str] = {0: "unset", **{v.value: v.name.replace("_", ".") for v in SslVersion}}
#: the socket id the reasons name (the lab's and the manual's examples use 1)
LINK_ID = 1

#: an edge's step observer, as :class:`~emulator.runtime.links.PeerLinks` calls it: ``(socket, {"ev", "text", ...})``
StepObserver = Callable[[int, dict[str, Any]], None]


class CheckError(Exception):
    """A usage or input problem (exit status 2): a bad file, a host that does not resolve."""


@dataclass(frozen=True, order=True, slots=True)
class Setting:
    """One column of the matrix: what a host would set before ``+MIPOPEN``.

    ``cipher`` None: no id enabled, the variant's default set is offered (manual §1.5.4 note).
    """

    version: int
    cipher: int | None
    mode: int

    def at_lines(self) -> tuple[str, ...]:
        """The AT commands that make a module (in any prior state) use this setting."""
        lines = [f"AT+GTSSLVER={self.version}", "AT+GTSSLCIPHER=255,0"]
        if self.cipher is not None:
            lines.append(f"AT+GTSSLCIPHER={self.cipher},1")
        lines.append(f"AT+GTSSLMODE={self.mode}")
        return tuple(lines)

    @property
    def cipher_label(self) -> str:
        return "default" if self.cipher is None else str(self.cipher)

    def __str__(self) -> str:
        return f"+GTSSLVER={self.version} ciphers={self.cipher_label} +GTSSLMODE={self.mode}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one handshake did (shared by every cell with the same request).

    ``code``/``failure``: the NL668 code and its class, as the engine classified them
    (None: no TLS alert was involved: refused, reset, closed).
    ``stage``: ``connect`` (TCP never connected), ``tls`` (a TLS outcome), ``closed`` (the
    peer closed or reset during the handshake), ``timeout``.
    """

    opened: bool
    code: int | None
    failure: FailureClass | None
    why: str
    stage: str
    engine: str
    negotiated: str = ""
    peer_chain: tuple[bytes, ...] = ()  #: DER, as the server sent it (leaf first), when it got that far
    client_ca_names: tuple[str, ...] = ()  #: the CAs a CertificateRequest named (OpenSSL engine)
    verify_errors: tuple[tuple[int, int], ...] = ()  #: (depth, X509_V_ERR_*), 0 = fine
    alerts: tuple[tuple[str, int, int], ...] = ()
    seconds: float = 0.0

    def event(self, link_id: int = LINK_ID) -> LinkOpened | LinkOpenFailed:
        """The link event the runtime would have delivered to the core for this outcome."""
        if self.opened:
            return LinkOpened(link_id=link_id, detail=self.negotiated)
        return LinkOpenFailed(link_id=link_id, gtsslerr=self.code, failure=self.failure, why=self.why)

    def why_line(self) -> str:
        """The "why" side channel's line for this attempt (as the core writes ``last_why``)."""
        return describe_link_event(self.event()) or ""


@dataclass(frozen=True, slots=True)
class Cell:
    """One variant x one setting: what the module reports."""

    variant: str
    setting: Setting
    request: TlsRequest
    attempt: Attempt
    gtsslerr: int | None  #: what ``AT+GTSSLERR?`` answers afterwards, through the profile's table

    @property
    def opened(self) -> bool:
        return self.attempt.opened

    def text(self) -> str:
        """``+MIPOPEN: 1,1`` or ``+MIPOPEN: 1,0 +GTSSLERR: 70`` (what the host sees)."""
        if self.opened:
            return f"+MIPOPEN: {LINK_ID},1"
        return f"+MIPOPEN: {LINK_ID},0" + ("" if self.gtsslerr is None else f" +GTSSLERR: {self.gtsslerr}")

    def short(self) -> str:
        if self.opened:
            return "1"
        return "0" if self.gtsslerr is None else f"0/{self.gtsslerr}"

    def as_json(self) -> dict[str, object]:
        return {
            "variant": self.variant,
            "version": self.setting.version,
            "ciphers": self.setting.cipher_label,
            "cipher_ids": list(self.request.cipher_ids),
            "mode": self.setting.mode,
            "opened": self.opened,
            "gtsslerr": self.gtsslerr,
            "mipopen": self.text(),
            "engine": self.attempt.engine,
            "negotiated": self.attempt.negotiated,
            "why": self.attempt.why_line(),
            "at": list(self.setting.at_lines()),
        }


@dataclass(slots=True)
class CheckConfig:
    """Everything a check needs (the CLI options, parsed).

    ``host`` is what is dialled; ``servername`` (when ``host`` is an address) is the name the
    module would give ``+MIPOPEN`` (SNI and host check). ``versions``/``ciphers``/``modes``
    narrow the matrix (None: all the variant accepts; ``ciphers`` may hold None = default set).
    """

    host: str
    port: int
    profiles: Sequence[Profile]
    trust_pems: tuple[bytes, ...] = ()
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    clock: datetime | None = None
    servername: str | None = None
    resolver: Resolver = field(default_factory=Resolver)
    timeout: float = 10.0
    parallel: int = 32
    versions: Sequence[int] | None = None
    ciphers: Sequence[int | None] | None = None
    modes: Sequence[int] | None = None
    #: where each handshake's steps are recorded (``--trace``), if anywhere
    trace: TraceWriter | None = None

    @property
    def dial_name(self) -> str:
        """The host given to ``+MIPOPEN``: the SNI and the name the certificate must hold."""
        return self.servername or self.host

    def module_time(self) -> datetime:
        """The module clock in UTC: the table and the advice print it as UTC (``--clock`` may carry an offset)."""
        return self.clock.astimezone(timezone.utc) if self.clock is not None else datetime.now(timezone.utc)


@dataclass(slots=True)
class Report:
    """A finished check: the cells per variant, in matrix order."""

    config: CheckConfig
    address: tuple[str, int] | None
    module_time: datetime
    cells: list[Cell]
    handshakes: int
    seconds: float
    #: variants that accept none of the settings asked for (``--ver 1`` on an NL668_AM_00: ``ERROR``)
    skipped: list[str] = field(default_factory=list)

    def variants(self) -> list[str]:
        return list(dict.fromkeys(c.variant for c in self.cells))

    def of(self, variant: str) -> list[Cell]:
        return [c for c in self.cells if c.variant == variant]

    def cell(self, variant: str, setting: Setting) -> Cell | None:
        return next((c for c in self.cells if c.variant == variant and c.setting == setting), None)

    @property
    def network_error(self) -> bool:
        """No handshake got past TCP: the host is unreachable, the port refused, or nothing resolved."""
        return self.address is None or (bool(self.cells) and all(c.attempt.stage == "connect" for c in self.cells))

    def exit_status(self, *, require_all: bool = False) -> int:
        """0: each variant connects with at least one cell (``require_all``: with every cell); 1: not;
        2: a network error (nothing reached TLS)."""
        if self.network_error:
            return 2
        if self.skipped:
            return 1  # a variant that refuses the settings cannot connect with them
        by_variant = [self.of(v) for v in self.variants()]
        if require_all:
            ok = all(c.opened for cells in by_variant for c in cells)
        else:
            ok = all(any(c.opened for c in cells) for cells in by_variant)
        return 0 if ok and by_variant else 1


# --- building the matrix ---------------------------------------------------------------------------------


def module_state(profile: Profile, setting: Setting, config: CheckConfig, instant: datetime) -> ModuleState:
    """A core module state with ``setting`` and the config's files, as the AT commands would leave it.

    Raises:
        CheckError: a file the module's ``+GTSSLFILE`` would not take (too many TRUSTFILEs).
    """
    # One instant for every cell, on the core's clock that moves only when told: equal requests then dedupe.
    m = ModuleState(profile, ModuleClock(ManualClock(instant), None))
    m.ssl.version = setting.version
    m.ssl.enabled_ciphers = set() if setting.cipher is None else {setting.cipher}
    m.ssl.mode = setting.mode
    if len(config.trust_pems) > profile.files.trust_files_max:
        raise CheckError(f"{profile.name} takes at most {profile.files.trust_files_max} TRUSTFILEs")
    files = [(FileType.TRUSTFILE, pem) for pem in config.trust_pems]
    files += [(FileType.CERTFILE, config.cert_pem)] if config.cert_pem is not None else []
    files += [(FileType.KEYFILE, config.key_pem)] if config.key_pem is not None else []
    for file_type, data in files:
        try:
            check_content(file_type, data, profile.files.content_check)  # what +GTSSLFILE checks on upload
        except FileRejected as exc:
            raise CheckError(f"{profile.name} would refuse this {file_type.name}: {exc}") from None
        m.certs.add(file_type, data)
    m.pdp_active = True
    return m


def matrix(profile: Profile, config: CheckConfig) -> list[Setting]:
    """Every setting the variant accepts (narrowed by the config): versions x (default + each id) x modes."""
    versions = [v for v in sorted(profile.ssl.versions) if config.versions is None or v in config.versions]
    ciphers: list[int | None] = [None, *profile.ssl.supported_ciphers]
    if config.ciphers is not None:
        ciphers = [c for c in ciphers if c in config.ciphers]
    modes = [m for m in (0, 1) if config.modes is None or m in config.modes]
    return [Setting(v, c, m) for m in modes for v in versions for c in ciphers]


# --- one handshake ---------------------------------------------------------------------------------------


def _engine(request: TlsRequest) -> str:
    return "tlslite-ng" if needs_legacy(request) else "OpenSSL"


async def attempt_handshake(
    request: TlsRequest, targets: Sequence[tuple[str, int]], timeout: float,
    *, sock: int = LINK_ID, observer: StepObserver | None = None,
) -> Attempt:
    """Run the module's handshake for ``request`` against the first of ``targets`` that accepts TCP.

    ``observer`` is told the network-side steps of socket ``sock`` as the runtime's sockets tell
    them (TCP connected, then the engine's ``new_steps()`` after each engine call).
    Never raises for network or TLS trouble: every outcome is an :class:`Attempt`.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    engine = _engine(request)
    client = None
    writer: asyncio.StreamWriter | None = None

    def tell_tls() -> None:
        # The same step records as PeerLinks._note_tls: each step once, after the engine call that made it.
        if observer is not None and client is not None:
            for step in client.new_steps():
                observer(sock, step)

    def done(opened: bool, stage: str, why: str, code: int | None = None,
             failure: FailureClass | None = None) -> Attempt:
        tell_tls()  # the last steps (alerts sent or received, close_notify) before the outcome
        return Attempt(
            opened=opened, code=code, failure=failure, why=why, stage=stage, engine=engine,
            negotiated=client.negotiated if client is not None and opened else "",
            peer_chain=tuple(getattr(client, "peer_chain", ()) or ()),
            client_ca_names=tuple(getattr(client, "client_ca_names", ()) or ()),
            verify_errors=tuple(client.verify_errors) if client is not None else (),
            alerts=tuple(client.alerts) if client is not None else (),
            seconds=loop.time() - start,
        )

    def failed(exc: TlsFailure) -> Attempt:
        if writer is not None and client is not None:
            with suppress(Exception):
                writer.write(client.outgoing())  # the alert we owe the server, as the runtime sends it
        return done(False, "tls", exc.why, exc.gtsslerr, exc.failure)

    try:
        async with asyncio.timeout(timeout):
            failures: list[str] = []
            for addr, port in targets:
                try:
                    reader, writer = await asyncio.open_connection(addr, port)
                    if observer is not None:
                        observer(sock, {"ev": "tcp_connected", "text": f"TCP connected to {addr}:{port}",
                                        "peer": f"{addr}:{port}"})
                    break
                except OSError as exc:
                    failures.append(f"{format_host_port(addr, port)}: {describe_socket_error(exc)}")
            else:
                return done(False, "connect", "connect " + "; ".join(failures) if failures else "no address")
            try:
                client = make_tls_client(request)
                client.initiate()
            except TlsFailure as exc:
                return failed(exc)
            tell_tls()
            writer.write(client.outgoing())
            while not client.handshake_done:
                try:
                    data = await reader.read(65536)
                except OSError as exc:
                    return done(False, "closed", describe_socket_error(exc))
                if not data:
                    try:
                        client.peer_eof()
                    except TlsPeerClosed as exc:
                        return done(False, "closed", exc.why)
                    except TlsFailure as exc:
                        return failed(exc)
                    return done(False, "closed", "connection closed by the peer during the handshake")
                try:
                    client.feed(data)
                except TlsFailure as exc:
                    if client.handshake_done:  # the same bytes finished and broke it: +MIPOPEN said 1 first
                        break
                    return failed(exc)
                tell_tls()
                out = client.outgoing()
                if out:
                    writer.write(out)
            client.close()
            with suppress(Exception):
                writer.write(client.outgoing())  # close_notify, as +MIPCLOSE would
            return done(True, "tls", "")
    except TimeoutError:
        # The module's open timer covers the TCP connect and the handshake: it gives up and calls it
        # user_canceled (tcpip._on_timer). A connect that never completed is a network problem (stage).
        stage, what = ("timeout", "no answer") if writer is not None else ("connect", "connect: no answer")
        return done(False, stage, f"{what} within {timeout:g} s (the module's open time-out)",
                    int(GtsslErr.USER_CANCELED), FailureClass.TIMEOUT)
    finally:
        if writer is not None:
            writer.close()
            with suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


# --- the whole check -------------------------------------------------------------------------------------


async def _targets(config: CheckConfig) -> list[tuple[str, int]]:
    """Where the module's socket would connect: ``--resolve`` first, then DNS (the runtime's resolver).

    Raises:
        CheckError: the host is an IPv6 address (and no ``--resolve`` rule for ``--servername`` replaces it).
    """
    if config.servername and is_ip_literal(config.host):
        override = config.resolver.lookup(config.servername, config.port)
        if override:
            return [override]
    if ":" in config.host:
        # +MIPOPEN's host is "dotted IPv4 or host name" (fibocom-tcpip.md) and the resolver asks DNS for IPv4
        # only, so an IPv6 literal would end as "no address", which reads as a DNS problem; with --servername
        # it would even be dialled over IPv6, which the module cannot do.
        raise CheckError(f"the module dials IPv4 only: {format_host_port(config.host, config.port)} is an IPv6 "
                         "address (give an IPv4 address, or a name with an A record)")
    # An IPv4 literal (with or without --servername) is answered without DNS by the resolver itself.
    return await config.resolver.resolve(asyncio.get_running_loop(), config.host, config.port)


def cell_name(variant: str, setting: Setting) -> str:
    """``NL668_AM_00 +GTSSLVER=4 +GTSSLCIPHER=default +GTSSLMODE=1``: a cell as the trace names it."""
    return (f"{variant} +GTSSLVER={setting.version} +GTSSLCIPHER={setting.cipher_label} "
            f"+GTSSLMODE={setting.mode}")


def _trace_label(trace: TraceWriter, sock: int, cells: Sequence[tuple[str, Setting]]) -> None:
    """The socket's header: which cells this handshake stands for (a person asks "which setting was it?")."""
    names = [cell_name(v, s) for v, s in cells]
    short = names[0] + (f" (+{len(names) - 1} more)" if len(names) > 1 else "") if names else f"socket {sock}"
    trace.net(sock, "label", f"socket {sock}: " + "; ".join(names or [short]), label=short, cells=[
        {"variant": v, "gtsslver": s.version, "gtsslcipher": s.cipher_label, "gtsslmode": s.mode} for v, s in cells
    ])


def _trace_outcome(trace: TraceWriter, sock: int, attempt: Attempt, state: ModuleState | None) -> None:
    """The "why" record of the outcome, as the runtime's driver writes it for a link event, then the close.

    Its ``gtsslerr`` is what ``AT+GTSSLERR?`` answers on ``state``'s variant (the profile's table, as the
    driver's record and the cell's own code): -11 on an L610 where an NL668 says 45.
    """
    code = attempt.code
    if code is not None and state is not None:
        code = reported_gtsslerr(state, code, attempt.failure)
    fields: dict[str, Any] = (
        {"sock": sock, "ev": "opened"} if attempt.opened
        else {"sock": sock, "ev": "open_failed", "gtsslerr": code}
    )
    trace.why(describe_link_event(attempt.event(sock)) or attempt.why, **fields)
    if attempt.opened:
        trace.net(sock, "close", f"close socket {sock}")


async def run_requests(
    requests: Iterable[TlsRequest], targets: Sequence[tuple[str, int]], config: CheckConfig,
    cells: dict[TlsRequest, list[tuple[str, Setting, ModuleState]]] | None = None,
) -> dict[TlsRequest, Attempt]:
    """One handshake per distinct request, concurrently on this loop (at most ``config.parallel`` at once).

    With ``config.trace``, the n-th distinct request is socket n of the trace; ``cells`` names what it stands
    for, and the first of them (the one its label names) gives the ``+GTSSLERR`` code the trace shows.
    """
    gate = asyncio.Semaphore(max(1, config.parallel))
    trace = config.trace

    async def one(sock: int, request: TlsRequest) -> Attempt:
        these = (cells or {}).get(request, [])
        async with gate:
            if trace is not None:
                _trace_label(trace, sock, [(v, s) for v, s, _ in these])
                trace.net(sock, "open", f"open SSL {config.dial_name}:{config.port}", host=config.dial_name,
                          port=config.port, proto="SSL")
            try:
                attempt = await attempt_handshake(request, targets, config.timeout, sock=sock,
                                                  observer=trace.step if trace is not None else None)
            except Exception as exc:  # an engine bug on a hostile server: one cell says so, the check goes on
                attempt = Attempt(False, None, None, f"internal error: {exc!r}", "tls", _engine(request))
            if trace is not None:
                _trace_outcome(trace, sock, attempt, these[0][2] if these else None)
            return attempt

    unique = list(dict.fromkeys(requests))
    results = await asyncio.gather(*(one(n, r) for n, r in enumerate(unique, start=1)))
    return dict(zip(unique, results))


async def run_check(config: CheckConfig) -> Report:
    """Run the matrix of every profile in ``config`` against the server.

    Raises:
        CheckError: settings or files the module would refuse, or an IPv6 address to dial.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    instant = config.module_time()
    planned: list[tuple[Profile, Setting, ModuleState, TlsRequest]] = []
    skipped = []
    for profile in config.profiles:
        settings = matrix(profile, config)
        if not settings:
            skipped.append(profile.name)
        for setting in settings:
            m = module_state(profile, setting, config, instant)
            planned.append((profile, setting, m, tls_request(m, config.dial_name)))
    if not planned:
        raise CheckError("no setting to try: no variant accepts the --ver/--cipher/--mode asked for")
    targets = await _targets(config)
    if not targets:
        return Report(config, None, instant, [
            Cell(p.name, s, r, Attempt(False, None, None, f"{config.host}: no address", "connect", _engine(r)), None)
            for p, s, _, r in planned
        ], 0, loop.time() - start, skipped)
    cells_of: dict[TlsRequest, list[tuple[str, Setting, ModuleState]]] = {}
    for p, s, m, r in planned:
        cells_of.setdefault(r, []).append((p.name, s, m))
    attempts = await run_requests((r for *_, r in planned), targets, config, cells_of)
    cells = []
    for profile, setting, m, request in planned:
        attempt = attempts[request]
        code = None if attempt.code is None else reported_gtsslerr(m, attempt.code, attempt.failure)
        cells.append(Cell(profile.name, setting, request, attempt, code))
    return Report(config, targets[0], instant, cells, len(attempts), loop.time() - start, skipped)

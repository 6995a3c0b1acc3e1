"""pytest plugin (entry point ``nl668``): an emulated module, an open port on it, and the TLS lab.

Why: a host project's suite written against these fixtures runs on the
emulator in CI (in-process by default: no PTY, no socket, works on Windows)
and on hardware unchanged (``--nl668-port /dev/ttyUSB2``).

Fixtures:

* ``nl668_module``: a :class:`Nl668Target`: ``url`` (what ``serial.serial_for_url``
  opens; in-process, an ``nl668://...?attach=`` URL of this very module), ``profile``, and for an emulated module ``running`` (the
  :class:`~emulator.runtime.running.RunningModule`) and ``console`` (the
  control API); both are ``None`` on real hardware, so a test that needs them
  should ``pytest.skip`` there.
* ``nl668_serial``: an open pyserial port on that module (115200 baud, 5 s timeout).
* ``nl668_lab``: TLS/TCP/UDP endpoints on 127.0.0.1 (``{"tls_echo": (host, port), ...}``),
  from :mod:`emulator.servers.tls_servers`; their certificates are for ``www.example.test``.
* ``nl668_field_lab``: the field-failure lab (``nl668-lab``'s endpoints: ``"expired"``, ``"wrong-host"``,
  ``"alert-49"``...) as ``{scenario: (host, port)}``, for host code's failure paths.
* ``nl668_trust_pem``: the test PKI's root CA (PEM bytes), the TRUSTFILE that verifies both labs' servers.

Options: ``--nl668-profile NAME`` (default NL668_AM_00; the marker
``@pytest.mark.nl668(profile="M910", resolve=[...])`` wins per test),
``--nl668-frontend memory|pty|tcp|rfc2217`` (default memory) and
``--nl668-port URL`` (a real module). Safe under pytest-xdist: every module
and server is per test, on ephemeral ports or PTYs; no fixed port, no shared
file. Harmless when unused: nothing is imported or started until a fixture is
requested.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import serial

    from ..console import Console
    from ..runtime.running import RunningModule

FRONT_ENDS = ("memory", "pty", "tcp", "rfc2217")


@dataclass(slots=True)
class Nl668Target:
    """The module a test talks to: emulated (``running`` set) or real (``running`` None)."""

    url: str
    profile: str
    running: RunningModule | None = None

    @property
    def emulated(self) -> bool:
        return self.running is not None

    @property
    def console(self) -> Console | None:
        """The control API of an emulated module; ``None`` on hardware."""
        return None if self.running is None else self.running.console

    def open_serial(self, *, timeout: float = 5.0) -> serial.Serial:
        """A new pyserial port on the module (close it when done)."""
        if self.running is not None:
            return self.running.open_serial(timeout=timeout)
        import serial as pyserial

        return pyserial.serial_for_url(self.url, 115200, timeout=timeout)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nl668", "NL668/M910 module (emulated or real)")
    group.addoption("--nl668-profile", default=None, help="profile of the emulated module (default NL668_AM_00)")
    group.addoption(
        "--nl668-frontend", choices=FRONT_ENDS, default="memory",
        help="how tests reach the emulated module: in-process (memory, default), pty, tcp or rfc2217",
    )
    group.addoption(
        "--nl668-port", default=None, metavar="URL",
        help="run the nl668 fixtures against this real module (a device or pyserial URL) instead",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "nl668(profile=None, resolve=(), clock=None): settings of the emulated module the nl668 fixtures give",
    )


@pytest.fixture
def nl668_module(request: pytest.FixtureRequest) -> Iterator[Nl668Target]:
    """A running emulated module (or the real one of ``--nl668-port``) for one test."""
    from ..profiles import DEFAULT_PROFILE

    marker = request.node.get_closest_marker("nl668")
    settings: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    profile = settings.get("profile") or request.config.getoption("--nl668-profile") or DEFAULT_PROFILE
    real = request.config.getoption("--nl668-port")
    if real:
        yield Nl668Target(url=real, profile=profile)
        return
    from ..runtime.running import RunningModule

    running = RunningModule(
        profile,
        resolve=tuple(settings.get("resolve", ())),
        initial_clock=settings.get("clock"),
        front_end=request.config.getoption("--nl668-frontend"),
    )
    try:
        yield Nl668Target(url=running.url, profile=profile, running=running)
    finally:
        running.close()


@pytest.fixture
def nl668_serial(nl668_module: Nl668Target) -> Iterator[serial.Serial]:
    """An open pyserial port on ``nl668_module``."""
    port = nl668_module.open_serial()
    try:
        yield port
    finally:
        port.close()


@pytest.fixture
def nl668_lab() -> Iterator[dict[str, tuple[str, int]]]:
    """Local peers for the module's sockets: ``tls_echo``, ``tcp_echo``, ``udp_echo`` -> (host, port)."""
    from ..servers.tls_servers import TcpServer, TlsServer, UdpEchoServer

    servers: dict[str, Any] = {"tls_echo": TlsServer(), "tcp_echo": TcpServer(), "udp_echo": UdpEchoServer()}
    started: list[Any] = []
    try:
        for server in servers.values():
            server.start()
            started.append(server)
        yield {name: (server.host, server.port) for name, server in servers.items()}
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def nl668_field_lab() -> Iterator[dict[str, tuple[str, int]]]:
    """Every scenario of the field-failure lab on 127.0.0.1: ``{scenario name: (host, port)}``."""
    from ..lab.server import Lab

    with Lab() as lab:
        yield {e.scenario.name: (e.host, e.port) for e in lab.endpoints}


@pytest.fixture
def nl668_trust_pem() -> bytes:
    """The root CA that verifies the labs' servers, for ``AT+GTSSLFILE="TRUSTFILE",<len>``."""
    from ..servers.pki import cert_bytes

    return cert_bytes("root-ca.pem")

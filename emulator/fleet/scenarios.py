"""The ready-made fleet scenarios and their settings, without Locust (the user class only schedules them).

* ``tls-connect``: connect, verify (with a trust file), close; again at ``rate`` a second per module (0: back
  to back). Handshake storms: what a backend's TLS front end takes.
* ``tls-echo``: one socket per module kept open, ``rate`` echo round trips a second on it (``payload``
  bytes each); a lost socket is reopened (and the loss reported).
* ``reconnect-storm``: one socket per module; every ``storm_period`` seconds of wall-clock time (aligned,
  so every module of every worker on synchronised clocks drops at once) the network drops each module's
  PDP context (the console's ``pdp-drop``) and the module's driver reconnects: ``+MIPCALL=1``, then
  ``+MIPOPEN`` again; reported as ``TLS reconnect`` from the drop to ``+MIPOPEN: <s>,1``.

Where the modules connect is only what the user gives: the target (Locust's ``--host``, e.g.
``tls://broker.example.test:8883``; default ``tls://127.0.0.1:443``) and ``--nl668-resolve`` rules.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..hostport import parse_host_port
from .module import FleetModule

SCENARIOS = ("tls-connect", "tls-echo", "reconnect-storm")
DEFAULT_TARGET = "tls://127.0.0.1:443"


def parse_target(text: str | None) -> tuple[str, int]:
    """``tls://HOST:PORT``, ``HOST:PORT`` (port 443 if absent; ``ssl://`` as ``tls://``) -> (host, port)."""
    text = (text or DEFAULT_TARGET).strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tls", text
    if scheme.lower() not in ("tls", "ssl"):
        raise ValueError(f"the target is tls://HOST:PORT, not {text!r}")
    # Locust users write --host as a URL: a trailing "/" is no path, anything more is
    rest = rest[:-1] if rest.endswith("/") else rest
    if "/" in rest:
        raise ValueError(f"the target is tls://HOST:PORT, without a path: not {text!r}")
    host, port = parse_host_port(rest, default_port=443)
    return host.lower(), port  # lower case, as urlsplit's hostname gave it before (DNS ignores case)


def parse_mix(text: str) -> list[tuple[str, float]]:
    """``NL668_EU_00:70,M910:30`` -> [(profile, weight)]; a name without weight counts 1."""
    mix = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition(":")
        value = float(weight) if weight else 1.0
        if value <= 0:
            raise ValueError(f"a profile weight must be positive: {item!r}")
        mix.append((name.strip(), value))
    if not mix:
        raise ValueError("no profile in the mix")
    return mix


class ProfileMix:
    """Deals profiles to modules in proportion (smooth weighted round robin: exact at every multiple)."""

    def __init__(self, mix: list[tuple[str, float]]) -> None:
        self.mix = mix
        self._current = [0.0] * len(mix)
        self._total = sum(weight for _, weight in mix)

    def next(self) -> str:
        for i, (_, weight) in enumerate(self.mix):
            self._current[i] += weight
        best = max(range(len(self.mix)), key=lambda i: self._current[i])
        self._current[best] -= self._total
        return self.mix[best][0]


@dataclass
class Settings:
    """One fleet run's parameters (Locust's ``--nl668-*`` options, or the environment)."""

    scenario: str = "tls-connect"
    profiles: str = "NL668_AM_00"
    trust: list[Path] = field(default_factory=list)
    resolve: list[str] = field(default_factory=list)
    rate: float = 1.0
    payload: int = 16
    storm_period: float = 10.0
    setup_at: list[str] = field(default_factory=list)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario is one of {', '.join(SCENARIOS)}, not {self.scenario!r}")
        parse_mix(self.profiles)

    @classmethod
    def from_text(cls, *, scenario: str, profiles: str, trust: str = "", resolve: str = "", rate: float = 1.0,
                  payload: int = 16, storm_period: float = 10.0, setup_at: str = "", timeout: float = 30.0) -> Settings:
        """From option strings: comma-separated trust files and resolve rules, ``|``-separated AT lines."""
        return cls(scenario=scenario, profiles=profiles,
                   trust=[Path(p.strip()) for p in trust.split(",") if p.strip()],
                   resolve=[r.strip() for r in resolve.split(",") if r.strip()], rate=rate, payload=payload,
                   storm_period=storm_period, setup_at=[a.strip() for a in setup_at.split("|") if a.strip()],
                   timeout=timeout)


class Session:
    """One module running a scenario: :meth:`start`, then :meth:`step` when :meth:`delay` has passed."""

    def __init__(self, module: FleetModule, settings: Settings, target: tuple[str, int]) -> None:
        self.module = module
        self.settings = settings
        self.server, self.port = target
        self.open = False
        self._next = 0.0
        self._payload = os.urandom(max(1, settings.payload) // 2 + 1).hex().encode()[: max(1, settings.payload)]

    def start(self) -> None:
        """The driver's bring-up: setup lines, trust files (verification on), PDP context, first socket."""
        for line in self.settings.setup_at:
            self.module.at(line)
        for path in self.settings.trust:
            try:
                pem = path.read_bytes()
            except OSError as exc:
                # The fleet's own file, not the module: named as such in Locust's failure table (the module is
                # left without it, so its later handshakes fail as a module without a trust file does).
                self.module.report("AT", "AT+GTSSLFILE=", 0.0, 0, f"--nl668-trust {path}: {exc.strerror or exc}")
                raise
            self.module.load_trust(pem)
        self.module.attach()
        if self.settings.scenario != "tls-connect":
            self.open = self.module.open_tls(self.server, self.port)
        period = self._period()
        self._next = time.monotonic() + (random.random() * period if period else 0.0)  # spread the phases

    def _period(self) -> float:
        return 1.0 / self.settings.rate if self.settings.rate > 0 else 0.0

    def delay(self) -> float:
        """Seconds until the next step (wall-clock aligned for the storm)."""
        if self.settings.scenario == "reconnect-storm":
            period = self.settings.storm_period
            return period - time.time() % period
        return max(0.0, self._next - time.monotonic())

    def step(self) -> None:
        self._next = max(self._next + self._period(), time.monotonic() - 1.0)  # no burst to catch up after a stall
        match self.settings.scenario:
            case "tls-connect":
                if self.module.open_tls(self.server, self.port):
                    self.module.close_tls()
                else:
                    self.module.reset_link()  # a timed-out open may still be in progress
            case "tls-echo":
                if not self.open:
                    self.module.reset_link()
                    self.open = self.module.open_tls(self.server, self.port)
                elif not self.module.echo(self._payload):
                    self.open = False  # the socket went or hung (reported): closed and reopened next step
            case "reconnect-storm":
                # timed from the storm's instant, so a module whose drop ran late still counts its wait
                late = time.time() % self.settings.storm_period
                late = late if late < self.settings.storm_period / 2 else 0.0
                self.open = self.module.reconnect_after_drop(self.server, self.port, late=late)

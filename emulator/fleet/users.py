"""The Locust user: one emulated module per user, running a scenario, reporting to Locust's statistics.

Importing this module registers the ``--nl668-*`` options with Locust (each also read from an environment
variable, e.g. ``NL668_SCENARIO``); Locust forwards them from the master to its workers. A fleet test of
your own subclasses :class:`ModuleUser` and writes tasks against ``self.module`` (a
:class:`~emulator.fleet.module.FleetModule`)::

    class Tracker(ModuleUser):
        @task
        def publish(self) -> None:
            self.module.at('AT+MIPOPEN=1,,"broker.example.test",8883,2')
            ...

Every AT exchange and every network outcome becomes a Locust request (type ``AT`` or ``TLS``), its failures
named by what the module said (``+GTSSLERR: 48``, ``+MIPSTAT: 1,1``, ``timeout``).
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

from locust import User, events, task

from ..at_client import AtError
from .hosting import ModuleHost, worker_first_index
from .module import FleetModule
from .scenarios import DEFAULT_TARGET, SCENARIOS, ProfileMix, Session, Settings, parse_mix, parse_target

logger = logging.getLogger(__name__)
# Locust logs at INFO; the emulator's INFO lines (one per socket event, per module) would drown its output.
# NL668_LOGLEVEL=INFO (or DEBUG) brings them back.
logging.getLogger("emulator").setLevel(os.environ.get("NL668_LOGLEVEL", "WARNING").upper())

#: the option defaults are the Settings' own, so a run without an option behaves as Settings() does
_DEFAULTS = Settings()
_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--nl668-scenario", dict(choices=SCENARIOS, default=_DEFAULTS.scenario, env_var="NL668_SCENARIO",
                              help="tls-connect | tls-echo | reconnect-storm")),
    ("--nl668-profiles", dict(default=_DEFAULTS.profiles, env_var="NL668_PROFILES",
                              help="profile mix, e.g. NL668_EU_00:70,M910:30")),
    ("--nl668-trust", dict(default="", env_var="NL668_TRUST",
                           help="PEM trust file(s), comma-separated: uploaded as TRUSTFILE, +GTSSLMODE=1")),
    ("--nl668-resolve", dict(default="", env_var="NL668_RESOLVE",
                             help="HOST[:PORT]=ADDR[:PORT] rules, comma-separated (as nl668-emu --resolve)")),
    ("--nl668-rate", dict(type=float, default=_DEFAULTS.rate, env_var="NL668_RATE",
                          help="connects (tls-connect) or round trips (tls-echo) a second per module; 0: back to back")),
    ("--nl668-payload", dict(type=int, default=_DEFAULTS.payload, env_var="NL668_PAYLOAD",
                             help="bytes per echo round trip")),
    ("--nl668-storm-period", dict(type=float, default=_DEFAULTS.storm_period, env_var="NL668_STORM_PERIOD",
                                  help="reconnect-storm: seconds between PDP drops (wall-clock aligned)")),
    ("--nl668-at", dict(default="", env_var="NL668_AT",
                        help="AT lines each module runs first, |-separated (e.g. AT+GTSSLVER=4;+GTSSLCIPHER=7,1)")),
    ("--nl668-timeout", dict(type=float, default=_DEFAULTS.timeout, env_var="NL668_TIMEOUT",
                             help="AT and URC deadline, s")),
]


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("NL668 fleet (emulator.fleet)")
    for flag, kwargs in _OPTIONS:
        group.add_argument(flag, **kwargs)


def settings_from(options: Any) -> Settings:
    """The run's :class:`Settings` from Locust's parsed options (defaults for options it lacks)."""

    def get(name: str, default: Any) -> Any:
        return getattr(options, f"nl668_{name}", default)

    d = _DEFAULTS
    return Settings.from_text(
        scenario=get("scenario", d.scenario), profiles=get("profiles", d.profiles), trust=get("trust", ""),
        resolve=get("resolve", ""), rate=float(get("rate", d.rate)), payload=int(get("payload", d.payload)),
        storm_period=float(get("storm_period", d.storm_period)), setup_at=get("at", ""),
        timeout=float(get("timeout", d.timeout)),
    )


_mixes: dict[str, ProfileMix] = {}


def _next_profile(mix: str) -> str:
    """Profiles dealt in proportion across the users of this process."""
    if mix not in _mixes:
        _mixes[mix] = ProfileMix(parse_mix(mix))
    return _mixes[mix].next()


class ModuleUser(User):
    """A Locust user whose client is an emulated module (in this process, on the module loop thread)."""

    abstract = True
    #: the default target; Locust's ``--host`` overrides it
    host = DEFAULT_TARGET

    module: FleetModule

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.settings = settings_from(environment.parsed_options)
        self.target = parse_target(self.host)

    def on_start(self) -> None:
        """Power the module on (here, in the user's own greenlet: Locust builds users one after another)."""
        # Module indexes (so IMEI, IMSI, ICCID) are global: worker w's modules count from w * WORKER_STRIDE.
        # Locust tells a worker its index before it spawns users; a local run is worker 0.
        runner = self.environment.runner
        ModuleHost.shared().first_index = worker_first_index(getattr(runner, "worker_index", 0))
        self.module = FleetModule(_next_profile(self.settings.profiles), resolve=self.settings.resolve,
                                  report=self._report, timeout=self.settings.timeout)
        # Modules live as long as the run: move what exists to the permanent generation, so that a full
        # collection (holding the GIL, both the users and the module loop stop) walks only what is new.
        gc.freeze()

    def _report(self, request_type: str, name: str, ms: float, length: int, failure: str | None) -> None:
        self.environment.events.request.fire(request_type=request_type, name=name, response_time=ms,
                                             response_length=length, exception=failure, context={})

    def on_stop(self) -> None:
        if hasattr(self, "module"):
            self.module.close()


class FleetUser(ModuleUser):
    """The shipped scenarios (``--nl668-scenario``), paced by ``--nl668-rate`` / ``--nl668-storm-period``."""

    def on_start(self) -> None:
        super().on_start()
        self.session = Session(self.module, self.settings, self.target)
        try:
            self.session.start()
        except (AtError, TimeoutError, OSError, ValueError) as exc:  # reported by the AT layer already
            logger.warning("module bring-up failed: %s", exc)
        self.wait()  # Locust runs a user's first task at once: wait for its phase (or the storm) first

    def wait_time(self) -> float:
        return self.session.delay()

    @task
    def step(self) -> None:
        self.session.step()

"""Everything one module remembers, as plain data, and what a power cycle keeps.

Volatile (lost on ``AT+CFUN=1,1`` / ``AT+CFUN=15`` / power-down): the SSL
settings and every certificate (manual §1.1.4 note; fibocom-tcpip.md §9), the
V.250 settings not saved with ``AT&W``, the PDP contexts, +CFUN.

Kept (chosen): the ``AT&W`` profile (non-volatile memory) and the real-time
clock, which runs on from the last ``AT+CCLK`` across resets as an RTC does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone

from .at_replies import V250Settings
from .cert_store import CertStore
from .clock import Clock
from .links import Link
from .profile import Profile


@dataclass(slots=True)
class SslSettings:
    """+GTSSLMODE, +GTSSLVER, +GTSSLCIPHER and the last +GTSSLERR (manual §1.2-1.5)."""

    mode: int = 0  #: §1.2.4: 0, no verification, is the default
    version: int = 2  #: §1.4.4: TLS 1.0 is the default
    enabled_ciphers: set[int] = field(default_factory=set)  #: empty: the variant's defaults apply
    last_error: int | None = None  #: None: the last connection had no error (§1.3.2)


@dataclass(slots=True)
class PdpContext:
    """A +CGDCONT entry (27.007 §10.1.1)."""

    pdp_type: str
    apn: str


@dataclass(slots=True)
class PingJob:
    """The ``+MPING`` request being run: its parameters and the running counts."""

    host: str
    count: int
    size: int
    ttl: int
    tos: int
    timeout_ms: int
    probe: int  #: the ``PingHost`` in flight, or the next one while the interval runs
    address: str | None = None  #: the target's address, from the first answer
    sent: int = 0
    received: int = 0
    rtt_total_ms: int = 0


class ModuleClock:
    """The module's RTC: host time plus an offset set by ``--clock`` or ``AT+CCLK``.

    The zone (``±zz`` in quarter hours) is kept only for display: the instant
    is what certificate checks use.
    """

    def __init__(self, clock: Clock, initial: datetime | None) -> None:
        self._clock = clock
        self.offset = timedelta(0)
        self.zone_quarters = 0
        if initial is not None:
            self.set_utc(initial)

    def utc_now(self) -> datetime:
        return self._clock.utc_now() + self.offset

    def set_utc(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=timezone.utc)
        self.offset = instant - self._clock.utc_now()

    def local_now(self) -> datetime:
        return self.utc_now() + timedelta(minutes=15 * self.zone_quarters)


class ModuleState:
    """The state handlers read and change. Built by :class:`~emulator.core.module.Module`."""

    def __init__(self, profile: Profile, clock: ModuleClock) -> None:
        self.profile = profile
        self.clock = clock
        self.saved_v250: V250Settings | None = None  # AT&W, survives resets
        self.v250 = self.factory_v250()
        self.ssl = SslSettings()
        self.certs = CertStore(trust_files_max=profile.files.trust_files_max)
        self.pdp: dict[int, PdpContext] = {}
        self.cfun = 1
        self.baud = 115200
        self.reg_urc_mode: dict[str, int] = {}
        self.cops_format = 2
        self.iprfmt = 0  # AT+GTSET="IPRFMT": kept across power-off (fibocom-tcpip.md §2, M)
        self.pdp_active = False
        self.links: dict[int, Link] = {}
        self.push_settings: dict[int, tuple[int, int]] = {}  # socket id -> (+MIPSETS size, timeout ms)
        # The "why" side channel (issue 4): the reason behind the last link event (verify error,
        # alert and who sent it, negotiated suite). Never said to the host; kept across resets
        # because a harness reads it after the fact.
        self.last_why: str = ""
        #: the last socket failure with a reason (link, gtsslerr, why, event), for the console's ``why``
        self.last_failure: dict[str, object] = {}
        self.dns_queries = 0
        # +MPING / +MIPNTP: one request of each at a time; the counters keep ids unique across resets so a
        # late answer to a request from before a reset is never taken for a new one.
        self.ping: PingJob | None = None
        self.probes = 0
        self.ntp_query: int | None = None
        self.ntp_queries = 0
        #: socket ids reported ended (+MIPSTAT, +MIPOPEN: <s>,0) and not closed by the host since -> close type
        self.peer_ended: dict[int, int] = {}
        #: +MIPCONF per socket id: (retr_num, min_TO, max_TO, max_close_delay, is_nack_ind_req)
        self.mipconf: dict[int, tuple[int, int, int, int, int]] = {}
        # Radio conditions set from the console (emulator.core.control); None: the profile's value.
        # The world outside, so a power cycle keeps them.
        self.rssi_override: int | None = None
        self.ber_override: int | None = None
        self.registration_override: int | None = None
        self.power_cycle()

    def factory_v250(self) -> V250Settings:
        return V250Settings(echo=self.profile.at.echo_default)

    def restore_v250(self, settings: V250Settings) -> None:
        """Copy ``settings`` into the live object (the reader and replies hold a reference to it)."""
        for f in fields(V250Settings):
            setattr(self.v250, f.name, getattr(settings, f.name))

    def power_cycle(self) -> None:
        """Forget all that is volatile (see the module docstring)."""
        self.restore_v250(replace(self.saved_v250) if self.saved_v250 else self.factory_v250())
        self.ssl = SslSettings(version=self.profile.ssl.default_version)
        self.certs = CertStore(trust_files_max=self.profile.files.trust_files_max)
        self.pdp = {1: PdpContext("IP", self.profile.network.apn)}
        self.cfun = 1
        self.reg_urc_mode = {"+CREG": 0, "+CGREG": 0, "+CEREG": 0}
        self.cops_format = 2
        self.pdp_active = False
        self.links = {}
        self.push_settings = {}
        self.ping = None
        self.ntp_query = None
        self.peer_ended = {}
        self.mipconf = {}

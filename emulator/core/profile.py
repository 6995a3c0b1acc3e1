"""A product variant as data: what differs between NL668/M910 firmware builds.

Profiles are read from ``profiles/*.toml`` by :func:`emulator.profiles.load_profile`
(the edge), parsed and validated by :mod:`emulator.core.profile_parse` (pure).
Every table of a profile file carries a ``source`` (a manual section, or
``"chosen: ..."`` for our own decision); :attr:`Profile.sources` keeps them so
tests and docs can show where each fact comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .codes import FailureClass

ContentCheck = Literal["parse", "armour", "none"]
NonAtLine = Literal["ignore", "error"]
DataAfterCr = Literal["lf-is-terminator", "lf-is-data"]
OpenFailure = Literal["mipopen", "mipstat"]
PeerClose = Literal["mipstat", "mipclose"]
CloseAfterEnd = Literal["ok", "error"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Identity:
    """What ``ATI``, ``+CGMI``, ``+CGMM``, ``+CGMR``, ``+CGSN``, ``+CIMI`` and ``+CCID`` answer."""

    manufacturer: str
    model: str
    revision: str
    imei: str
    imsi: str
    iccid: str
    ati: tuple[str, ...]  #: the information lines of ``ATI``, in order


@dataclass(frozen=True, kw_only=True, slots=True)
class SslFacts:
    """The SSL command set as this variant has it (manual §1.4.4 and §1.5.4)."""

    versions: frozenset[int]  #: accepted ``+GTSSLVER`` values; 0 = "not set" where the firmware has it (L610)
    default_version: int  #: what ``+GTSSLVER?`` answers at power-on
    default_ciphers: tuple[int, ...]  #: loaded at connect time when no id is enabled
    optional_ciphers: tuple[int, ...]  #: "other non-default algorithms"

    @property
    def highest_version(self) -> int:
        """The newest protocol the variant speaks: what a connection uses while ``+GTSSLVER`` is 0 (chosen)."""
        return max(self.versions)

    @property
    def supported_ciphers(self) -> tuple[int, ...]:
        """Every cipher id the variant knows, ascending (what ``+GTSSLCIPHER=255,1`` enables)."""
        return tuple(sorted({*self.default_ciphers, *self.optional_ciphers}))


@dataclass(frozen=True, kw_only=True, slots=True)
class FileLimits:
    """Limits of ``+GTSSLFILE`` (manual §1.1.2, §1.1.4)."""

    file_len_min: int
    file_len_max: int
    trust_files_max: int
    data_timeout_s: float  #: inactivity timeout after the ``>`` prompt
    content_check: ContentCheck  #: how strictly an uploaded file is checked before it is stored


@dataclass(frozen=True, kw_only=True, slots=True)
class AtFacts:
    """Command-line behaviour (V.250) where builds differ or the manual is silent."""

    line_max: int  #: longest command line kept; a longer one is discarded with ERROR
    echo_default: bool  #: E1 at power-on
    echo_data: bool  #: whether bytes typed after the ``>`` prompt are echoed
    prompt: str  #: the exact bytes of the data prompt
    non_at_line: NonAtLine  #: what a terminated line without the ``AT`` prefix gets
    #: a prompting line ended with CR and the first byte after it is LF: the CR LF's LF (swallowed) or data
    data_after_cr: DataAfterCr = "lf-is-terminator"


@dataclass(frozen=True, kw_only=True, slots=True)
class BootFacts:
    """Power-on behaviour."""

    urcs: tuple[str, ...]  #: unsolicited lines after power-on and after a reset
    reboot_s: float  #: how long a reset (``AT+CFUN=1,1``) keeps the module deaf


@dataclass(frozen=True, kw_only=True, slots=True)
class NetworkFacts:
    """The emulated radio network the general commands report."""

    operator_numeric: str  #: MCC+MNC for ``+COPS?``
    operator_name: str  #: long alphanumeric name
    access_technology: int  #: ``<AcT>`` of ``+COPS?`` (7 = E-UTRAN)
    rssi: int  #: first field of ``+CSQ``
    ber: int  #: second field of ``+CSQ``
    registration: int  #: ``<stat>`` of ``+CREG/+CGREG/+CEREG`` (1 = home)
    apn: str  #: APN of PDP context 1 at power-on
    local_ip: str  #: address ``+MIPCALL`` reports


@dataclass(frozen=True, kw_only=True, slots=True)
class SocketFacts:
    """The TCP/IP stack's shape and the URC habits firmware builds differ in (fibocom-tcpip.md §4-8)."""

    first_id: int
    last_id: int
    send_buffer: int  #: bytes one socket buffers; ``+MIPSEND`` reports what is free
    push_size: int  #: default ``+MIPSETS`` watermark
    urc_chunk: int  #: most payload bytes one ``+MIPRTCP`` / ``+MIPDATA`` carries
    open_timeout_s: float  #: connect + handshake; then ``+MIPOPEN: <s>,0``
    result_before_ok: bool  #: ``+MIPOPEN: <s>,1`` before the ``OK`` (G610 "A20" builds)
    open_failure: OpenFailure  #: ``+MIPOPEN: <s>,0`` or ``+MIPSTAT: <s>,1``
    close_type_tls: int  #: ``<type>`` of ``+MIPCLOSE`` after closing an SSL socket
    close_type_tcp: int  #: ... a TCP or UDP socket
    peer_close: PeerClose  #: ``+MIPSTAT: <s>,2`` or ``+MIPCLOSE: <s>,<type>`` when the peer closes
    push_after_send: bool  #: add ``+MIPPUSH: <s>,0`` after a length-form ``+MIPSEND``
    #: ``+MIPCLOSE`` on a socket already reported ended (+MIPSTAT, +MIPOPEN: <s>,0): ``OK`` + URC, or an error
    close_after_end: CloseAfterEnd = "ok"
    mipconf: bool = False  #: the firmware has ``+MIPCONF`` (G-series TCP tuning); plain ``ERROR`` otherwise


@dataclass(frozen=True, kw_only=True, slots=True)
class GtsslErrTable:
    """What ``+GTSSLERR`` reports for each failure class (docs/GTSSLERR.md).

    A class mapped to ``None`` reports the NL668 code as the engine found it
    (the alert number, 152, 153...: manual §1.3.4); an integer replaces it
    (the L610's -11, -19...). A profile without a ``[gtsslerr]`` table gets
    :data:`NL668_GTSSLERR`: every class reports the NL668 code.
    """

    codes: Mapping[FailureClass, int | None]

    def report(self, failure: FailureClass, nl668_code: int) -> int:
        """The number ``+GTSSLERR`` shows for a failure of class ``failure`` whose NL668 code is ``nl668_code``."""
        code = self.codes.get(failure)
        return nl668_code if code is None else code


#: The default: the manual's own numbers for every class.
NL668_GTSSLERR: GtsslErrTable = GtsslErrTable(codes={failure: None for failure in FailureClass})


@dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    """One product variant. Build with :func:`emulator.core.profile_parse.parse_profile`."""

    name: str
    family: str
    description: str
    identity: Identity
    ssl: SslFacts
    files: FileLimits
    at: AtFacts
    boot: BootFacts
    network: NetworkFacts
    sockets: SocketFacts
    #: ``+GTSSLERR`` numbers per failure class; optional in the file (default: the NL668's)
    gtsslerr: GtsslErrTable = NL668_GTSSLERR
    #: table name (e.g. ``"ssl"``) -> its ``source`` text, after inheritance
    sources: Mapping[str, str] = field(default_factory=dict)

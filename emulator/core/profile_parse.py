"""Profile TOML, already decoded to a mapping, turned into a validated :class:`Profile`.

Theory of operation: :func:`parse_profile` is pure. The edge
(:mod:`emulator.profiles`) reads the files and hands over two mappings: the
variant and, when the variant says ``based_on = "<FAMILY>"``, that family
file. Inheritance is one level deep and works table by table: each of
:data:`TABLES` comes *whole* from the variant if the variant has it, else
whole from the family. A table is never merged key by key, so each table
can be read on its own and its ``source`` covers every key in it.

Validation is strict because a profile is the emulator's only claim about a
real device: unknown keys, missing keys and wrong types (``true`` is not an
integer) are refused, and every refusal is a :class:`ProfileError` naming the
file that supplied the table and the ``$.table.key[i]`` path of the field.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
from collections.abc import Collection, Mapping
from dataclasses import MISSING, fields
from types import MappingProxyType
from typing import Any, Final, NoReturn, cast

from .codes import FailureClass
from .errors import ProfileError
from .identity import luhn_ok
from .profile import (
    NL668_GTSSLERR,
    AtFacts,
    BootFacts,
    CloseAfterEnd,
    ContentCheck,
    DataAfterCr,
    FileLimits,
    GtsslErrTable,
    Identity,
    NetworkFacts,
    NonAtLine,
    OpenFailure,
    PeerClose,
    Profile,
    SocketFacts,
    SslFacts,
)

SCHEMA: Final = 1
#: the tables of a profile, in file order; each one carries a ``source``
TABLES: Final = ("identity", "ssl", "files", "at", "boot", "network", "sockets", "gtsslerr")
#: tables a profile may leave out (in the variant and its family): they then take this source and value
OPTIONAL_TABLES: Final[Mapping[str, tuple[str, Any]]] = MappingProxyType({
    "gtsslerr": ("manual §1.3.4: the NL668 codes (alert numbers, 150-155) for every failure class (default)",
                 NL668_GTSSLERR),
})

_VARIANT_KEYS: Final = frozenset({"schema", "name", "family", "description", "based_on", *TABLES})
_FAMILY_KEYS: Final = frozenset({"schema", "family", "description", *TABLES})

#: ``+GTSSLVER`` values (manual §1.4.4); 0 is "not set", which the L610 answers at power-on (issue 11)
SSL_VERSION_IDS: Final = frozenset({0, 1, 2, 3, 4})
#: what a ``[gtsslerr]`` value may say instead of a number: report the NL668 code unchanged
GTSSLERR_NL668: Final = "nl668"
#: the numbers a ``[gtsslerr]`` value may replace a code with: never 0, which means "no error" (§1.3.4)
_GTSSLERR_RANGE: Final = range(-255, 256)
#: ``<cipalgID>`` values that name one algorithm (manual §1.5.4); 0 and 255 are selectors
CIPHER_IDS: Final = range(1, 11)
CONTENT_CHECKS: Final = ("parse", "armour", "none")
NON_AT_LINES: Final = ("ignore", "error")
DATA_AFTER_CR: Final = ("lf-is-terminator", "lf-is-data")
OPEN_FAILURES: Final = ("mipopen", "mipstat")
PEER_CLOSES: Final = ("mipstat", "mipclose")
CLOSES_AFTER_END: Final = ("ok", "error")

# V.250 needs room for at least 40 characters after "AT"; 16 keeps the
# shortest useful commands (AT+GTSSLVER=4) and still catches unit mix-ups.
_LINE_MAX_MIN: Final = 16
_SOCKET_ID_MAX: Final = 32


# --- typed readers ---------------------------------------------------------


def _fail(where: str, path: str, why: str) -> NoReturn:
    raise ProfileError(where, path, why)


def _kind(value: object) -> str:
    """Names a TOML value's type the way a profile author knows it."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"


def _get(table: Mapping[str, Any], key: str, path: str, where: str) -> Any:
    if key not in table:
        _fail(where, f"{path}.{key}", "missing")
    return table[key]


def _as_str(value: object, path: str, where: str, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        _fail(where, path, f"expected a string, got {_kind(value)}")
    if not empty_ok and not value:
        _fail(where, path, "must not be empty")
    return value


def _as_int(value: object, path: str, where: str) -> int:
    # bool is a subclass of int; a profile saying `rssi = true` is a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, path, f"expected an integer, got {_kind(value)}")
    return value


def _str(table: Mapping[str, Any], key: str, path: str, where: str, *, empty_ok: bool = False) -> str:
    return _as_str(_get(table, key, path, where), f"{path}.{key}", where, empty_ok=empty_ok)


def _int(
    table: Mapping[str, Any],
    key: str,
    path: str,
    where: str,
    allowed: Collection[int] | None = None,
    allowed_text: str = "",
) -> int:
    value = _as_int(_get(table, key, path, where), f"{path}.{key}", where)
    if allowed is not None and value not in allowed:
        _fail(where, f"{path}.{key}", f"{value} is not {allowed_text}")
    return value


def _bool(table: Mapping[str, Any], key: str, path: str, where: str) -> bool:
    value = _get(table, key, path, where)
    if not isinstance(value, bool):
        _fail(where, f"{path}.{key}", f"expected a boolean, got {_kind(value)}")
    return value


def _float(table: Mapping[str, Any], key: str, path: str, where: str) -> float:
    """Reads seconds: TOML authors write ``12`` as often as ``12.0``."""
    value = _get(table, key, path, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(where, f"{path}.{key}", f"expected a number, got {_kind(value)}")
    if not math.isfinite(value):
        _fail(where, f"{path}.{key}", f"{value} is not a finite number")
    return float(value)


def _list(table: Mapping[str, Any], key: str, path: str, where: str) -> list[Any]:
    value = _get(table, key, path, where)
    if not isinstance(value, list):
        _fail(where, f"{path}.{key}", f"expected an array, got {_kind(value)}")
    return value


def _int_list(
    table: Mapping[str, Any],
    key: str,
    path: str,
    where: str,
    allowed: Collection[int],
    allowed_text: str,
) -> tuple[int, ...]:
    """Reads a list of distinct ids; a repeated id is a typo, not a weight."""
    out: list[int] = []
    for i, item in enumerate(_list(table, key, path, where)):
        item_path = f"{path}.{key}[{i}]"
        value = _as_int(item, item_path, where)
        if value not in allowed:
            _fail(where, item_path, f"{value} is not {allowed_text}")
        if value in out:
            _fail(where, item_path, f"{value} is listed twice")
        out.append(value)
    return tuple(out)


def _str_list(table: Mapping[str, Any], key: str, path: str, where: str, *, empty_ok: bool) -> tuple[str, ...]:
    items = _list(table, key, path, where)
    if not items and not empty_ok:
        _fail(where, f"{path}.{key}", "must not be empty")
    return tuple(_as_str(item, f"{path}.{key}[{i}]", where) for i, item in enumerate(items))


def _choice(table: Mapping[str, Any], key: str, path: str, where: str, choices: tuple[str, ...]) -> str:
    value = _str(table, key, path, where)
    if value not in choices:
        _fail(where, f"{path}.{key}", f"{value!r} is not one of {', '.join(map(repr, choices))}")
    return value


def _check_keys(
    table: Mapping[str, Any], path: str, where: str, known: Collection[str], required: Collection[str]
) -> None:
    """Refuses unknown keys first: a misspelt key also explains the 'missing' one."""
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"
            _fail(where, f"{path}.{key}", f"unknown key{hint}")
    for key in sorted(required):
        if key not in table:
            _fail(where, f"{path}.{key}", "missing")


def _digits(value: str, path: str, where: str, lengths: Collection[int], what: str) -> str:
    # str.isdigit() alone would accept '²' and other non-ASCII digits.
    if not (value.isascii() and value.isdigit() and len(value) in lengths):
        _fail(where, path, f"{value!r} is not {what}")
    return value


# --- tables ----------------------------------------------------------------

_TABLE_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "identity": frozenset({"manufacturer", "model", "revision", "imei", "imsi", "iccid", "ati"}),
    "ssl": frozenset({"versions", "default_version", "default_ciphers", "optional_ciphers"}),
    "files": frozenset({"file_len_min", "file_len_max", "trust_files_max", "data_timeout_s", "content_check"}),
    "at": frozenset({"line_max", "echo_default", "echo_data", "prompt", "non_at_line", "data_after_cr"}),
    "boot": frozenset({"urcs", "reboot_s"}),
    "network": frozenset(
        {"operator_numeric", "operator_name", "access_technology", "rssi", "ber", "registration", "apn", "local_ip"}
    ),
    "sockets": frozenset(
        {
            "first_id", "last_id", "send_buffer", "push_size", "urc_chunk", "open_timeout_s",
            "result_before_ok", "open_failure", "close_type_tls", "close_type_tcp", "peer_close", "push_after_send",
            "close_after_end", "mipconf",
        }
    ),
    "gtsslerr": frozenset(failure.value for failure in FailureClass),
}


def _field_defaults(facts: type) -> Mapping[str, Any]:
    """The defaults ``facts`` (a profile dataclass) declares, by field name."""
    return MappingProxyType({f.name: f.default for f in fields(facts) if f.default is not MISSING})


#: keys added after profiles were written: a table may leave them out and then reads as if it said the
#: field's default (profile.py holds the one copy of each default)
_OPTIONAL_KEYS: Final[Mapping[str, Mapping[str, Any]]] = {
    "at": _field_defaults(AtFacts), "sockets": _field_defaults(SocketFacts),
}


def _identity(t: Mapping[str, Any], p: str, w: str) -> Identity:
    imei = _digits(_str(t, "imei", p, w), f"{p}.imei", w, {15}, "15 digits")
    if not luhn_ok(imei):
        _fail(w, f"{p}.imei", f"{imei!r} fails the Luhn check digit (3GPP TS 23.003 §6.2.1)")
    imsi = _digits(_str(t, "imsi", p, w), f"{p}.imsi", w, range(6, 16), "6 to 15 digits")
    iccid = _str(t, "iccid", p, w)
    if not iccid.startswith("89"):
        _fail(w, f"{p}.iccid", f"{iccid!r} does not start with 89 (ITU-T E.118 telecom prefix)")
    _digits(iccid, f"{p}.iccid", w, {19, 20}, "19 or 20 digits")
    return Identity(
        manufacturer=_str(t, "manufacturer", p, w),
        model=_str(t, "model", p, w),
        revision=_str(t, "revision", p, w),
        imei=imei,
        imsi=imsi,
        iccid=iccid,
        ati=_str_list(t, "ati", p, w, empty_ok=False),
    )


def _ssl(t: Mapping[str, Any], p: str, w: str) -> SslFacts:
    versions = _int_list(t, "versions", p, w, SSL_VERSION_IDS, "an SSL version id (0 not set, 1-4)")
    if not set(versions) - {0}:
        _fail(w, f"{p}.versions", "must name at least one protocol (1-4); 0 alone cannot connect")
    default_version = _int(t, "default_version", p, w, versions, f"in versions {list(versions)}")
    cipher_text = "a cipher algorithm id (1-10)"
    default_ciphers = _int_list(t, "default_ciphers", p, w, CIPHER_IDS, cipher_text)
    if not default_ciphers:
        _fail(w, f"{p}.default_ciphers", "must not be empty (the module loads these when no id is enabled)")
    optional_ciphers = _int_list(t, "optional_ciphers", p, w, CIPHER_IDS, cipher_text)
    for i, cipher in enumerate(optional_ciphers):
        if cipher in default_ciphers:
            _fail(w, f"{p}.optional_ciphers[{i}]", f"{cipher} is also in default_ciphers")
    return SslFacts(
        versions=frozenset(versions),
        default_version=default_version,
        default_ciphers=default_ciphers,
        optional_ciphers=optional_ciphers,
    )


def _files(t: Mapping[str, Any], p: str, w: str) -> FileLimits:
    file_len_min = _int(t, "file_len_min", p, w)
    if file_len_min < 1:
        _fail(w, f"{p}.file_len_min", f"{file_len_min} is not at least 1")
    file_len_max = _int(t, "file_len_max", p, w)
    if file_len_max < file_len_min:
        _fail(w, f"{p}.file_len_max", f"{file_len_max} is below file_len_min ({file_len_min})")
    trust_files_max = _int(t, "trust_files_max", p, w)
    if trust_files_max < 1:
        _fail(w, f"{p}.trust_files_max", f"{trust_files_max} is not at least 1")
    data_timeout_s = _float(t, "data_timeout_s", p, w)
    if data_timeout_s <= 0:
        _fail(w, f"{p}.data_timeout_s", f"{data_timeout_s} is not above 0")
    return FileLimits(
        file_len_min=file_len_min,
        file_len_max=file_len_max,
        trust_files_max=trust_files_max,
        data_timeout_s=data_timeout_s,
        content_check=cast(ContentCheck, _choice(t, "content_check", p, w, CONTENT_CHECKS)),
    )


def _at(t: Mapping[str, Any], p: str, w: str) -> AtFacts:
    line_max = _int(t, "line_max", p, w)
    if line_max < _LINE_MAX_MIN:
        _fail(w, f"{p}.line_max", f"{line_max} is below {_LINE_MAX_MIN}")
    return AtFacts(
        line_max=line_max,
        echo_default=_bool(t, "echo_default", p, w),
        echo_data=_bool(t, "echo_data", p, w),
        prompt=_str(t, "prompt", p, w),
        non_at_line=cast(NonAtLine, _choice(t, "non_at_line", p, w, NON_AT_LINES)),
        data_after_cr=cast(DataAfterCr, _choice(t, "data_after_cr", p, w, DATA_AFTER_CR)),
    )


def _boot(t: Mapping[str, Any], p: str, w: str) -> BootFacts:
    reboot_s = _float(t, "reboot_s", p, w)
    if reboot_s < 0:
        _fail(w, f"{p}.reboot_s", f"{reboot_s} is negative")
    return BootFacts(urcs=_str_list(t, "urcs", p, w, empty_ok=True), reboot_s=reboot_s)


def _network(t: Mapping[str, Any], p: str, w: str) -> NetworkFacts:
    operator_numeric = _digits(
        _str(t, "operator_numeric", p, w), f"{p}.operator_numeric", w, {5, 6}, "an MCC+MNC of 5 or 6 digits"
    )
    local_ip = _str(t, "local_ip", p, w)
    try:
        ipaddress.IPv4Address(local_ip)
    except ValueError:
        _fail(w, f"{p}.local_ip", f"{local_ip!r} is not a dotted IPv4 address")
    return NetworkFacts(
        operator_numeric=operator_numeric,
        operator_name=_str(t, "operator_name", p, w),
        access_technology=_int(t, "access_technology", p, w, range(10), "an <AcT> (0-9)"),
        rssi=_int(t, "rssi", p, w, {*range(32), 99}, "a +CSQ <rssi> (0-31 or 99)"),
        ber=_int(t, "ber", p, w, {*range(8), 99}, "a +CSQ <ber> (0-7 or 99)"),
        registration=_int(t, "registration", p, w, range(6), "a registration <stat> (0-5)"),
        # An empty APN is legal: the network then picks one.
        apn=_str(t, "apn", p, w, empty_ok=True),
        local_ip=local_ip,
    )


def _sockets(t: Mapping[str, Any], p: str, w: str) -> SocketFacts:
    first_id = _int(t, "first_id", p, w, range(1, _SOCKET_ID_MAX + 1), f"a socket id (1-{_SOCKET_ID_MAX})")
    last_id = _int(t, "last_id", p, w, range(1, _SOCKET_ID_MAX + 1), f"a socket id (1-{_SOCKET_ID_MAX})")
    if last_id < first_id:
        _fail(w, f"{p}.last_id", f"{last_id} is below first_id ({first_id})")
    send_buffer = _int(t, "send_buffer", p, w, range(16, 1 << 20), "a buffer size (16 bytes to 1 MiB)")
    push_size = _int(t, "push_size", p, w, range(1, send_buffer + 1), f"a watermark (1-{send_buffer})")
    urc_chunk = _int(t, "urc_chunk", p, w, range(1, 65536), "a chunk size (1-65535)")
    open_timeout_s = _float(t, "open_timeout_s", p, w)
    if open_timeout_s <= 0:
        _fail(w, f"{p}.open_timeout_s", "must be positive")
    return SocketFacts(
        first_id=first_id,
        last_id=last_id,
        send_buffer=send_buffer,
        push_size=push_size,
        urc_chunk=urc_chunk,
        open_timeout_s=open_timeout_s,
        result_before_ok=_bool(t, "result_before_ok", p, w),
        open_failure=cast(OpenFailure, _choice(t, "open_failure", p, w, OPEN_FAILURES)),
        close_type_tls=_int(t, "close_type_tls", p, w, range(0, 3), "a close type (0-2)"),
        close_type_tcp=_int(t, "close_type_tcp", p, w, range(0, 3), "a close type (0-2)"),
        peer_close=cast(PeerClose, _choice(t, "peer_close", p, w, PEER_CLOSES)),
        push_after_send=_bool(t, "push_after_send", p, w),
        close_after_end=cast(CloseAfterEnd, _choice(t, "close_after_end", p, w, CLOSES_AFTER_END)),
        mipconf=_bool(t, "mipconf", p, w),
    )


def _gtsslerr(t: Mapping[str, Any], p: str, w: str) -> GtsslErrTable:
    codes: dict[FailureClass, int | None] = {}
    for failure in FailureClass:
        path = f"{p}.{failure.value}"
        value = t[failure.value]
        if value == GTSSLERR_NL668:
            codes[failure] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(w, path, f"expected an integer or {GTSSLERR_NL668!r}, got {_kind(value)}")
        if value == 0 or value not in _GTSSLERR_RANGE:
            _fail(w, path, f"{value} is not a +GTSSLERR code (-255 to 255, not 0: 0 means no error)")
        codes[failure] = value
    return GtsslErrTable(codes=MappingProxyType(codes))


_READERS: Final = {
    "identity": _identity,
    "ssl": _ssl,
    "files": _files,
    "at": _at,
    "boot": _boot,
    "network": _network,
    "sockets": _sockets,
    "gtsslerr": _gtsslerr,
}


def _table(name: str, value: object, where: str) -> tuple[Any, str]:
    """Parses one table; returns the facts object and the table's source."""
    path = f"$.{name}"
    if not isinstance(value, Mapping):
        _fail(where, path, f"expected a table, got {_kind(value)}")
    keys = _TABLE_KEYS[name] | {"source"}
    optional = _OPTIONAL_KEYS.get(name, {})
    _check_keys(value, path, where, keys, keys - optional.keys())
    source = _str(value, "source", path, where)
    if not source.strip():
        _fail(where, f"{path}.source", "must not be blank")
    return _READERS[name]({**optional, **value}, path, where), source


def _schema(data: Mapping[str, Any], where: str) -> None:
    schema = _int(data, "schema", "$", where)
    if schema != SCHEMA:
        _fail(where, "$.schema", f"{schema} is not a schema this emulator reads (only {SCHEMA})")


def _check_family(family: Mapping[str, Any], where: str) -> None:
    if "based_on" in family:
        _fail(where, "$.based_on", "a family file cannot be based on another (only one level of inheritance)")
    if "name" in family:
        _fail(where, "$.name", "a family file has no name; variants name themselves")
    _check_keys(family, "$", where, _FAMILY_KEYS, {"schema", "description"})
    _schema(family, where)
    _str(family, "description", "$", where)
    if "family" in family:
        _str(family, "family", "$", where)


# --- entry point -----------------------------------------------------------


def parse_profile(
    data: Mapping[str, Any],
    *,
    where: str,
    family: Mapping[str, Any] | None = None,
    family_where: str = "",
) -> Profile:
    """Builds a :class:`Profile` from a variant file and, if it has ``based_on``, its family file.

    Args:
        data: the variant file, as ``tomllib`` decoded it.
        where: how errors name the variant file (usually its path).
        family: the decoded file that ``data["based_on"]`` names; required
            exactly when the variant has ``based_on``.
        family_where: how errors name the family file.

    Returns:
        The validated profile; ``sources`` maps each table to the ``source``
        of the file that supplied it.

    Raises:
        ProfileError: the first problem found, with the file and field path.
        ValueError: ``family`` was given for a variant without ``based_on``
            (a caller bug, not a profile error).
    """
    _check_keys(data, "$", where, _VARIANT_KEYS, {"schema", "name", "description"})
    _schema(data, where)
    name = _str(data, "name", "$", where)
    description = _str(data, "description", "$", where)

    based_on = _str(data, "based_on", "$", where) if "based_on" in data else None
    if based_on is None and family is not None:
        raise ValueError(f"{where}: a family file was passed but the profile has no based_on")
    if based_on is not None and family is None:
        _fail(where, "$.based_on", f"family {based_on!r} was not supplied")
    fam: Mapping[str, Any] = family if family is not None else {}
    family_where = family_where or f"family {based_on!r}"
    if family is not None:
        _check_family(family, family_where)

    if "family" in data:
        family_name = _str(data, "family", "$", where)
    elif "family" in fam:
        family_name = _str(fam, "family", "$", family_where)
    else:
        _fail(where, "$.family", "missing (in this file and in its family file)" if family else "missing")

    parsed: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for table in TABLES:
        if table in data:
            parsed[table], sources[table] = _table(table, data[table], where)
            if table in fam:
                # Shadowed here, but other variants may use it: a family file must be valid on its own.
                _table(table, fam[table], family_where)
        elif table in fam:
            parsed[table], sources[table] = _table(table, fam[table], family_where)
        elif table in OPTIONAL_TABLES:
            sources[table], parsed[table] = OPTIONAL_TABLES[table]
        else:
            in_family = f" nor in family {based_on!r}" if based_on else ""
            _fail(where, f"$.{table}", f"missing table (not in this file{in_family})")

    return Profile(
        name=name,
        family=family_name,
        description=description,
        sources=MappingProxyType(sources),
        **parsed,
    )

"""The SSL command set, exactly as the vendor manual defines it (manual chapter 1).

``+GTSSLFILE`` loads certificates and keys into volatile memory, ``+GTSSLMODE``
turns server verification on, ``+GTSSLVER`` pins the protocol version,
``+GTSSLCIPHER`` chooses cipher suites and ``+GTSSLERR`` reports the last
connection's error. The TLS engine reads these settings when a socket opens.
"""

from __future__ import annotations

from ..at_syntax import CommandCall, Form
from ..cert_store import FileRejected, check_content
from ..codes import CipherId, CmeError, FailureClass, FileType, failure_class_of
from ..command_table import CommandSpec, DataRequest, FormSpec, Reply
from ..errors import CommandError
from ..module_state import ModuleState
from . import params


def ranges_text(values: tuple[int, ...] | list[int]) -> str:
    """``[1, 2, 3, 4]`` -> ``1-4``; ``[0, 2, 3, 4, 7]`` -> ``0,2-4,7`` (test-form lists)."""
    parts: list[str] = []
    ordered = sorted(values)
    start = prev = ordered[0]
    for v in [*ordered[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ",".join(parts)


def effective_version(m: ModuleState) -> int:
    """The ``+GTSSLVER`` a connection uses: the set one, or while it is 0 ("not set", L610) the
    variant's highest (chosen: the L610 evidence shows 0 but not the ClientHello it sends)."""
    return m.ssl.version or m.profile.ssl.highest_version


def reported_gtsslerr(m: ModuleState, nl668_code: int, failure: FailureClass | None) -> int:
    """The ``+GTSSLERR`` number for a failure: the NL668 code through the profile's ``[gtsslerr]`` table.

    ``failure`` None (an event from an edge that did not classify it) falls
    back to what the code alone implies.
    """
    kind = failure if failure is not None else failure_class_of(nl668_code)
    return m.profile.gtsslerr.report(kind, nl668_code)


def effective_ciphers(m: ModuleState) -> tuple[int, ...]:
    """The cipher ids offered at connect time: the enabled ones, else the variant's defaults (§1.5.4 note)."""
    if m.ssl.enabled_ciphers:
        return tuple(sorted(m.ssl.enabled_ciphers))
    return tuple(sorted(m.profile.ssl.default_ciphers))


# --- +GTSSLFILE (§1.1) ---------------------------------------------------------------------------


def _file_type(call: CommandCall) -> FileType:
    # Example 5 of §2.6 sends " CERTFILE " with spaces inside the quotes; the type is case-blind.
    name = params.string(call, 0).strip().upper()
    try:
        return FileType[name]
    except KeyError:
        raise params.bad(f"unknown file type {name!r}") from None


def _file_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 2, 2)
    file_type = _file_type(call)
    limits = m.profile.files
    length = params.integer(call, 1, range(limits.file_len_min, limits.file_len_max + 1))
    if not m.certs.has_room(file_type):
        # CERTFILE/KEYFILE: "can only load one"; TRUSTFILE: "up to 40"; no delete or replace (§1.1.4 note)
        raise CommandError(CmeError.MEMORY_FULL, f"no room for another {file_type.name}")

    def store(data: bytes) -> Reply:
        try:
            check_content(file_type, data, limits.content_check)
        except FileRejected as exc:
            raise CommandError(CmeError.INCORRECT_PARAMETERS, f"{file_type.name} refused: {exc}") from None
        m.certs.add(file_type, data)
        return Reply()

    return Reply(data=DataRequest(length=length, on_data=store, secret=True))


def _file_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+GTSSLFILE: {t.name},{m.certs.count(t)}" for t in FileType])


def _file_test(m: ModuleState, call: CommandCall) -> Reply:
    limits = m.profile.files
    return Reply(lines=[f'+GTSSLFILE: ("CERTFILE,KEYFILE,TRUSTFILE"),({limits.file_len_min}-{limits.file_len_max})'])


# --- +GTSSLMODE (§1.2) ---------------------------------------------------------------------------


def _mode_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 1)
    m.ssl.mode = params.integer(call, 0, (0, 1))
    return Reply()


def _mode_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+GTSSLMODE: {m.ssl.mode}"])


def _mode_test(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=["+GTSSLMODE: (0,1)"])


# --- +GTSSLERR (§1.3) ----------------------------------------------------------------------------


def _err_read(m: ModuleState, call: CommandCall) -> Reply:
    if m.ssl.last_error is None:
        return Reply()
    return Reply(lines=[f"+GTSSLERR: {m.ssl.last_error}"])


# --- +GTSSLVER (§1.4) ----------------------------------------------------------------------------


def _ver_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 1)
    # 0 ("not set") is a value only where the variant has it (L610); elsewhere it stays out of range.
    version = params.integer(call, 0, range(0 if 0 in m.profile.ssl.versions else 1, 5))
    if version not in m.profile.ssl.versions:  # §1.4.4 note: no SSL 3.0 on some variants
        raise CommandError(CmeError.OPERATION_NOT_SUPPORTED, f"+GTSSLVER={version} not on {m.profile.name}")
    m.ssl.version = version
    return Reply()


def _ver_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+GTSSLVER: {m.ssl.version}"])


def _ver_test(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+GTSSLVER: ({ranges_text(sorted(m.profile.ssl.versions))})"])


# --- +GTSSLCIPHER (§1.5) -------------------------------------------------------------------------


def _cipher_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 2, 2)
    facts = m.profile.ssl
    cipher = params.integer(call, 0, (*range(0, 32), 255))
    enable = params.integer(call, 1, (0, 1)) == 1
    if cipher == CipherId.ALL_DEFAULT:
        ids: tuple[int, ...] = facts.default_ciphers
    elif cipher == CipherId.ALL_SUPPORTED:
        ids = facts.supported_ciphers
    elif cipher in facts.supported_ciphers:
        ids = (cipher,)
    elif cipher <= CipherId.DHE_RSA_WITH_AES_256_CBC_SHA256:
        raise CommandError(CmeError.OPERATION_NOT_SUPPORTED, f"cipher {cipher} not on {m.profile.name}")
    else:
        raise params.bad(f"cipher id {cipher} is reserved")  # 11-31 (§1.5.4)
    if enable:
        m.ssl.enabled_ciphers.update(ids)
    else:
        m.ssl.enabled_ciphers.difference_update(ids)
    return Reply()


def _cipher_read(m: ModuleState, call: CommandCall) -> Reply:
    if not m.ssl.enabled_ciphers:  # "no cipher algorithm ID enabled, modem will load default" (§1.5.2)
        return Reply()
    return Reply(lines=["+GTSSLCIPHER: " + ",".join(str(c) for c in sorted(m.ssl.enabled_ciphers))])


def _cipher_test(m: ModuleState, call: CommandCall) -> Reply:
    valid = ",".join(str(c) for c in (0, *m.profile.ssl.supported_ciphers, 255))
    return Reply(lines=[f"+GTSSLCIPHER: ({valid}),(0,1)"])


COMMANDS = [
    CommandSpec(
        name="+GTSSLFILE",
        summary=(
            "Load a CERTFILE, KEYFILE or TRUSTFILE: after the '>' prompt the module takes exactly "
            "<file_len> bytes of PEM; 12 s without a byte ends the entry with ERROR and stores nothing."
        ),
        source="manual §1.1 (syntax §1.1.2, limits and timeout §1.1.4, PEM form §2.1)",
        forms={
            Form.SET: FormSpec('+GTSSLFILE="<file_type>",<file_len>', _file_set),
            Form.READ: FormSpec("+GTSSLFILE: <file_type>,<file_num> (one line per type)", _file_read),
            Form.TEST: FormSpec('+GTSSLFILE: ("CERTFILE,KEYFILE,TRUSTFILE"),(list of supported <file_len>s)', _file_test),
        },
        defaults="no file loaded; files are lost at power-down",
    ),
    CommandSpec(
        name="+GTSSLMODE",
        summary="Verify the server certificate (1) or not (0).",
        source="manual §1.2",
        forms={
            Form.SET: FormSpec("+GTSSLMODE=<checkmode>", _mode_set),
            Form.READ: FormSpec("+GTSSLMODE: <checkmode>", _mode_read),
            Form.TEST: FormSpec("+GTSSLMODE: (list of supported <checkmode>s)", _mode_test),
        },
        defaults="0",
    ),
    CommandSpec(
        name="+GTSSLERR",
        summary="The error of the last SSL connection; plain OK when it had none.",
        source="manual §1.3; test form chosen: plain OK",
        forms={
            Form.EXECUTE: FormSpec("+GTSSLERR: <err_code>", _err_read),
            Form.READ: FormSpec("+GTSSLERR: <err_code>", _err_read),
            Form.TEST: FormSpec("OK", lambda m, call: Reply()),
        },
    ),
    CommandSpec(
        name="+GTSSLVER",
        summary=(
            "Protocol version of the handshake: 1 SSL3.0, 2 TLS1.0, 3 TLS1.1, 4 TLS1.2; "
            "0 'not set' on variants that have it (L610): the variant's highest version is used."
        ),
        source="manual §1.4 (SSL3.0 refused on the variants of the §1.4.4 note); 0: issue 11 field evidence (L610)",
        forms={
            Form.SET: FormSpec("+GTSSLVER=<sslver>", _ver_set),
            Form.READ: FormSpec("+GTSSLVER: <sslver>", _ver_read),
            Form.TEST: FormSpec("+GTSSLVER: (list of supported <sslver>s)", _ver_test),
        },
        defaults="the profile's ssl.default_version: 2 (TLS1.0) on NL668/M910, 0 (not set) on L610",
    ),
    CommandSpec(
        name="+GTSSLCIPHER",
        summary=(
            "Enable (1) or disable (0) a cipher id; 0 means the variant's default ids, 255 all its ids. "
            "With none enabled the defaults are offered."
        ),
        source="manual §1.5 (ids §1.5.4, per-variant sets §1.5.4 note, usage §2.5)",
        forms={
            Form.SET: FormSpec("+GTSSLCIPHER=<cipalgID>,<cmd>", _cipher_set),
            Form.READ: FormSpec("+GTSSLCIPHER: <list of enabled cipalgIDs>  (plain OK when none)", _cipher_read),
            Form.TEST: FormSpec("+GTSSLCIPHER: (range of valid <cipalgID>s),(range of supported <cmd>s)", _cipher_test),
        },
        defaults="none enabled: the variant's default ids apply",
    ),
]

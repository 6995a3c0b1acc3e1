"""The general commands a host sends first: identity, SIM, radio, PDP contexts, clock, reset.

Formats follow 3GPP TS 27.007 and what host drivers written against real
Fibocom modules expect (fibocom-tcpip.md §2); identity strings come from the
profile. Where the evidence is thin the choice is written in ``source``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ..at_syntax import CommandCall, Form
from ..codes import CmeError
from ..command_table import CommandSpec, FormSpec, Reply
from ..errors import CommandError
from ..module_state import ModuleState, PdpContext
from . import params
from .tcpip import activate_pdp, deactivate_pdp

BAUD_RATES = (0, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
CFUN_VALUES = (0, 1, 4, 15)  # 15: full reset (H310 hosts, fibocom-tcpip.md §2)


def _line(text_of: str) -> FormSpec:
    """An action form answering one identity line of the profile."""

    def handler(m: ModuleState, call: CommandCall) -> Reply:
        return Reply(lines=[getattr(m.profile.identity, text_of)])

    return FormSpec(f"<{text_of}>", handler)


def _plain_ok(syntax: str) -> FormSpec:
    return FormSpec(syntax, lambda m, call: Reply())


def _identity(name: str, attr: str, summary: str, source: str) -> CommandSpec:
    return CommandSpec(
        name=name,
        summary=summary,
        source=source,
        forms={Form.EXECUTE: _line(attr), Form.TEST: _plain_ok(f"{name}=?")},
    )


def _ati(m: ModuleState, call: CommandCall) -> Reply:
    params.digit_flag(call, (0,))
    return Reply(lines=list(m.profile.identity.ati))


def _ccid(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+CCID: {m.profile.identity.iccid}"])


def _cpin_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=["+CPIN: READY"])


def _cpin_set(m: ModuleState, call: CommandCall) -> Reply:
    # The emulated SIM has no PIN: entering one is not allowed (27.007 §8.3).
    raise CommandError(CmeError.OPERATION_NOT_ALLOWED, "SIM needs no PIN")


def _radio_on(m: ModuleState) -> bool:
    return m.cfun == 1


def _csq(m: ModuleState, call: CommandCall) -> Reply:
    if not _radio_on(m):
        return Reply(lines=["+CSQ: 99,99"])
    net = m.profile.network
    rssi = net.rssi if m.rssi_override is None else m.rssi_override
    ber = net.ber if m.ber_override is None else m.ber_override
    return Reply(lines=[f"+CSQ: {rssi},{ber}"])


def _csq_test(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=["+CSQ: (0-31,99),(0-7,99)"])


def _registration(name: str) -> CommandSpec:
    def read(m: ModuleState, call: CommandCall) -> Reply:
        registered = m.profile.network.registration if m.registration_override is None else m.registration_override
        stat = registered if _radio_on(m) else 0
        return Reply(lines=[f"{name}: {m.reg_urc_mode[name]},{stat}"])

    def set_(m: ModuleState, call: CommandCall) -> Reply:
        params.count(call, 1, 1)
        m.reg_urc_mode[name] = params.integer(call, 0, (0, 1, 2))
        return Reply()

    def test(m: ModuleState, call: CommandCall) -> Reply:
        return Reply(lines=[f"{name}: (0-2)"])

    return CommandSpec(
        name=name,
        summary="Network registration status: <n> (URC mode), <stat> (1 home, 5 roaming).",
        source="27.007 §7.2/§10.1.19/§10.1.22; format seen on NL668 (fibocom-tcpip.md §2, S12)",
        forms={
            Form.READ: FormSpec(f"{name}: <n>,<stat>", read),
            Form.SET: FormSpec(f"{name}=<n>", set_),
            Form.TEST: FormSpec(f"{name}: (list of supported <n>s)", test),
        },
        defaults="<n> 0",
    )


def _cops_read(m: ModuleState, call: CommandCall) -> Reply:
    if not _radio_on(m):
        return Reply(lines=["+COPS: 0"])
    net = m.profile.network
    oper = net.operator_numeric if m.cops_format == 2 else net.operator_name
    return Reply(lines=[f'+COPS: 0,{m.cops_format},"{oper}",{net.access_technology}'])


def _cops_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 4)
    mode = params.integer(call, 0, (0, 1, 2, 3, 4))
    if mode == 3:
        m.cops_format = params.integer(call, 1, (0, 1, 2))
    elif mode == 2:
        raise CommandError(CmeError.OPERATION_NOT_SUPPORTED, "deregistration is not emulated")
    return Reply()


def _cops_test(m: ModuleState, call: CommandCall) -> Reply:
    net = m.profile.network
    entry = f'(2,"{net.operator_name}","{net.operator_name}","{net.operator_numeric}",{net.access_technology})'
    return Reply(lines=[f"+COPS: {entry},,(0-4),(0-2)"])


def _cgatt_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+CGATT: {int(_radio_on(m))}"])


def _cgatt_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 1)
    if params.integer(call, 0, (0, 1)) == 1 and not _radio_on(m):
        raise CommandError(CmeError.NO_NETWORK_SERVICE, "radio is off")
    return Reply()


def _cgdcont_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 6)
    cid = params.integer(call, 0, range(1, 17))
    if len(call.params) == 1:  # 27.007: "+CGDCONT=<cid>" undefines the context
        m.pdp.pop(cid, None)
        return Reply()
    pdp_type = params.string(call, 1, default="IP").upper()
    if pdp_type not in ("IP", "IPV6", "IPV4V6"):
        raise params.bad(f"PDP type {pdp_type!r}")
    m.pdp[cid] = PdpContext(pdp_type, params.string(call, 2, default="", max_len=99))
    return Reply()


def _cgdcont_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(
        lines=[f'+CGDCONT: {cid},"{c.pdp_type}","{c.apn}","0.0.0.0",0,0' for cid, c in sorted(m.pdp.items())]
    )


def _cgdcont_test(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f'+CGDCONT: (1-16),"{t}",,,(0-2),(0-4)' for t in ("IP", "IPV6", "IPV4V6")])


#: The one context the emulated network activates: +MIPCALL's (chosen; other <cid>s can be defined, not activated).
DATA_CID = 1


def _cgact_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+CGACT: {cid},{int(cid == DATA_CID and m.pdp_active)}" for cid in sorted(m.pdp)])


def _cgact_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 2)
    state = params.integer(call, 0, (0, 1))
    cid = params.integer(call, 1, range(1, 17), default=DATA_CID)  # no <cid>: every context (27.007), i.e. 1
    if cid not in m.pdp:
        raise params.bad(f"context {cid} is not defined (+CGDCONT)")
    if cid != DATA_CID:
        raise CommandError(CmeError.OPERATION_NOT_SUPPORTED, f"only context {DATA_CID} carries data here")
    if state == 0:
        # The same teardown as +MIPCALL=0: the sockets go, each +MIPSTAT: <s>,1 (no +MIPCALL: 0: the host asked).
        return deactivate_pdp(m) if m.pdp_active else Reply()
    if not m.pdp_active:  # 27.007 §10.1.10: already in the requested state is not an error
        activate_pdp(m)  # +MIPCALL? now shows it too
    return Reply()


def _cgpaddr(m: ModuleState, cids: list[int]) -> Reply:
    lines = []
    for cid in cids:
        # 27.007 §10.1.14: the address is left out while the context has none.
        active = cid == DATA_CID and m.pdp_active
        lines.append(f'+CGPADDR: {cid},"{m.profile.network.local_ip}"' if active else f"+CGPADDR: {cid}")
    return Reply(lines=lines)


def _cgpaddr_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 16)
    cids = [params.integer(call, i, range(1, 17)) for i in range(len(call.params))]
    for cid in cids:
        if cid not in m.pdp:
            raise params.bad(f"context {cid} is not defined (+CGDCONT)")
    return _cgpaddr(m, cids)


def _ipr_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+IPR: {m.baud}"])


def _ipr_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 1)
    m.baud = params.integer(call, 0, BAUD_RATES)
    return Reply()


def _ipr_test(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+IPR: {params.list_text(BAUD_RATES)}"])


_CCLK = re.compile(r"(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)(?:([+-])(\d\d?))?")


def _cclk_read(m: ModuleState, call: CommandCall) -> Reply:
    local = m.clock.local_now()
    q = m.clock.zone_quarters
    zone = f"{'-' if q < 0 else '+'}{abs(q):02d}"
    return Reply(lines=[f'+CCLK: "{local:%y/%m/%d,%H:%M:%S}{zone}"'])


def _cclk_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 1)
    match = _CCLK.fullmatch(params.string(call, 0).strip())
    if match is None:
        raise params.bad("time is not yy/MM/dd,hh:mm:ss±zz")
    yy, mo, dd, hh, mi, ss, sign, zz = match.groups()
    quarters = int(zz or 0) * (-1 if sign == "-" else 1)
    if not -48 <= quarters <= 56:  # UTC-12:00 .. UTC+14:00
        raise params.bad("time zone out of range")
    try:
        local = datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), tzinfo=timezone.utc)
    except ValueError as exc:
        raise params.bad(f"no such date: {exc}") from None
    m.clock.zone_quarters = quarters
    m.clock.set_utc(local - timedelta(minutes=15 * quarters))
    return Reply()


def _cfun_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+CFUN: {m.cfun}"])


def _cfun_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 2)
    fun = params.integer(call, 0, CFUN_VALUES)
    rst = params.integer(call, 1, (0, 1), default=0)
    if fun == 15 or rst == 1:
        return Reply(reset=True)
    m.cfun = fun
    return Reply()


def _cfun_test(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=["+CFUN: (0,1,4,15),(0-1)"])


_IDENTITY_SOURCE = "27.007 §5; text chosen per profile (exact NL668 text unconfirmed, fibocom-tcpip.md §2)"

COMMANDS = [
    CommandSpec(
        name="I",
        summary="Product identification: manufacturer, model, revision lines.",
        source="V.250 §6.1.3; NL668T-GL layout (fibocom-tcpip.md §2, S12)",
        forms={Form.EXECUTE: FormSpec("I[<value>]", _ati)},
    ),
    _identity("+CGMI", "manufacturer", "Manufacturer identification.", _IDENTITY_SOURCE),
    _identity("+GMI", "manufacturer", "Manufacturer identification (V.250 form).", _IDENTITY_SOURCE),
    _identity("+CGMM", "model", "Model identification.", _IDENTITY_SOURCE),
    _identity("+GMM", "model", "Model identification (V.250 form).", _IDENTITY_SOURCE),
    _identity("+CGMR", "revision", "Firmware revision.", _IDENTITY_SOURCE),
    _identity("+GMR", "revision", "Firmware revision (V.250 form).", _IDENTITY_SOURCE),
    _identity("+CGSN", "imei", "IMEI, as a bare line.", "fibocom-tcpip.md §2 (L610 hosts parse a bare line)"),
    _identity("+GSN", "imei", "IMEI, as a bare line.", "fibocom-tcpip.md §2 (S7)"),
    _identity("+CIMI", "imsi", "IMSI, as a bare line.", "fibocom-tcpip.md §2 (S7, S8)"),
    CommandSpec(
        name="+CCID",
        summary="SIM card ICCID.",
        source="fibocom-tcpip.md §2 (+CCID: 8986..., S14)",
        forms={
            Form.EXECUTE: FormSpec("+CCID: <iccid>", _ccid),
            Form.READ: FormSpec("+CCID: <iccid>", _ccid),
            Form.TEST: _plain_ok("+CCID=?"),
        },
    ),
    CommandSpec(
        name="+CPIN",
        summary="SIM PIN state: always READY (the emulated SIM has no PIN).",
        source="27.007 §8.3; fibocom-tcpip.md §2",
        forms={
            Form.READ: FormSpec("+CPIN: <code>", _cpin_read),
            Form.SET: FormSpec("+CPIN=<pin>", _cpin_set),
            Form.TEST: _plain_ok("+CPIN=?"),
        },
    ),
    CommandSpec(
        name="+CSQ",
        summary="Signal quality <rssi>,<ber> from the profile (99,99 with the radio off).",
        source="27.007 §8.5; fibocom-tcpip.md §2 (+CSQ: 18,99 on L610). AT+CSQ? answered too (some hosts send it)",
        forms={
            Form.EXECUTE: FormSpec("+CSQ: <rssi>,<ber>", _csq),
            Form.READ: FormSpec("+CSQ: <rssi>,<ber>", _csq),
            Form.TEST: FormSpec("+CSQ: (list of supported <rssi>s),(list of supported <ber>s)", _csq_test),
        },
    ),
    _registration("+CREG"),
    _registration("+CGREG"),
    _registration("+CEREG"),
    CommandSpec(
        name="+COPS",
        summary="Operator selection; read gives mode, format, operator and access technology.",
        source="27.007 §7.3; NL668 shows +COPS: 0,2,\"46011\",7 (fibocom-tcpip.md §2, S12)",
        forms={
            Form.READ: FormSpec("+COPS: <mode>[,<format>,<oper>,<AcT>]", _cops_read),
            Form.SET: FormSpec("+COPS=<mode>[,<format>[,<oper>[,<AcT>]]]", _cops_set),
            Form.TEST: FormSpec("+COPS: (list of operators),,(modes),(formats)", _cops_test),
        },
        defaults="format 2 (numeric), as seen on NL668",
    ),
    CommandSpec(
        name="+CGATT",
        summary="PS attach state: attached while the radio is on.",
        source="27.007 §10.1.9; fibocom-tcpip.md §2",
        forms={
            Form.READ: FormSpec("+CGATT: <state>", _cgatt_read),
            Form.SET: FormSpec("+CGATT=<state>", _cgatt_set),
            Form.TEST: FormSpec.fixed("+CGATT: (0,1)"),
        },
    ),
    CommandSpec(
        name="+CGDCONT",
        summary="PDP context definitions; context 1 holds the profile's APN at power-on.",
        source="27.007 §10.1.1; fibocom-tcpip.md §2",
        forms={
            Form.SET: FormSpec('+CGDCONT=<cid>[,"<PDP_type>"[,"<APN>"]]', _cgdcont_set),
            Form.READ: FormSpec('+CGDCONT: <cid>,"<PDP_type>","<APN>","<PDP_addr>",<d_comp>,<h_comp>', _cgdcont_read),
            Form.TEST: FormSpec("+CGDCONT: (range of <cid>s),<PDP_type>,,,(d_comp),(h_comp)", _cgdcont_test),
        },
    ),
    CommandSpec(
        name="+CGACT",
        summary=(
            "PDP context activation, one state with +MIPCALL: =1,1 activates context 1 (then +MIPCALL? shows it), "
            "=0,1 deactivates it and drops the sockets as +MIPCALL=0 does (+MIPSTAT: <s>,1 each)."
        ),
        source=(
            "27.007 §10.1.10; NL668 answers +CGACT: 1,1 (fibocom-tcpip.md §2, S12); chosen: only context 1 can be "
            "activated (+CME ERROR: 4 for others), no +MIPCALL URC for +CGACT, no <cid> means context 1"
        ),
        forms={
            Form.SET: FormSpec("+CGACT=<state>[,<cid>]", _cgact_set),
            Form.READ: FormSpec("+CGACT: <cid>,<state> (per defined context)", _cgact_read),
            Form.TEST: FormSpec.fixed("+CGACT: (0,1)"),
        },
    ),
    CommandSpec(
        name="+CGPADDR",
        summary='PDP address: +CGPADDR: <cid>,"<ip>" while active (the +MIPCALL address), +CGPADDR: <cid> when not.',
        source=(
            '27.007 §10.1.14; NL668 answers +CGPADDR: 1,"10.69.64.192" (fibocom-tcpip.md §2, S12); '
            "chosen: no IPv6 address, the address left out while inactive (27.007)"
        ),
        forms={
            Form.SET: FormSpec("+CGPADDR=<cid>[,<cid>[,...]]", _cgpaddr_set),
            Form.EXECUTE: FormSpec("+CGPADDR: <cid>[,<PDP_addr>] (per defined context)",
                                   lambda m, call: _cgpaddr(m, sorted(m.pdp))),
            Form.TEST: FormSpec("+CGPADDR: (list of defined <cid>s)", lambda m, call: Reply(
                lines=["+CGPADDR: " + params.list_text(sorted(m.pdp))])),
        },
    ),
    CommandSpec(
        name="+IPR",
        summary="Serial rate; recorded and reported (a PTY has no rate). Kept across resets (chosen).",
        source="V.250 §6.2.10; 115200 default (fibocom-tcpip.md §1)",
        forms={
            Form.READ: FormSpec("+IPR: <rate>", _ipr_read),
            Form.SET: FormSpec("+IPR=<rate>", _ipr_set),
            Form.TEST: FormSpec("+IPR: (list of supported <rate>s)", _ipr_test),
        },
        defaults="115200",
    ),
    CommandSpec(
        name="+CCLK",
        summary="The module clock, local time with the zone in quarter hours; it runs on from the value set.",
        source="27.007 §8.15; fibocom-tcpip.md §2 (format); certificate dates are judged by it (manual §2.6 example 3)",
        forms={
            Form.READ: FormSpec('+CCLK: "yy/MM/dd,hh:mm:ss±zz"', _cclk_read),
            Form.SET: FormSpec('+CCLK="yy/MM/dd,hh:mm:ss±zz"', _cclk_set),
            Form.TEST: _plain_ok("+CCLK=?"),
        },
        defaults="--clock, else the host's UTC time, zone +00",
    ),
    CommandSpec(
        name="+CFUN",
        summary="Functionality: 0 minimum, 1 full, 4 flight; 1,1 and 15 reset the module (SSL state lost).",
        source="27.007 §8.2; reset forms from fibocom-tcpip.md §2; loss of certificates: manual §1.1.4 note",
        forms={
            Form.READ: FormSpec("+CFUN: <fun>", _cfun_read),
            Form.SET: FormSpec("+CFUN=<fun>[,<rst>]", _cfun_set),
            Form.TEST: FormSpec("+CFUN: (list of supported <fun>s),(list of supported <rst>s)", _cfun_test),
        },
        defaults="1",
    ),
]

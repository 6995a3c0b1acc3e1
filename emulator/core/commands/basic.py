"""V.250 basic commands and +CMEE: how the command line itself behaves.

Sources: ITU-T V.250 §6.1-6.2 and 3GPP TS 27.007 §9.1. Where the NL668 manuals
are silent the V.250 defaults are used (chosen).
"""

from __future__ import annotations

from dataclasses import replace

from ..at_syntax import CommandCall, Form
from ..command_table import CommandSpec, FormSpec, Handler, Reply
from ..module_state import ModuleState
from . import params



def _switch(attr: str) -> Handler:
    """ATE/ATV/ATQ: a 0/1 flag of the V.250 settings (no digit means 0, V.250 §5.3.1)."""

    def handler(m: ModuleState, call: CommandCall) -> Reply:
        setattr(m.v250, attr, params.digit_flag(call, (0, 1)) == 1)
        return Reply()

    return handler


def _reset_profile(m: ModuleState, call: CommandCall) -> Reply:
    params.digit_flag(call, (0,))
    m.restore_v250(replace(m.saved_v250) if m.saved_v250 else m.factory_v250())
    return Reply()


def _factory(m: ModuleState, call: CommandCall) -> Reply:
    params.digit_flag(call, (0,))
    m.restore_v250(m.factory_v250())
    return Reply()


def _save(m: ModuleState, call: CommandCall) -> Reply:
    params.digit_flag(call, (0,))
    m.saved_v250 = replace(m.v250)
    return Reply()


def _s_register(attr: str, allowed: range) -> dict[Form, FormSpec]:
    def read(m: ModuleState, call: CommandCall) -> Reply:
        return Reply(lines=[f"{getattr(m.v250, attr):03d}"])

    def set_(m: ModuleState, call: CommandCall) -> Reply:
        setattr(m.v250, attr, params.integer(call, 0, allowed))
        return Reply()

    def test(m: ModuleState, call: CommandCall) -> Reply:
        return Reply(lines=[f"S{attr[1:]}: {params.range_text(allowed)}"])

    n = attr[1:]
    return {
        Form.READ: FormSpec(f"S{n}?", read),
        Form.SET: FormSpec(f"S{n}=<value>", set_),
        Form.TEST: FormSpec(f"S{n}=?", test),
    }


def _cmee_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 1)
    m.v250.cmee = params.integer(call, 0, (0, 1, 2))
    return Reply()


def _cmee_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+CMEE: {m.v250.cmee}"])


def _cmee_test(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=["+CMEE: (0-2)"])


COMMANDS = [
    CommandSpec(
        name="E",
        summary="Echo of command-line characters: E0 off, E1 on.",
        source="V.250 §6.2.4; echo on at power-on (fibocom-tcpip.md §1, chosen)",
        forms={Form.EXECUTE: FormSpec("E[<value>]", _switch("echo"))},
        defaults="profile at.echo_default (on)",
    ),
    CommandSpec(
        name="V",
        summary="Result code format: V0 numeric (0, 4), V1 verbose (OK, ERROR).",
        source="V.250 §6.2.6",
        forms={Form.EXECUTE: FormSpec("V[<value>]", _switch("verbose"))},
        defaults="1",
    ),
    CommandSpec(
        name="Q",
        summary="Result code suppression: Q1 sends no final result codes.",
        source="V.250 §6.2.5",
        forms={Form.EXECUTE: FormSpec("Q[<value>]", _switch("quiet"))},
        defaults="0",
    ),
    CommandSpec(
        name="Z",
        summary="Restore the settings saved with &W (or the factory ones); SSL state untouched.",
        source="V.250 §6.1.1; chosen: does not touch the SSL state (fibocom-tcpip.md §15 open question)",
        forms={Form.EXECUTE: FormSpec("Z[<value>]", _reset_profile)},
    ),
    CommandSpec(
        name="&F",
        summary="Restore the factory V.250 settings; SSL state untouched.",
        source="V.250 §6.1.2; chosen: does not touch the SSL state",
        forms={Form.EXECUTE: FormSpec("&F[<value>]", _factory)},
    ),
    CommandSpec(
        name="&W",
        summary="Save the V.250 settings (E, V, Q, +CMEE, S3-S5) to non-volatile memory.",
        source="fibocom-tcpip.md §2 (AT&W row)",
        forms={Form.EXECUTE: FormSpec("&W[<value>]", _save)},
    ),
    CommandSpec(
        name="S3",
        summary="Command line termination character.",
        source="V.250 §6.2.1",
        forms=_s_register("s3", range(0, 128)),
        defaults="13 (CR)",
    ),
    CommandSpec(
        name="S4",
        summary="Response formatting character.",
        source="V.250 §6.2.2",
        forms=_s_register("s4", range(0, 128)),
        defaults="10 (LF)",
    ),
    CommandSpec(
        name="S5",
        summary="Command line editing character.",
        source="V.250 §6.2.3",
        forms=_s_register("s5", range(0, 128)),
        defaults="8 (BS)",
    ),
    CommandSpec(
        name="+CMEE",
        summary="Report refusals as ERROR (0), +CME ERROR: <n> (1) or +CME ERROR: <text> (2).",
        source="27.007 §9.1",
        forms={
            Form.SET: FormSpec("+CMEE=<n>", _cmee_set),
            Form.READ: FormSpec("+CMEE: <n>", _cmee_read),
            Form.TEST: FormSpec("+CMEE: (list of supported <n>s)", _cmee_test),
        },
        defaults="0",
    ),
]

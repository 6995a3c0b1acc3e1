"""Per-module identities of a fleet (emulator.core.identity): index 0 is the profile's, others distinct and valid."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

import pytest

from emulator.core.identity import (
    for_unit,
    luhn_digit,
    luhn_ok,
    profile_for_unit,
    unit_iccid,
    unit_imei,
    unit_imsi,
)
from emulator.profiles import list_profiles, load_profile
from emulator.runtime.in_memory import InMemoryModule

UNITS = 100_000


def _textbook_luhn_ok(digits: str) -> bool:
    # ISO/IEC 7812-1 written the other common way (double, subtract 9), as a second implementation to agree with
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_luhn_digit_agrees_with_a_second_implementation() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")  # the textbook Luhn example
    # the profile parser uses luhn_ok too (it refuses a profile IMEI with a wrong check digit)
    rng = random.Random(15)
    for _ in range(2000):
        payload = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 20)))
        right = [d == luhn_digit(payload) for d in "0123456789"]
        assert [_textbook_luhn_ok(payload + d) for d in "0123456789"] == right
        assert [luhn_ok(payload + d) for d in "0123456789"] == right


def test_index_0_is_the_profile_itself() -> None:
    for name in list_profiles():
        profile = load_profile(name)
        assert for_unit(profile.identity, 0) is profile.identity
        assert profile_for_unit(profile, 0) is profile


def distinct_units(profile_value: str, unit_value: Callable[[str, int], str], kept: int) -> list[str]:
    """Units 0 .. UNITS-1 of one number: all distinct, as long as the profile's, its first ``kept`` digits kept."""
    values = [unit_value(profile_value, i) for i in range(UNITS)]
    assert len(set(values)) == UNITS
    assert {len(v) for v in values} == {len(profile_value)}
    assert all(v.isascii() and v.isdigit() for v in values)
    assert {v[:kept] for v in values} == {profile_value[:kept]}
    return values


def test_100000_units_are_distinct_and_valid() -> None:
    identity = load_profile("NL668_AM_00").identity  # a 3-digit MNC (310 410), an ICCID with a check digit
    assert all(map(luhn_ok, distinct_units(identity.imei, unit_imei, 8)))  # the TAC kept
    distinct_units(identity.imsi, unit_imsi, 6)  # MCC + MNC
    iccids = distinct_units(identity.iccid, unit_iccid, 7)  # 89, country code, issuer
    assert all(map(luhn_ok, iccids[::97]))  # (every one is a Luhn digit appended: a sample checks the digit)
    # for_unit takes its numbers from those functions and leaves the rest alone
    for i in range(1, UNITS, 9973):
        unit = for_unit(identity, i)
        assert (unit.imei, unit.imsi, unit.iccid) == (unit_imei(identity.imei, i),
                                                      unit_imsi(identity.imsi, i), iccids[i])
        assert (unit.manufacturer, unit.model, unit.revision) == (identity.manufacturer, identity.model,
                                                                  identity.revision)


def test_an_iccid_without_check_digit_gets_none() -> None:
    iccid = load_profile("L610").identity.iccid  # 20 digits, the last no Luhn digit (profile_parse allows it)
    assert not luhn_ok(iccid)
    iccids = distinct_units(iccid, unit_iccid, 7)
    assert iccids[3] == "89860311001234567893"  # the last digit is part of the account number
    assert not all(map(luhn_ok, iccids[:20]))


def test_derived_values_step_from_the_profile() -> None:
    identity = load_profile("NL668_AM_00").identity  # 352198080081355, 310410234567891, 89014104102345678910
    unit = for_unit(identity, 1)
    assert unit.imei == "35219808008136" + luhn_digit("35219808008136")
    assert unit.imsi == "310410234567892"
    assert unit.iccid == "8901410410234567892" + luhn_digit("8901410410234567892")
    # the serial number wraps within its 6 digits, never into the TAC
    assert for_unit(identity, 1_000_000 - 8135).imei[:14] == "35219808000000"


def test_ati_lines_quote_the_derived_imei() -> None:
    profile = load_profile("M910")
    unit = for_unit(profile.identity, 7)
    assert f"IMEI: {profile.identity.imei}" in profile.identity.ati
    assert unit.ati == tuple(line.replace(profile.identity.imei, unit.imei) for line in profile.identity.ati)
    assert f"IMEI: {unit.imei}" in unit.ati


def test_a_digit_run_that_merely_contains_the_imei_is_left_alone() -> None:
    identity = load_profile("M910").identity
    line = f"Serial: 9{identity.imei}"
    unit = for_unit(dataclasses.replace(identity, ati=(line,)), 5)
    assert unit.ati == (line,)


def test_negative_index_is_refused() -> None:
    with pytest.raises(ValueError):
        for_unit(load_profile("M910").identity, -1)


def test_a_module_built_on_a_unit_profile_answers_its_identity() -> None:
    profile = load_profile("NL668_EU_00")
    unit = profile_for_unit(profile, 42)
    module = InMemoryModule(unit)
    module.take()
    module.command("ATE0")
    assert module.command("AT+CGSN") == f"\r\n{unit.identity.imei}\r\n\r\nOK\r\n".encode()
    assert module.command("AT+CIMI") == f"\r\n{unit.identity.imsi}\r\n\r\nOK\r\n".encode()
    assert module.command("AT+CCID") == f"\r\n+CCID: {unit.identity.iccid}\r\n\r\nOK\r\n".encode()
    assert f"IMEI: {unit.identity.imei}".encode() in module.command("ATI")
    assert unit.identity.imei != profile.identity.imei

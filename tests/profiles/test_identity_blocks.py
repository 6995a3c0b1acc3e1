"""Shipped profiles that share an identity prefix keep their numbers 100,000 apart, so a fleet mixing them
repeats no IMEI, IMSI or ICCID (module ``i`` offsets the profile's numbers by ``i``: core/identity.py)."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest

from emulator.core.identity import ICCID_KEPT_DIGITS, IMSI_KEPT_DIGITS, TAC_DIGITS, for_unit, luhn_ok
from emulator.core.profile import Profile
from emulator.profiles import list_profiles, load_profile

#: the module indexes one profile's block holds (10 Locust workers of WORKER_STRIDE modules each)
BLOCK = 100_000


def _split(kind: str, value: str) -> tuple[str, str]:
    """(the prefix module i keeps, the digits it offsets by i), as core/identity.py derives them."""
    if kind == "imei":
        return value[:TAC_DIGITS], value[TAC_DIGITS:-1]  # the last digit is the Luhn digit
    if kind == "imsi":
        return value[:IMSI_KEPT_DIGITS], value[IMSI_KEPT_DIGITS:]
    if luhn_ok(value):
        return value[:ICCID_KEPT_DIGITS], value[ICCID_KEPT_DIGITS:-1]
    return value[:ICCID_KEPT_DIGITS], value[ICCID_KEPT_DIGITS:]  # no check digit (the L610's)


@pytest.fixture(scope="module")
def profiles() -> list[Profile]:
    return [load_profile(name) for name in list_profiles()]


@pytest.mark.parametrize("kind", ["imei", "imsi", "iccid"])
def test_profiles_sharing_a_prefix_are_a_block_apart(profiles: list[Profile], kind: str) -> None:
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for profile in profiles:
        prefix, offset = _split(kind, getattr(profile.identity, kind))
        groups[prefix].append((profile.name, offset))
    too_close = []
    for prefix, members in groups.items():
        for (a, x), (b, y) in itertools.combinations(members, 2):
            assert len(x) == len(y), f"{a} and {b}: {kind} of different lengths under {prefix}"
            apart = (int(y) - int(x)) % 10 ** len(x)
            if min(apart, 10 ** len(x) - apart) < BLOCK:  # the offset wraps within its digits
                too_close.append(f"{a} {b} ({prefix}: {x} {y})")
    assert not too_close, f"{kind}s less than {BLOCK:,} apart: {too_close}"


def test_a_mix_of_every_profile_repeats_no_identity_at_the_block_edges(profiles: list[Profile]) -> None:
    # The derivation itself, at the indexes where neighbouring blocks would meet (and a worker's stride)
    seen: dict[str, str] = {}
    for profile in profiles:
        for index in (0, 1, 9_999, 10_000, BLOCK - 1):
            unit = for_unit(profile.identity, index)
            for value in (unit.imei, unit.imsi, unit.iccid):
                who = f"{profile.name} module {index}"
                assert seen.setdefault(value, who) == who, f"{value}: {seen[value]} and {who}"

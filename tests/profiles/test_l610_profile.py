"""The L610 profile family and the optional ``[gtsslerr]`` table: what they say, and what is refused."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from emulator.core.codes import FailureClass
from emulator.core.errors import ProfileError
from emulator.core.profile import NL668_GTSSLERR
from emulator.core.profile_parse import parse_profile
from emulator.profiles import PROFILES_ENV, list_profiles, load_profile

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_user_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILES_ENV, raising=False)


def toml(relative: str) -> dict[str, Any]:
    return tomllib.loads((REPO / "profiles" / relative).read_text(encoding="utf-8"))


def parse_l610(variant_change: Any = None, family_change: Any = None) -> Any:
    variant, family = toml("L610.toml"), toml("families/L610.toml")
    if variant_change:
        variant_change(variant)
    if family_change:
        family_change(family)
    return parse_profile(variant, where="L610.toml", family=family, family_where="families/L610.toml")


class TestShippedL610:
    def test_it_is_listed_and_loads(self) -> None:
        assert "L610" in list_profiles()
        profile = load_profile("l610")
        assert (profile.name, profile.family) == ("L610", "L610")

    def test_identity_after_the_field_module(self) -> None:
        identity = load_profile("L610").identity
        assert identity.revision == "16000.1208.00.86.02.02"
        assert identity.ati == (
            "Manufacturer: Fibocom Wireless Inc.",
            f"Model: {identity.model}",
            "Revision: 16000.1208.00.86.02.02",
        )
        # The real host (S1) accepts the port when "fibocom" or "l610" is in the ATI / CGMM text.
        assert "l610" in identity.model.lower() and "fibocom" in identity.manufacturer.lower()

    def test_ssl_facts(self) -> None:
        ssl = load_profile("L610").ssl
        assert (ssl.default_version, sorted(ssl.versions), ssl.highest_version) == (0, [0, 2, 3, 4], 4)
        assert load_profile("L610").files.content_check == "none"

    def test_the_gtsslerr_table(self) -> None:
        profile = load_profile("L610")
        assert dict(profile.gtsslerr.codes) == {
            FailureClass.VERIFY: -11, FailureClass.TIME: -11, FailureClass.FILE: -19,
            FailureClass.ALERT: -9, FailureClass.INTERNAL: -8, FailureClass.TIMEOUT: -7,
        }
        source = profile.sources["gtsslerr"]
        assert "issue 11 field evidence (L610-CN" in source and "chosen:" in source

    def test_every_table_cites_the_evidence_or_says_chosen(self) -> None:
        for table, source in load_profile("L610").sources.items():
            assert "issue 11 field evidence (L610-CN" in source or "chosen:" in source, table

    def test_nl668_profiles_keep_the_manual_numbers(self) -> None:
        for name in list_profiles():
            if not name.startswith("L610"):
                profile = load_profile(name)
                assert profile.gtsslerr == NL668_GTSSLERR, name
                assert profile.sources["gtsslerr"].startswith("manual §1.3.4"), name
                assert 0 not in profile.ssl.versions, name


class TestGtsslerrTableParsing:
    def test_nl668_means_the_manual_code_for_that_class(self) -> None:
        def change(family: dict[str, Any]) -> None:
            family["gtsslerr"]["alert"] = "nl668"

        table = parse_l610(family_change=change).gtsslerr
        assert table.report(FailureClass.ALERT, 70) == 70
        assert table.report(FailureClass.VERIFY, 48) == -11

    def test_left_out_everywhere_the_default_applies(self) -> None:
        def drop(family: dict[str, Any]) -> None:
            del family["gtsslerr"]

        profile = parse_l610(family_change=drop)
        assert profile.gtsslerr == NL668_GTSSLERR
        assert profile.gtsslerr.report(FailureClass.TIME, 45) == 45

    def test_a_variant_table_replaces_the_family_one(self) -> None:
        def own(variant: dict[str, Any]) -> None:
            variant["gtsslerr"] = {c.value: -1 for c in FailureClass} | {"source": "chosen: test"}

        profile = parse_l610(variant_change=own)
        assert set(profile.gtsslerr.codes.values()) == {-1}
        assert profile.sources["gtsslerr"] == "chosen: test"

    @pytest.mark.parametrize(
        ("key", "value", "path", "why"),
        [
            ("alert", 0, "$.gtsslerr.alert", "0 means no error"),
            ("alert", 300, "$.gtsslerr.alert", "not a +GTSSLERR code"),
            ("alert", True, "$.gtsslerr.alert", "expected an integer or 'nl668'"),
            ("alert", "NL668", "$.gtsslerr.alert", "expected an integer or 'nl668'"),
            ("alerts", -9, "$.gtsslerr.alerts", "unknown key (did you mean 'alert'?)"),
        ],
    )
    def test_refusals_name_the_field(self, key: str, value: object, path: str, why: str) -> None:
        def change(family: dict[str, Any]) -> None:
            family["gtsslerr"][key] = value

        with pytest.raises(ProfileError) as caught:
            parse_l610(family_change=change)
        assert (caught.value.path, caught.value.where) == (path, "families/L610.toml")
        assert why in caught.value.why

    def test_a_missing_class_is_refused(self) -> None:
        def change(family: dict[str, Any]) -> None:
            del family["gtsslerr"]["timeout"]

        with pytest.raises(ProfileError) as caught:
            parse_l610(family_change=change)
        assert caught.value.path == "$.gtsslerr.timeout"

    def test_versions_zero_alone_cannot_connect(self) -> None:
        def change(family: dict[str, Any]) -> None:
            family["ssl"]["versions"] = [0]

        with pytest.raises(ProfileError) as caught:
            parse_l610(family_change=change)
        assert caught.value.path == "$.ssl.versions"

"""Profiles: the shipped variants say what the manual says, and bad files are refused by path.

The manual facts checked here are restated from the vendor manual, not read
back from the profile files, so a wrong profile fails: §1.4.4 note (which
builds lack SSL3.0) and §1.5.4 note (the two cipher groups).
"""

from __future__ import annotations

import ast
import os
import tomllib
from pathlib import Path

import pytest

from emulator.core.errors import ProfileError
from emulator.core.profile_parse import TABLES, parse_profile
from emulator.profiles import DEFAULT_PROFILE, PROFILES_ENV, list_profiles, load_profile, profile_search_path

REPO = Path(__file__).resolve().parents[2]

VARIANTS = (
    "M910",
    "NL668_CN_00",
    "NL668_CN_01",
    "NL668_CN_02",
    "NL668_CN_03",
    "NL668_CN_04",
    "NL668_CN_10",
    "NL668_EAU",
    "NL668_EU_00",
    "NL668_EU_01",
    "NL668_AM_00",
    "NL668_AM_01",
    "NL668_JP_00",
    "NL668_JP_01",
    "NL668_LA_00",
)
#: the L610 family (issue 11 field evidence): same command family, not in the NL668 manual's notes
L610_VARIANTS = ("L610",)
#: every shipped profile: 16
ALL_PROFILES = VARIANTS + L610_VARIANTS

#: manual §1.4.4 note: "SSL3.0 does not support on NL668_AM_00/01, NL668_JP_00/01, NL668_CN_03/04, NL668_LA_00"
NO_SSL3 = {"NL668_AM_00", "NL668_AM_01", "NL668_JP_00", "NL668_JP_01", "NL668_CN_03", "NL668_CN_04", "NL668_LA_00"}

#: manual §1.5.4 note, first group; CN_03 and CN_10 are not listed and follow it by our choice
CIPHERS_1_6 = {"M910", "NL668_CN_00", "NL668_CN_01", "NL668_CN_02", "NL668_EAU", "NL668_EU_00", "NL668_EU_01"}
#: manual §1.5.4 note, second group ("NL668_AM/NL668_JP/NL668_LA/NL668_CN_04")
CIPHERS_2_10 = {"NL668_AM_00", "NL668_AM_01", "NL668_JP_00", "NL668_JP_01", "NL668_LA_00", "NL668_CN_04"}
NOT_IN_CIPHER_NOTE = {"NL668_CN_03", "NL668_CN_10"}

MODELS = {
    "M910": "M910",
    "CN": "NL668-CN",
    "EU": "NL668-EU",
    "EAU": "NL668-EAU",
    "AM": "NL668-AM",
    "JP": "NL668-JP",
    "LA": "NL668-LA",
}


@pytest.fixture(autouse=True)
def _no_user_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own $NL668_PROFILES must not change what these tests see."""
    monkeypatch.delenv(PROFILES_ENV, raising=False)


# --- the shipped profiles ----------------------------------------------------


@pytest.mark.parametrize("name", ALL_PROFILES)
def test_every_variant_loads(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name


def test_names_match_case_insensitively() -> None:
    assert load_profile("nl668_am_00").name == "NL668_AM_00"
    assert load_profile("m910").name == "M910"


def test_default_profile_exists() -> None:
    assert load_profile(DEFAULT_PROFILE).name == DEFAULT_PROFILE


def test_list_profiles_is_exactly_the_variants() -> None:
    assert list_profiles() == sorted(ALL_PROFILES)
    assert len(ALL_PROFILES) == 16


@pytest.mark.parametrize("name", ALL_PROFILES)
def test_every_table_has_a_source(name: str) -> None:
    sources = load_profile(name).sources
    assert set(sources) == set(TABLES)
    for table, source in sources.items():
        cited = ("manual §", "fibocom-tcpip.md", "issue 11 field evidence (L610-CN")
        assert any(c in source for c in cited) or source.startswith("chosen:"), (table, source)


def test_ssl3_missing_exactly_on_the_manual_1_4_4_list() -> None:
    without_ssl3 = {name for name in VARIANTS if 1 not in load_profile(name).ssl.versions}
    assert without_ssl3 == NO_SSL3


@pytest.mark.parametrize("name", VARIANTS)
def test_versions_and_tls10_default(name: str) -> None:
    """Manual §1.4.4: 2 (TLS1.0) is the default; 2-4 exist on every build."""
    ssl = load_profile(name).ssl
    assert ssl.default_version == 2
    assert ssl.versions == ({2, 3, 4} if name in NO_SSL3 else {1, 2, 3, 4})


@pytest.mark.parametrize("name", sorted(CIPHERS_1_6 | NOT_IN_CIPHER_NOTE))
def test_cipher_group_1_to_6(name: str) -> None:
    ssl = load_profile(name).ssl
    assert (ssl.default_ciphers, ssl.optional_ciphers) == ((1, 2, 3), (4, 5, 6))


@pytest.mark.parametrize("name", sorted(CIPHERS_2_10))
def test_cipher_group_2_to_10(name: str) -> None:
    ssl = load_profile(name).ssl
    assert (ssl.default_ciphers, ssl.optional_ciphers) == ((2, 3, 4), (7, 8, 9, 10))
    assert ssl.supported_ciphers == (2, 3, 4, 7, 8, 9, 10)


@pytest.mark.parametrize("name", sorted(NOT_IN_CIPHER_NOTE))
def test_unlisted_cipher_groups_say_they_are_chosen(name: str) -> None:
    source = load_profile(name).sources["ssl"]
    assert "chosen:" in source and "not listed in the §1.5.4 note" in source


def test_cipher_groups_cover_every_variant() -> None:
    assert set(VARIANTS) == CIPHERS_1_6 | CIPHERS_2_10 | NOT_IN_CIPHER_NOTE


@pytest.mark.parametrize("name", VARIANTS)
def test_identity_is_consistent(name: str) -> None:
    profile = load_profile(name)
    identity = profile.identity
    region = "M910" if name == "M910" else name.split("_")[1]
    assert identity.model == MODELS[region]
    assert identity.ati == (
        "Manufacturer: Fibocom Wireless Inc.",
        f"Model: {identity.model}",
        f"Revision: {identity.revision}",
        f"IMEI: {identity.imei}",
        "ESN: +GSN: 0x0",  # after the IMEI, as on the NL668T-GL capture (issue 11)
        "+GCAP: +CGSM",
    )
    assert identity.imsi.startswith(profile.network.operator_numeric)


def test_identities_are_distinct() -> None:
    identities = [load_profile(name).identity for name in ALL_PROFILES]
    for attr in ("imei", "imsi", "iccid", "revision"):
        values = [getattr(i, attr) for i in identities]
        assert len(set(values)) == len(values), attr


def test_manual_2_6_example_1_network_on_cn_builds() -> None:
    """Manual §2.6 example 1: AT+MIPCALL=1,"cmnet" -> +MIPCALL: 10.79.220.142."""
    for name in ("NL668_CN_00", "NL668_CN_04", "NL668_CN_10", "M910"):
        network = load_profile(name).network
        assert (network.operator_numeric, network.apn, network.local_ip) == ("46000", "cmnet", "10.79.220.142")


def test_manual_1_1_file_limits() -> None:
    """Manual §1.1.2: 40 trust files; §1.1.4: 4-8192 bytes, 12 s at the > prompt (L610: chosen the same)."""
    for name in ALL_PROFILES:
        files = load_profile(name).files
        assert (files.file_len_min, files.file_len_max, files.trust_files_max, files.data_timeout_s) == (
            4,
            8192,
            40,
            12.0,
        )


def test_families_agree_outside_the_ssl_facts() -> None:
    """The families split on the manual's SSL notes only; the other shared tables must not drift apart."""
    a, b = load_profile("NL668_EU_00"), load_profile("NL668_AM_00")
    assert (a.files, a.at, a.boot, a.sockets) == (b.files, b.at, b.boot, b.sockets)
    assert a.at.prompt == "\r\n> " and a.boot.urcs == ("+SIM READY",)


def test_shipped_family_files_have_no_based_on() -> None:
    families = sorted((REPO / "profiles" / "families").glob("*.toml"))
    assert families
    for family in families:
        assert "based_on" not in tomllib.loads(family.read_text(encoding="utf-8")), family.name


# --- the search path ---------------------------------------------------------


def test_search_path_puts_env_dirs_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv(PROFILES_ENV, f"{first}{os.pathsep}{second}")
    assert profile_search_path() == [first, second, REPO / "profiles"]


def test_env_dir_shadows_a_shipped_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "NL668_AM_00.toml").write_text(
        _mutate(FULL, 'name = "TEST"', 'name = "NL668_AM_00"').replace("a test profile", "shadowing copy"),
        encoding="utf-8",
    )
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path))
    assert load_profile("nl668_am_00").description == "shadowing copy"
    assert list_profiles() == sorted(ALL_PROFILES)


def test_unknown_name_lists_the_known_profiles() -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile("NL668_XX_99")
    assert "NL668_XX_99" in str(caught.value)
    assert "NL668_AM_00" in caught.value.why and "M910" in caught.value.why


def test_name_must_match_file_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "MINE.toml").write_text(FULL, encoding="utf-8")
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path))
    with pytest.raises(ProfileError) as caught:
        load_profile("mine")
    assert caught.value.path == "$.name"
    # Loaded by path, a file may be called anything.
    assert load_profile(tmp_path / "MINE.toml").name == "TEST"


def test_rewritten_file_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path, FULL)
    assert load_profile(path).at.line_max == 2048
    path.write_text(_mutate(FULL, "line_max = 2048", "line_max = 512"), encoding="utf-8")
    assert load_profile(path).at.line_max == 512


# --- refusals ----------------------------------------------------------------

FULL = """\
schema = 1
name = "TEST"
family = "NL668_AM"
description = "a test profile"

[identity]
manufacturer = "Fibocom Wireless Inc."
model = "NL668-AM"
revision = "19906.5080.00.00.00.23"
imei = "352198080081355"
imsi = "310410234567891"
iccid = "89014104102345678910"
ati = ["Manufacturer: Fibocom Wireless Inc.", "Model: NL668-AM", "Revision: 19906.5080.00.00.00.23"]
source = "chosen: test"

[ssl]
versions = [2, 3, 4]
default_version = 2
default_ciphers = [2, 3, 4]
optional_ciphers = [7, 8, 9, 10]
source = "manual §1.4.4 note; manual §1.5.4 note"

[files]
file_len_min = 4
file_len_max = 8192
trust_files_max = 40
data_timeout_s = 12
content_check = "parse"
source = "manual §1.1.4"

[at]
line_max = 2048
echo_default = true
echo_data = false
prompt = "\\r\\n> "
non_at_line = "ignore"
source = "chosen: test"

[boot]
urcs = ["+SIM READY"]
reboot_s = 0.5
source = "chosen: test"

[network]
operator_numeric = "310410"
operator_name = "AT&T"
access_technology = 7
rssi = 24
ber = 99
registration = 1
apn = "broadband"
local_ip = "10.146.52.17"
source = "chosen: test"

[sockets]
first_id = 1
last_id = 6
send_buffer = 2048
push_size = 1372
urc_chunk = 1024
open_timeout_s = 60.0
result_before_ok = false
open_failure = "mipopen"
close_type_tls = 1
close_type_tcp = 0
peer_close = "mipstat"
push_after_send = false
source = "chosen: test"
"""


def _mutate(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"template does not contain {old!r} exactly once"
    return text.replace(old, new)


def _write(tmp_path: Path, text: str, name: str = "TEST.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _refusal(path: Path) -> ProfileError:
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    return caught.value


def test_the_template_is_valid(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, FULL))
    assert profile.ssl.versions == frozenset({2, 3, 4})
    assert profile.files.data_timeout_s == 12.0 and isinstance(profile.files.data_timeout_s, float)
    assert profile.at.prompt == "\r\n> "


def test_keys_added_later_take_the_field_default_or_the_value_given(tmp_path: Path) -> None:
    # FULL predates data_after_cr, close_after_end and mipconf: it gets profile.py's defaults.
    default = load_profile(_write(tmp_path, FULL))
    assert (default.at.data_after_cr, default.sockets.close_after_end, default.sockets.mipconf) == (
        "lf-is-terminator", "ok", False)
    text = _mutate(FULL, 'non_at_line = "ignore"', 'non_at_line = "ignore"\ndata_after_cr = "lf-is-data"')
    text = _mutate(text, "push_after_send = false", 'push_after_send = false\nclose_after_end = "error"\nmipconf = true')
    given = load_profile(_write(tmp_path, text, "GIVEN.toml"))
    assert (given.at.data_after_cr, given.sockets.close_after_end, given.sockets.mipconf) == ("lf-is-data", "error", True)
    bad = _mutate(FULL, "push_after_send = false", "push_after_send = false\nmipconf = 1")
    assert "$.sockets.mipconf" in str(_refusal(_write(tmp_path, bad, "BAD.toml")))


BAD = [
    # (what, old text, new text, expected path, a word of the reason)
    ("unknown key", "default_version = 2", "default_version = 2\ncolour = 3", "$.ssl.colour", "unknown"),
    ("misspelt key", "echo_data = false", "echo_dta = false", "$.at.echo_dta", "echo_data"),
    ("unknown top-level key", 'family = "NL668_AM"', 'family = "NL668_AM"\nvariant = 1', "$.variant", "unknown"),
    ("missing key", "default_version = 2\n", "", "$.ssl.default_version", "missing"),
    ("missing top-level key", 'description = "a test profile"\n', "", "$.description", "missing"),
    ("missing table", '[sockets]\nfirst_id = 1\nlast_id = 6\nsend_buffer = 2048\npush_size = 1372\nurc_chunk = 1024\nopen_timeout_s = 60.0\nresult_before_ok = false\nopen_failure = "mipopen"\nclose_type_tls = 1\nclose_type_tcp = 0\npeer_close = "mipstat"\npush_after_send = false\nsource = "chosen: test"\n', "", "$.sockets", "missing"),
    (
        "missing source",
        'non_at_line = "ignore"\nsource = "chosen: test"',
        'non_at_line = "ignore"',
        "$.at.source",
        "missing",
    ),
    (
        "empty source",
        'urcs = ["+SIM READY"]\nreboot_s = 0.5\nsource = "chosen: test"',
        'urcs = ["+SIM READY"]\nreboot_s = 0.5\nsource = ""',
        "$.boot.source",
        "empty",
    ),
    ("wrong type", "rssi = 24", 'rssi = "24"', "$.network.rssi", "integer"),
    ("bool as int", "first_id = 1", "first_id = true", "$.sockets.first_id", "boolean"),
    ("int as bool", "echo_default = true", "echo_default = 1", "$.at.echo_default", "boolean"),
    ("not a list", 'urcs = ["+SIM READY"]', 'urcs = "+SIM READY"', "$.boot.urcs", "array"),
    ("schema", "schema = 1", "schema = 2", "$.schema", "schema"),
    (
        "cipher out of range",
        "default_ciphers = [2, 3, 4]",
        "default_ciphers = [2, 3, 12]",
        "$.ssl.default_ciphers[2]",
        "12",
    ),
    (
        "cipher selector 255",
        "optional_ciphers = [7, 8, 9, 10]",
        "optional_ciphers = [255]",
        "$.ssl.optional_ciphers[0]",
        "255",
    ),
    (
        "cipher repeated",
        "optional_ciphers = [7, 8, 9, 10]",
        "optional_ciphers = [7, 8, 7]",
        "$.ssl.optional_ciphers[2]",
        "twice",
    ),
    (
        "cipher in both lists",
        "optional_ciphers = [7, 8, 9, 10]",
        "optional_ciphers = [7, 4]",
        "$.ssl.optional_ciphers[1]",
        "default",
    ),
    ("no default ciphers", "default_ciphers = [2, 3, 4]", "default_ciphers = []", "$.ssl.default_ciphers", "empty"),
    (
        "default_version not in versions",
        "default_version = 2",
        "default_version = 1",
        "$.ssl.default_version",
        "versions",
    ),
    ("unknown ssl version", "versions = [2, 3, 4]", "versions = [2, 3, 5]", "$.ssl.versions[2]", "5"),
    ("file_len_min 0", "file_len_min = 4", "file_len_min = 0", "$.files.file_len_min", "0"),
    ("file_len_max below min", "file_len_max = 8192", "file_len_max = 3", "$.files.file_len_max", "below"),
    ("no trust files", "trust_files_max = 40", "trust_files_max = 0", "$.files.trust_files_max", "0"),
    ("zero timeout", "data_timeout_s = 12", "data_timeout_s = 0.0", "$.files.data_timeout_s", "0"),
    ("infinite timeout", "data_timeout_s = 12", "data_timeout_s = inf", "$.files.data_timeout_s", "finite"),
    ("content_check", 'content_check = "parse"', 'content_check = "strict"', "$.files.content_check", "strict"),
    # keys added later (optional, test_keys_added_later_...): still checked when given
    ("data_after_cr", 'non_at_line = "ignore"', 'non_at_line = "ignore"\ndata_after_cr = "lf"', "$.at.data_after_cr",
     "lf-is-data"),
    ("close_after_end", "push_after_send = false", 'push_after_send = false\nclose_after_end = 1',
     "$.sockets.close_after_end", "string"),
    ("close_after_end choice", "push_after_send = false", 'push_after_send = false\nclose_after_end = "maybe"',
     "$.sockets.close_after_end", "maybe"),
    ("line_max tiny", "line_max = 2048", "line_max = 8", "$.at.line_max", "16"),
    ("empty prompt", 'prompt = "\\r\\n> "', 'prompt = ""', "$.at.prompt", "empty"),
    ("non_at_line", 'non_at_line = "ignore"', 'non_at_line = "drop"', "$.at.non_at_line", "drop"),
    ("negative reboot", "reboot_s = 0.5", "reboot_s = -1", "$.boot.reboot_s", "negative"),
    ("rssi", "rssi = 24", "rssi = 32", "$.network.rssi", "32"),
    ("ber", "ber = 99", "ber = 8", "$.network.ber", "8"),
    ("registration", "registration = 1", "registration = 6", "$.network.registration", "6"),
    ("access technology", "access_technology = 7", "access_technology = 10", "$.network.access_technology", "10"),
    ("local_ip", 'local_ip = "10.146.52.17"', 'local_ip = "10.146.52.256"', "$.network.local_ip", "IPv4"),
    ("operator", 'operator_numeric = "310410"', 'operator_numeric = "3104"', "$.network.operator_numeric", "MCC"),
    ("socket 0", "first_id = 1", "first_id = 0", "$.sockets.first_id", "0"),
    ("socket 33", "last_id = 6", "last_id = 33", "$.sockets.last_id", "33"),
    ("sockets reversed", "first_id = 1", "first_id = 7", "$.sockets.last_id", "below"),
    ("imei length", 'imei = "352198080081355"', 'imei = "35219808008135"', "$.identity.imei", "15 digits"),
    ("imei luhn", 'imei = "352198080081355"', 'imei = "352198080081356"', "$.identity.imei", "Luhn"),
    ("iccid prefix", 'iccid = "89014104102345678910"', 'iccid = "99014104102345678910"', "$.identity.iccid", "89"),
    (
        "empty identity",
        'manufacturer = "Fibocom Wireless Inc."',
        'manufacturer = ""',
        "$.identity.manufacturer",
        "empty",
    ),
    ("ati not strings", 'ati = ["Manufacturer: Fibocom Wireless Inc.", ', "ati = [1, ", "$.identity.ati[0]", "string"),
]


@pytest.mark.parametrize(("what", "old", "new", "path", "why"), BAD, ids=[row[0] for row in BAD])
def test_bad_profile_is_refused_by_path(
    tmp_path: Path, what: str, old: str, new: str, path: str, why: str | None
) -> None:
    file = _write(tmp_path, _mutate(FULL, old, new))
    error = _refusal(file)
    assert error.where == str(file.resolve())
    assert error.path == path, error
    if why is not None:
        assert why in error.why, error
    assert str(file.resolve()) in str(error) and path in str(error)


def test_value_where_a_table_belongs_is_refused(tmp_path: Path) -> None:
    text = _mutate(FULL, '[sockets]\nfirst_id = 1\nlast_id = 6\nsend_buffer = 2048\npush_size = 1372\nurc_chunk = 1024\nopen_timeout_s = 60.0\nresult_before_ok = false\nopen_failure = "mipopen"\nclose_type_tls = 1\nclose_type_tcp = 0\npeer_close = "mipstat"\npush_after_send = false\nsource = "chosen: test"\n', "")
    text = _mutate(text, 'description = "a test profile"\n', 'description = "a test profile"\nsockets = 3\n')
    error = _refusal(_write(tmp_path, text))
    assert (error.path, error.why) == ("$.sockets", "expected a table, got an integer (3)")


def test_empty_ati_is_refused(tmp_path: Path) -> None:
    text = FULL.replace(
        'ati = ["Manufacturer: Fibocom Wireless Inc.", "Model: NL668-AM", "Revision: 19906.5080.00.00.00.23"]',
        "ati = []",
    )
    assert text != FULL
    error = _refusal(_write(tmp_path, text))
    assert (error.path, error.why) == ("$.identity.ati", "must not be empty")


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    file = _write(tmp_path, _mutate(FULL, "rssi = 24", "rssi = = 24"), name="BROKEN.toml")
    error = _refusal(file)
    assert "BROKEN.toml" in error.where and "BROKEN.toml" in str(error)
    assert "TOML" in error.why and "line" in error.why


def test_missing_path_is_refused(tmp_path: Path) -> None:
    error = _refusal(tmp_path / "nowhere.toml")
    assert "nowhere.toml" in str(error)


# --- inheritance ---------------------------------------------------------------

FAMILY = _mutate(
    _mutate(FULL, 'name = "TEST"\n', ""),
    'family = "NL668_AM"\ndescription = "a test profile"\n',
    'family = "FAM_FAMILY"\ndescription = "a test family"\n',
)

VARIANT_HEAD = """\
schema = 1
name = "KID"
description = "a variant"
based_on = "FAM"
"""

SSL_TABLE = """
[ssl]
versions = [1, 2, 3, 4]
default_version = 2
default_ciphers = [1, 2, 3]
optional_ciphers = [4, 5, 6]
source = "chosen: kid ssl"
"""


def _family_dir(tmp_path: Path, family_text: str) -> Path:
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "FAM.toml").write_text(family_text, encoding="utf-8")
    return tmp_path / "families" / "FAM.toml"


def test_variant_tables_replace_family_tables_whole(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _family_dir(tmp_path, FAMILY)
    _write(tmp_path, VARIANT_HEAD + SSL_TABLE, name="KID.toml")
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path))
    profile = load_profile("kid")
    assert profile.ssl.versions == frozenset({1, 2, 3, 4}) and profile.ssl.default_ciphers == (1, 2, 3)
    assert profile.sources["ssl"] == "chosen: kid ssl"
    assert profile.sources["at"] == "chosen: test" and profile.at.line_max == 2048
    assert profile.family == "FAM_FAMILY"  # not in the variant, so from the family file
    assert "KID" in list_profiles() and "FAM" not in list_profiles()


def test_partial_table_is_not_merged(tmp_path: Path) -> None:
    """Table-level replacement: a variant [ssl] must be complete even though the family has one."""
    _family_dir(tmp_path, FAMILY)
    variant = _write(tmp_path, VARIANT_HEAD + _mutate(SSL_TABLE, "optional_ciphers = [4, 5, 6]\n", ""), name="KID.toml")
    error = _refusal(variant)
    assert (error.path, error.where) == ("$.ssl.optional_ciphers", str(variant.resolve()))


def test_error_in_inherited_table_names_the_family_file(tmp_path: Path) -> None:
    family = _family_dir(tmp_path, _mutate(FAMILY, "rssi = 24", "rssi = 40"))
    error = _refusal(_write(tmp_path, VARIANT_HEAD, name="KID.toml"))
    assert (error.path, error.where) == ("$.network.rssi", str(family.resolve()))


def test_shadowed_family_table_is_still_validated(tmp_path: Path) -> None:
    family = _family_dir(tmp_path, _mutate(FAMILY, "default_ciphers = [2, 3, 4]", "default_ciphers = [2, 3, 11]"))
    error = _refusal(_write(tmp_path, VARIANT_HEAD + SSL_TABLE, name="KID.toml"))
    assert (error.path, error.where) == ("$.ssl.default_ciphers[2]", str(family.resolve()))


def test_family_with_based_on_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    family = _family_dir(tmp_path, 'based_on = "OTHER"\n' + FAMILY)
    _write(tmp_path, VARIANT_HEAD, name="KID.toml")
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path))
    with pytest.raises(ProfileError) as caught:
        load_profile("KID")
    assert (caught.value.path, caught.value.where) == ("$.based_on", str(family.resolve()))
    assert "one level" in caught.value.why


def test_family_from_search_path_serves_a_variant_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "mine").mkdir()
    _family_dir(tmp_path / "lib", FAMILY)
    variant = _write(tmp_path / "mine", VARIANT_HEAD, name="KID.toml")
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path / "lib"))
    assert load_profile(variant).sources["ssl"] == "manual §1.4.4 note; manual §1.5.4 note"


def test_unknown_family_is_refused(tmp_path: Path) -> None:
    variant = _write(tmp_path, VARIANT_HEAD, name="KID.toml")
    error = _refusal(variant)
    assert (error.path, error.where) == ("$.based_on", str(variant.resolve()))
    assert "FAM" in error.why


def test_parse_profile_needs_the_family_it_names() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile({"schema": 1, "name": "X", "description": "d", "based_on": "FAM"}, where="x.toml")
    assert (caught.value.where, caught.value.path) == ("x.toml", "$.based_on")


def test_variant_family_key_wins_over_the_family_file() -> None:
    family = tomllib.loads(FAMILY)
    variant = tomllib.loads(VARIANT_HEAD + 'family = "OWN"\n')
    assert parse_profile(variant, where="v", family=family, family_where="f").family == "OWN"


# --- purity ------------------------------------------------------------------


def test_profile_parse_does_no_io() -> None:
    """The core parser must stay pure: the edge (emulator/profiles.py) does all file access."""
    tree = ast.parse((REPO / "emulator" / "core" / "profile_parse.py").read_text(encoding="utf-8"))
    forbidden = {"os", "io", "pathlib", "time", "socket", "tomllib", "sys", "shutil"}
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"open", "__import__"}, f"line {node.lineno} calls {node.func.id}()"
    assert imported, "the AST walk found no imports at all"
    assert not imported & forbidden, imported & forbidden

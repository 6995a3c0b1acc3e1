"""The SSL command set, every form and every refusal (manual chapter 1), in memory."""

from __future__ import annotations

import pytest

from emulator.core.codes import FileType
from emulator.runtime.in_memory import InMemoryModule
from emulator.servers.pki import cert_bytes

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
PROMPT = b"\r\n> "


@pytest.fixture
def m() -> InMemoryModule:
    module = InMemoryModule("NL668_AM_00")
    module.take()
    module.command("ATE0")
    return module


def upload(m: InMemoryModule, file_type: str, data: bytes) -> bytes:
    answer = m.command(f'AT+GTSSLFILE="{file_type}",{len(data)}')
    if answer != PROMPT:
        return answer
    return m.send(data)


def counts(m: InMemoryModule) -> tuple[int, int, int]:
    store = m.module.state.certs
    return store.count(FileType.CERTFILE), store.count(FileType.KEYFILE), store.count(FileType.TRUSTFILE)


class TestGtsslfile:
    """§1.1"""

    def test_read_form_lists_each_type(self, m: InMemoryModule) -> None:
        assert m.command("AT+GTSSLFILE?") == (
            b"\r\n+GTSSLFILE: CERTFILE,0\r\n+GTSSLFILE: KEYFILE,0\r\n+GTSSLFILE: TRUSTFILE,0\r\n" + OK
        )

    def test_test_form(self, m: InMemoryModule) -> None:
        assert m.command("AT+GTSSLFILE=?") == b'\r\n+GTSSLFILE: ("CERTFILE,KEYFILE,TRUSTFILE"),(4-8192)\r\n' + OK

    @pytest.mark.parametrize("spelling", ["trustfile", "TrustFile", " TRUSTFILE ", "TRUSTFILE"])
    def test_type_is_case_blind_and_tolerates_spaces(self, m: InMemoryModule, spelling: str) -> None:
        assert upload(m, spelling, cert_bytes("root-ca.pem")) == OK
        assert counts(m) == (0, 0, 1)

    def test_pkcs1_and_pkcs8_keys(self, m: InMemoryModule) -> None:
        assert upload(m, "KEYFILE", cert_bytes("client-pkcs8.key")) == OK
        other = InMemoryModule("NL668_AM_00")
        other.take()
        other.command("ATE0")
        assert upload(other, "KEYFILE", cert_bytes("client.key")) == OK

    @pytest.mark.parametrize("length", ["3", "8193", "0", "-1", "x", ""])
    def test_length_out_of_range_is_refused_before_the_prompt(self, m: InMemoryModule, length: str) -> None:
        assert m.command(f'AT+GTSSLFILE="TRUSTFILE",{length}') == ERROR
        assert m.command("AT") == OK

    @pytest.mark.parametrize("command", ['AT+GTSSLFILE="CAFILE",100', "AT+GTSSLFILE=TRUSTFILE", "AT+GTSSLFILE", 'AT+GTSSLFILE="TRUSTFILE",100,1'])
    def test_bad_type_or_arity(self, m: InMemoryModule, command: str) -> None:
        assert m.command(command) == ERROR

    def test_length_limits_inclusive(self, m: InMemoryModule) -> None:
        assert m.command('AT+GTSSLFILE="TRUSTFILE",8192') == PROMPT
        m.send(b"x" * 8192)
        assert m.command('AT+GTSSLFILE="TRUSTFILE",4') == PROMPT
        assert m.send(b"abcd") == ERROR  # not a certificate
        assert counts(m) == (0, 0, 0)

    @pytest.mark.parametrize(
        ("file_type", "name"),
        [
            ("TRUSTFILE", "client.key"),
            ("CERTFILE", "client.key"),
            ("KEYFILE", "client.pem"),
            ("TRUSTFILE", "too-big.pem"),
        ],
    )
    def test_wrong_armour_is_refused_and_nothing_stored(self, m: InMemoryModule, file_type: str, name: str) -> None:
        data = cert_bytes(name)
        if len(data) > 8192:
            assert m.command(f'AT+GTSSLFILE="{file_type}",{len(data)}') == ERROR
        else:
            assert upload(m, file_type, data) == ERROR
        assert counts(m) == (0, 0, 0)
        assert m.command("AT") == OK

    @pytest.mark.parametrize(
        "mangle",
        [
            lambda d: d[: len(d) // 2],  # truncated: no END line
            lambda d: d.replace(b"-----BEGIN CERTIFICATE-----\n", b""),  # bare base64 body
            lambda d: d[:100] + b"!!!!" + d[104:],  # not base64
            lambda d: d[:200] + d[264:],  # a body line lost: does not parse
            lambda d: b"garbage\n" + d,  # text before the armour
        ],
    )
    def test_damaged_certificate_is_refused(self, m: InMemoryModule, mangle: object) -> None:
        data = mangle(cert_bytes("root-ca.pem"))  # type: ignore[operator]
        assert upload(m, "TRUSTFILE", data) == ERROR
        assert counts(m) == (0, 0, 0)

    def test_big_trust_file_near_the_limit(self, m: InMemoryModule) -> None:
        assert upload(m, "TRUSTFILE", cert_bytes("big-trust.pem")) == OK

    def test_one_certfile_and_one_keyfile_at_most(self, m: InMemoryModule) -> None:
        assert upload(m, "CERTFILE", cert_bytes("client.pem")) == OK
        assert upload(m, "KEYFILE", cert_bytes("client.key")) == OK
        # No delete or replace (§1.1.4 note): a second one is refused before the prompt.
        assert m.command(f'AT+GTSSLFILE="CERTFILE",{len(cert_bytes("client.pem"))}') == ERROR
        assert m.command(f'AT+GTSSLFILE="KEYFILE",{len(cert_bytes("client.key"))}') == ERROR
        assert counts(m) == (1, 1, 0)

    def test_forty_trust_files_then_refused(self, m: InMemoryModule) -> None:
        ca = cert_bytes("root-ca.pem")
        for n in range(1, 41):
            assert upload(m, "TRUSTFILE", ca) == OK, n
        assert m.command(f'AT+GTSSLFILE="TRUSTFILE",{len(ca)}') == ERROR
        assert counts(m) == (0, 0, 40)
        assert b"+GTSSLFILE: TRUSTFILE,40" in m.command("AT+GTSSLFILE?")

    def test_data_entry_times_out_after_12_s_of_silence(self, m: InMemoryModule) -> None:
        ca = cert_bytes("root-ca.pem")
        assert m.command(f'AT+GTSSLFILE="TRUSTFILE",{len(ca)}') == PROMPT
        assert m.send(ca[:500]) == b""
        assert m.advance(11.9) == b""
        assert m.send(ca[500:600]) == b""  # a byte restarts the 12 s
        assert m.advance(11.9) == b""
        assert m.advance(0.1) == ERROR
        assert counts(m) == (0, 0, 0)
        # Back in command mode: what follows is a command again, and a new upload works.
        assert m.command("AT") == OK
        assert upload(m, "TRUSTFILE", ca) == OK

    def test_timeout_of_an_untouched_prompt(self, m: InMemoryModule) -> None:
        assert m.command('AT+GTSSLFILE="TRUSTFILE",100') == PROMPT
        assert m.advance(12) == ERROR

    def test_data_is_not_echoed_and_may_hold_anything(self, m: InMemoryModule) -> None:
        m.command("ATE1")
        ca = cert_bytes("root-ca.pem").replace(b"\n", b"\r\n")
        assert m.send(f'AT+GTSSLFILE="TRUSTFILE",{len(ca)}\r'.encode()) == f'AT+GTSSLFILE="TRUSTFILE",{len(ca)}\r'.encode() + PROMPT
        assert m.send(ca) == OK
        assert counts(m) == (0, 0, 1)

    def test_commands_after_the_upload_on_the_same_line_run_after_it(self, m: InMemoryModule) -> None:
        ca = cert_bytes("root-ca.pem")
        assert m.command(f'AT+GTSSLFILE="TRUSTFILE",{len(ca)};+GTSSLMODE=1;+GTSSLMODE?') == PROMPT
        assert m.send(ca) == b"\r\n+GTSSLMODE: 1\r\n" + OK

    def test_content_check_none_stores_anything(self) -> None:
        from dataclasses import replace

        from emulator.profiles import load_profile

        base = load_profile("NL668_AM_00")
        m = InMemoryModule(replace(base, files=replace(base.files, content_check="none")))
        m.take()
        m.command("ATE0")
        assert upload(m, "TRUSTFILE", b"MIIBbare base64 body") == OK
        assert counts(m) == (0, 0, 1)


class TestGtsslmode:
    """§1.2"""

    def test_forms(self, m: InMemoryModule) -> None:
        assert m.command("AT+GTSSLMODE?") == b"\r\n+GTSSLMODE: 0\r\n" + OK
        assert m.command("AT+GTSSLMODE=?") == b"\r\n+GTSSLMODE: (0,1)\r\n" + OK
        assert m.command("AT+GTSSLMODE=1") == OK
        assert m.command("AT+GTSSLMODE?") == b"\r\n+GTSSLMODE: 1\r\n" + OK

    @pytest.mark.parametrize("value", ["2", "", "a", "1,1", '"1"x'])
    def test_refusals(self, m: InMemoryModule, value: str) -> None:
        assert m.command(f"AT+GTSSLMODE={value}") == ERROR
        assert m.command("AT+GTSSLMODE?") == b"\r\n+GTSSLMODE: 0\r\n" + OK


class TestGtsslerr:
    """§1.3"""

    def test_no_error_is_plain_ok(self, m: InMemoryModule) -> None:
        assert m.command("AT+GTSSLERR?") == OK
        assert m.command("AT+GTSSLERR") == OK
        assert m.command("AT+GTSSLERR=?") == OK

    def test_last_error_is_reported_by_both_forms(self, m: InMemoryModule) -> None:
        m.module.state.ssl.last_error = 42  # what a failed handshake leaves (TLS sockets set it)
        assert m.command("AT+GTSSLERR?") == b"\r\n+GTSSLERR: 42\r\n" + OK
        assert m.command("AT+GTSSLERR") == b"\r\n+GTSSLERR: 42\r\n" + OK


class TestGtsslver:
    """§1.4"""

    def test_default_and_forms(self, m: InMemoryModule) -> None:
        assert m.command("AT+GTSSLVER?") == b"\r\n+GTSSLVER: 2\r\n" + OK
        assert m.command("AT+GTSSLVER=?") == b"\r\n+GTSSLVER: (2-4)\r\n" + OK

    @pytest.mark.parametrize(("profile", "ssl3"), [("NL668_AM_00", False), ("NL668_LA_00", False), ("NL668_CN_03", False), ("M910", True), ("NL668_EU_00", True)])
    def test_ssl3_per_variant(self, profile: str, ssl3: bool) -> None:
        m = InMemoryModule(profile)
        m.take()
        m.command("ATE0")
        assert m.command("AT+GTSSLVER=1") == (OK if ssl3 else ERROR)
        assert m.command("AT+GTSSLVER?") == f"\r\n+GTSSLVER: {1 if ssl3 else 2}\r\n".encode() + OK
        assert m.command("AT+GTSSLVER=?") == f"\r\n+GTSSLVER: ({1 if ssl3 else 2}-4)\r\n".encode() + OK

    @pytest.mark.parametrize("value", ["0", "5", "", "x"])
    def test_refusals(self, m: InMemoryModule, value: str) -> None:
        assert m.command(f"AT+GTSSLVER={value}") == ERROR


class TestGtsslcipher:
    """§1.5"""

    def test_none_enabled_reads_plain_ok(self, m: InMemoryModule) -> None:
        assert m.command("AT+GTSSLCIPHER?") == OK

    def test_test_form_lists_the_variant_ids(self, m: InMemoryModule) -> None:
        assert m.command("AT+GTSSLCIPHER=?") == b"\r\n+GTSSLCIPHER: (0,2,3,4,7,8,9,10,255),(0,1)\r\n" + OK

    def test_zero_means_the_defaults(self, m: InMemoryModule) -> None:
        assert m.command("AT+GTSSLCIPHER=0,1") == OK
        assert m.command("AT+GTSSLCIPHER?") == b"\r\n+GTSSLCIPHER: 2,3,4\r\n" + OK
        assert m.command("AT+GTSSLCIPHER=3,0") == OK
        assert m.command("AT+GTSSLCIPHER?") == b"\r\n+GTSSLCIPHER: 2,4\r\n" + OK

    def test_m910_ids(self) -> None:
        m = InMemoryModule("M910")
        m.take()
        m.command("ATE0")
        assert m.command("AT+GTSSLCIPHER=255,1") == OK
        assert m.command("AT+GTSSLCIPHER?") == b"\r\n+GTSSLCIPHER: 1,2,3,4,5,6\r\n" + OK
        assert m.command("AT+GTSSLCIPHER=9,1") == ERROR

    @pytest.mark.parametrize("args", ["11,1", "31,1", "32,1", "256,1", "1,1", "5,1", "3,2", "3", "3,1,1", ",1"])
    def test_refusals(self, m: InMemoryModule, args: str) -> None:
        assert m.command(f"AT+GTSSLCIPHER={args}") == ERROR
        assert m.command("AT+GTSSLCIPHER?") == OK

    def test_effective_ciphers(self, m: InMemoryModule) -> None:
        from emulator.core.commands.ssl import effective_ciphers

        assert effective_ciphers(m.module.state) == (2, 3, 4)
        m.command("AT+GTSSLCIPHER=9,1")
        assert effective_ciphers(m.module.state) == (9,)


def test_reset_loses_certificates_and_settings(m: InMemoryModule) -> None:
    upload(m, "TRUSTFILE", cert_bytes("root-ca.pem"))
    upload(m, "CERTFILE", cert_bytes("client.pem"))
    m.command("AT+GTSSLMODE=1;+GTSSLVER=4;+GTSSLCIPHER=9,1")
    m.module.state.ssl.last_error = 45
    assert m.command("AT+CFUN=1,1") == OK
    assert m.command("AT") == b""  # deaf while rebooting
    boot = m.advance(m.profile.boot.reboot_s)
    assert boot == b"\r\n+SIM READY\r\n"
    assert m.command("AT") == b"AT\r" + OK  # echo back on: the factory setting
    m.command("ATE0")
    assert m.command("AT+GTSSLFILE?") == (
        b"\r\n+GTSSLFILE: CERTFILE,0\r\n+GTSSLFILE: KEYFILE,0\r\n+GTSSLFILE: TRUSTFILE,0\r\n" + OK
    )
    assert m.command("AT+GTSSLMODE?;+GTSSLVER?;+GTSSLCIPHER?;+GTSSLERR?") == (
        b"\r\n+GTSSLMODE: 0\r\n\r\n+GTSSLVER: 2\r\n" + OK
    )


def test_cfun_15_resets_too(m: InMemoryModule) -> None:
    assert upload(m, "TRUSTFILE", cert_bytes("root-ca.pem")) == OK
    assert m.command("AT+CFUN=15") == OK
    assert m.advance(m.profile.boot.reboot_s) == b"\r\n+SIM READY\r\n"
    assert counts(m) == (0, 0, 0)


def test_abandoned_upload_stores_nothing_and_reset_after_it_is_clean(m: InMemoryModule) -> None:
    assert m.command('AT+GTSSLFILE="TRUSTFILE",1000') == PROMPT
    m.send(b"x" * 10)
    assert m.advance(12) == ERROR
    assert m.command("AT+CFUN=1,1") == OK
    m.advance(m.profile.boot.reboot_s)
    assert counts(m) == (0, 0, 0)
    assert m.command("AT") == b"AT\r" + OK

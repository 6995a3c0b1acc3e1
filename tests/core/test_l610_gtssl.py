"""The L610 profile at the AT level, in memory: +GTSSLVER 0, and +GTSSLERR through the profile's table.

Field evidence (issue 11, an L610-CN on firmware 16000.1208.00.86.02.02):
``+GTSSLVER: 0`` and ``+GTSSLMODE: 0`` after power-on, no trust files, a
bare-base64 TRUSTFILE stored at upload; -11 for certificate or clock
failures, -19 for that TRUSTFILE at +MIPOPEN. The NL668 keeps the manual's
alert numbers for the very same events.
"""

from __future__ import annotations

import pytest

from emulator.core.actions import OpenLink
from emulator.core.codes import FailureClass
from emulator.core.events import LinkOpened, LinkOpenFailed, PeerClosed
from emulator.profiles import load_profile
from emulator.runtime.in_memory import InMemoryModule
from emulator.servers.pki import cert_bytes

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def info(line: str) -> bytes:
    return f"\r\n{line}\r\n".encode()


def fresh(profile: str) -> InMemoryModule:
    m = InMemoryModule(load_profile(profile))
    m.take()
    m.command("ATE0")
    return m


def online(profile: str) -> InMemoryModule:
    m = fresh(profile)
    m.command("AT+MIPCALL=1")
    m.links.take()
    return m


def open_request(m: InMemoryModule, link_id: int = 1) -> OpenLink:
    assert m.command(f'AT+MIPOPEN={link_id},,"www.example.test",443,2') == OK
    (action,) = [a for a in m.links.take() if isinstance(a, OpenLink)]
    return action


def gtsslerr(m: InMemoryModule) -> bytes:
    return m.command("AT+GTSSLERR?")


def bare_base64(pem: bytes) -> bytes:
    """The PEM body without its armour, CR LF lines: what the field host first uploaded."""
    return b"".join(line + b"\r\n" for line in pem.splitlines() if not line.startswith(b"-----"))


class TestPowerOn:
    def test_ssl_state_as_the_field_module_answered(self) -> None:
        m = fresh("L610")
        assert m.command("AT+GTSSLVER?") == info("+GTSSLVER: 0") + OK
        assert m.command("AT+GTSSLMODE?") == info("+GTSSLMODE: 0") + OK
        assert m.command("AT+GTSSLFILE?") == (
            b"\r\n+GTSSLFILE: CERTFILE,0\r\n+GTSSLFILE: KEYFILE,0\r\n+GTSSLFILE: TRUSTFILE,0\r\n" + OK
        )

    def test_a_reset_brings_the_unset_version_back(self) -> None:
        m = fresh("L610")
        assert m.command("AT+GTSSLVER=4") == OK
        m.command("AT+CFUN=1,1")
        m.advance(m.profile.boot.reboot_s + 0.1)
        m.take()
        assert m.command("AT+GTSSLVER?") == b"AT+GTSSLVER?\r" + info("+GTSSLVER: 0") + OK  # echo is back on too

    def test_the_nl668_still_starts_at_tls10(self) -> None:
        assert fresh("NL668_AM_00").command("AT+GTSSLVER?") == info("+GTSSLVER: 2") + OK


class TestGtsslverZero:
    def test_test_form_lists_zero(self) -> None:
        assert fresh("L610").command("AT+GTSSLVER=?") == info("+GTSSLVER: (0,2-4)") + OK
        assert fresh("NL668_AM_00").command("AT+GTSSLVER=?") == info("+GTSSLVER: (2-4)") + OK

    def test_set_accepts_zero_where_the_profile_has_it(self) -> None:
        m = fresh("L610")
        assert m.command("AT+GTSSLVER=3") == OK
        assert m.command("AT+GTSSLVER=0") == OK
        assert m.command("AT+GTSSLVER?") == info("+GTSSLVER: 0") + OK
        assert m.command("AT+GTSSLVER=1") == ERROR  # no SSL 3.0 on the L610 (chosen)

    @pytest.mark.parametrize("profile", ["NL668_AM_00", "M910"])
    def test_zero_stays_out_of_range_on_the_nl668(self, profile: str) -> None:
        m = fresh(profile)
        m.command("AT+CMEE=1")
        assert m.command("AT+GTSSLVER=0") == info("+CME ERROR: 50")
        assert m.command("AT+GTSSLVER?") == info("+GTSSLVER: 2") + OK

    def test_a_connection_at_zero_uses_the_highest_version(self) -> None:
        m = online("L610")
        assert open_request(m, 1).tls.version == 4  # type: ignore[union-attr]
        m.command("AT+GTSSLVER=2")
        assert open_request(m, 2).tls.version == 2  # type: ignore[union-attr]
        m.command("AT+GTSSLVER=0")
        assert open_request(m, 3).tls.version == 4  # type: ignore[union-attr]


class TestGtsslerrTable:
    # (class, NL668 code the engine found, what the L610 reports)
    CASES = [
        (FailureClass.VERIFY, 48, -11),
        (FailureClass.VERIFY, 153, -11),
        (FailureClass.TIME, 45, -11),
        (FailureClass.TIME, 42, -11),
        (FailureClass.FILE, 152, -19),
        (FailureClass.ALERT, 70, -9),
        (FailureClass.INTERNAL, 80, -8),
    ]

    @pytest.mark.parametrize(("failure", "code", "l610"), CASES)
    def test_l610_reports_its_own_codes(self, failure: FailureClass, code: int, l610: int) -> None:
        m = online("L610")
        open_request(m)
        assert m.event(LinkOpenFailed(link_id=1, gtsslerr=code, failure=failure)) == info("+MIPOPEN: 1,0")
        assert gtsslerr(m) == info(f"+GTSSLERR: {l610}") + OK

    @pytest.mark.parametrize(("failure", "code", "l610"), CASES)
    def test_nl668_reports_the_alert_numbers(self, failure: FailureClass, code: int, l610: int) -> None:
        m = online("NL668_AM_00")
        open_request(m)
        m.event(LinkOpenFailed(link_id=1, gtsslerr=code, failure=failure))
        assert gtsslerr(m) == info(f"+GTSSLERR: {code}") + OK

    def test_an_unclassified_failure_uses_the_class_its_code_implies(self) -> None:
        m = online("L610")
        open_request(m, 1)
        m.event(LinkOpenFailed(link_id=1, gtsslerr=152))
        assert gtsslerr(m) == info("+GTSSLERR: -19") + OK
        open_request(m, 2)
        m.event(LinkOpenFailed(link_id=2, gtsslerr=40))
        assert gtsslerr(m) == info("+GTSSLERR: -9") + OK

    def test_no_tls_error_leaves_no_code_and_success_clears_it(self) -> None:
        m = online("L610")
        open_request(m, 1)
        m.event(LinkOpenFailed(link_id=1, gtsslerr=45, failure=FailureClass.TIME))
        open_request(m, 2)
        m.event(LinkOpenFailed(link_id=2, gtsslerr=None, why="refused"))
        assert gtsslerr(m) == OK
        open_request(m, 3)
        m.event(LinkOpenFailed(link_id=3, gtsslerr=45, failure=FailureClass.TIME))
        open_request(m, 4)
        assert m.event(LinkOpened(link_id=4)) == info("+MIPOPEN: 4,1")
        assert gtsslerr(m) == OK

    def test_an_alert_after_the_handshake_goes_through_the_table(self) -> None:
        m = online("L610")
        open_request(m)
        m.event(LinkOpened(link_id=1))
        assert m.event(PeerClosed(link_id=1, reset=True, gtsslerr=20, failure=FailureClass.ALERT)) == info(
            "+MIPSTAT: 1,1"
        )
        assert gtsslerr(m) == info("+GTSSLERR: -9") + OK

    @pytest.mark.parametrize(("profile", "code"), [("L610", -7), ("NL668_AM_00", 90)])
    def test_the_open_timeout(self, profile: str, code: int) -> None:
        m = online(profile)
        open_request(m)
        assert m.advance(m.profile.sockets.open_timeout_s) == info("+MIPOPEN: 1,0")
        assert gtsslerr(m) == info(f"+GTSSLERR: {code}") + OK


class TestUpload:
    def test_a_bare_base64_trust_file_is_stored_on_the_l610(self) -> None:
        body = bare_base64(cert_bytes("root-ca.pem"))
        m = fresh("L610")
        assert m.command(f'AT+GTSSLFILE="TRUSTFILE",{len(body)}') == b"\r\n> "
        assert m.send(body) == OK
        assert m.command("AT+GTSSLFILE?").endswith(b"+GTSSLFILE: TRUSTFILE,1\r\n" + OK)

    def test_the_nl668_refuses_it_at_upload(self) -> None:
        body = bare_base64(cert_bytes("root-ca.pem"))
        m = fresh("NL668_AM_00")
        m.command(f'AT+GTSSLFILE="TRUSTFILE",{len(body)}')
        assert m.send(body) == ERROR
        assert m.command("AT+GTSSLFILE?").endswith(b"+GTSSLFILE: TRUSTFILE,0\r\n" + OK)

"""The pure mapping from alerts and X509 errors to +GTSSLERR (manual §1.3.4), without OpenSSL."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.core.codes import GtsslErr
from emulator.tls.alert_codes import MANUAL_ALERTS, OVERRIDES, Source, TlsFailure, TlsPeerClosed, gtsslerr_for

#: §1.3.4 as printed: 10 ... 100, the TLS alerts.
MANUAL_LIST = [10, 20, 21, 22, 30, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 60, 70, 71, 80, 90, 100]


def code(
    *,
    sent: int | None = None,
    received: int | None = None,
    verify_errors: tuple[int, ...] = (),
    verify: bool = True,
    trust_files: int = 1,
) -> int:
    return gtsslerr_for(sent=sent, received=received, verify_errors=verify_errors, verify=verify, trust_files=trust_files)


def test_the_manual_alert_list() -> None:
    assert sorted(MANUAL_ALERTS) == MANUAL_LIST


@pytest.mark.parametrize("alert", MANUAL_LIST)
def test_a_manual_alert_is_itself_sent_or_received(alert: int) -> None:
    assert code(sent=alert) == alert
    assert code(received=alert) == alert


def test_the_sent_alert_wins_over_a_received_one() -> None:
    # When we send a fatal alert we stop reading; a later server alert is noise.
    assert code(sent=45, received=40) == 45
    assert code(sent=None, received=40) == 40


@pytest.mark.parametrize("errno", [62, 64])
def test_host_mismatch_is_153_whatever_the_alert(errno: int) -> None:
    assert code(sent=42, verify_errors=(0, 0, errno)) == GtsslErr.HOST_MISMATCH


def test_unrecognized_name_received_is_155() -> None:
    assert code(received=112) == GtsslErr.UNRECOGNIZED_SERVER_NAME
    # The override is for what the server says; a sent 112 is not in the manual.
    assert code(sent=112) == 40


@pytest.mark.parametrize("alert", [0, 86, 109, 110, 113, 115, 116, 120, 255])
def test_alerts_outside_the_manual_are_40(alert: int) -> None:
    assert code(received=alert) == GtsslErr.HANDSHAKE_FAILURE
    assert code(sent=alert) == 40


def test_no_alert_at_all_is_80() -> None:
    assert code() == GtsslErr.INTERNAL_ERROR


class TestNoTrustFile:
    """Manual §2.6 example 2: verification on and no TRUSTFILE gives 42 (OpenSSL says 48)."""

    def test_verification_failure_without_trust_is_42(self) -> None:
        assert code(sent=48, verify_errors=(20,), trust_files=0) == GtsslErr.BAD_CERTIFICATE

    def test_only_when_verification_failed(self) -> None:
        # A handshake that dies before the certificate (e.g. version) keeps its code.
        assert code(received=70, trust_files=0) == 70
        assert code(sent=48, verify_errors=(0, 0, 0), trust_files=0) == 48

    def test_not_with_trust_or_without_verification(self) -> None:
        assert code(sent=48, verify_errors=(20,), trust_files=1) == 48
        assert code(sent=48, verify_errors=(20,), verify=False, trust_files=0) == 48


def test_the_override_table_uses_vendor_codes_only() -> None:
    assert {int(v) for v in OVERRIDES.values()} <= {150, 151, 152, 153, 154, 155}
    assert {source for source, _ in OVERRIDES} <= set(Source)


@given(
    sent=st.none() | st.integers(0, 255),
    received=st.none() | st.integers(0, 255),
    verify_errors=st.lists(st.integers(0, 100), max_size=4),
    verify=st.booleans(),
    trust_files=st.integers(0, 40),
)
def test_always_a_code_of_the_manual(
    sent: int | None, received: int | None, verify_errors: list[int], verify: bool, trust_files: int
) -> None:
    result = gtsslerr_for(
        sent=sent, received=received, verify_errors=verify_errors, verify=verify, trust_files=trust_files
    )
    assert result in set(GtsslErr) - {GtsslErr.NORMAL}


def test_exceptions_carry_the_code() -> None:
    failure = TlsFailure(45, "sent alert 45")
    assert (failure.gtsslerr, failure.why) == (45, "sent alert 45")
    assert "45" in str(failure)
    closed = TlsPeerClosed("eof")
    assert closed.why == "eof" and not isinstance(closed, TlsFailure)

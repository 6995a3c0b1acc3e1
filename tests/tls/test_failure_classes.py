"""The engine reports what happened as a failure class plus the NL668 code (docs/GTSSLERR.md).

The class is what a profile's ``[gtsslerr]`` table maps (the L610's -11 for
verify and time, -19 for an unusable file); the NL668 code is unchanged by it.
Real handshakes over memory BIOs on both engines; the pure rules without OpenSSL.
"""

from __future__ import annotations

import datetime as dt

import pytest
from OpenSSL import SSL

from emulator.core.codes import FailureClass, GtsslErr, failure_class_of
from emulator.core.tls_request import TlsRequest
from emulator.servers.pki import cert_bytes
from emulator.tls import TlsClient, TlsFailure
from emulator.tls.alert_codes import classify_failure, gtsslerr_for
from emulator.tls.legacy import LegacyTlsClient
from tests.tls.conftest import ROOT, UTC, connect, new_server, pump, request, server_context
from tests.tls.test_failures import bare_base64

EXPIRED = ("server-expired.pem", "server-expired.key")


def failure_of(req: TlsRequest, server_ctx: SSL.Context, *, legacy: bool = False) -> TlsFailure:
    """Run a handshake that must fail; return the failure the engine raised."""
    client = LegacyTlsClient(req) if legacy else TlsClient(req)
    server = new_server(server_ctx)
    client.initiate()
    with pytest.raises(TlsFailure) as info:
        pump(client, server)  # type: ignore[arg-type]  # the legacy client has TlsClient's interface
    return info.value


class TestRealHandshakes:
    @pytest.mark.parametrize("legacy", [False, True], ids=["openssl", "tlslite"])
    def test_expired_by_the_module_clock_is_time(self, legacy: bool) -> None:
        failure = failure_of(request(cipher_ids=(2, 3) if not legacy else (1, 2, 3)), server_context(*EXPIRED),
                             legacy=legacy)
        assert (failure.failure, failure.gtsslerr) == (FailureClass.TIME, 45)

    def test_a_module_clock_before_the_leaf_is_time(self) -> None:
        failure = failure_of(request(module_time=dt.datetime(2024, 6, 1, tzinfo=UTC)), server_context())
        assert (failure.failure, failure.gtsslerr) == (FailureClass.TIME, 42)

    def test_the_same_chain_at_a_good_clock_connects(self) -> None:
        assert connect(request(), server_context())[0].handshake_done  # control for the two above

    @pytest.mark.parametrize("legacy", [False, True], ids=["openssl", "tlslite"])
    def test_an_untrusted_root_is_verify(self, legacy: bool) -> None:
        failure = failure_of(request(cipher_ids=(3,) if not legacy else (1, 3)),
                             server_context("server-untrusted.pem", "server-untrusted.key", ()), legacy=legacy)
        assert (failure.failure, failure.gtsslerr) == (FailureClass.VERIFY, 48)

    def test_a_wrong_host_is_verify(self) -> None:
        failure = failure_of(request(server_name="wrong.example.test"), server_context())
        assert (failure.failure, failure.gtsslerr) == (FailureClass.VERIFY, 153)

    def test_no_trust_file_is_verify(self) -> None:
        failure = failure_of(request(trust_pems=()), server_context())
        assert (failure.failure, failure.gtsslerr) == (FailureClass.VERIFY, 42)

    def test_a_bare_base64_trust_file_is_file(self) -> None:
        with pytest.raises(TlsFailure) as info:
            TlsClient(request(trust_pems=(bare_base64(ROOT),)))
        assert (info.value.failure, info.value.gtsslerr) == (FailureClass.FILE, 152)

    def test_a_bare_base64_trust_file_is_file_on_tlslite_too(self) -> None:
        with pytest.raises(TlsFailure) as info:
            LegacyTlsClient(request(cipher_ids=(1,), trust_pems=(bare_base64(ROOT),)))
        assert (info.value.failure, info.value.gtsslerr) == (FailureClass.FILE, 152)

    def test_a_version_the_server_refuses_is_alert(self) -> None:
        ctx = server_context(min_version=SSL.TLS1_2_VERSION, max_version=SSL.TLS1_2_VERSION)
        failure = failure_of(request(version=2), ctx)
        assert (failure.failure, failure.gtsslerr) == (FailureClass.ALERT, 70)

    def test_the_server_rejecting_our_client_certificate_is_alert_not_verify(self) -> None:
        # 48 received: the server's verdict on us, not our verification of it.
        ctx = server_context(client_ca="root-ca.pem")
        failure = failure_of(
            request(cert_pem=cert_bytes("client-other-ca.pem"), key_pem=cert_bytes("client-other-ca.key")), ctx
        )
        assert (failure.failure, failure.gtsslerr) == (FailureClass.ALERT, 48)

    def test_an_expired_server_with_verification_off_connects(self) -> None:
        assert connect(request(verify=False), server_context(*EXPIRED))[0].handshake_done

    def test_no_usable_suite_is_internal(self) -> None:
        client = TlsClient(request(version=2, cipher_ids=(7,)))  # SHA-256 suites exist only in TLS 1.2
        with pytest.raises(TlsFailure) as info:
            client.initiate()
        assert (info.value.failure, info.value.gtsslerr) == (FailureClass.INTERNAL, 80)


class TestRules:
    """classify_failure without OpenSSL: the class follows the cause, the code stays the NL668's."""

    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"sent": 45, "verify_errors": [0, 10]}, (FailureClass.TIME, 45)),
            ({"sent": 42, "verify_errors": [9]}, (FailureClass.TIME, 42)),
            ({"sent": 48, "verify_errors": [10, 20]}, (FailureClass.VERIFY, 48)),  # the clock is not the whole story
            ({"sent": 42, "verify_errors": [10, 62]}, (FailureClass.VERIFY, 153)),
            ({"sent": 48, "verify_errors": [20], "trust_files": 0}, (FailureClass.VERIFY, 42)),
            ({"received": 48}, (FailureClass.ALERT, 48)),
            ({"received": 112}, (FailureClass.ALERT, 155)),
            ({"sent": 47}, (FailureClass.ALERT, 47)),
            ({"received": 86}, (FailureClass.ALERT, 40)),
            ({}, (FailureClass.INTERNAL, 80)),
            ({"sent": 80}, (FailureClass.INTERNAL, 80)),
            ({"received": 80}, (FailureClass.ALERT, 80)),  # the server's internal error, not ours
        ],
    )
    def test_classes(self, kwargs: dict[str, object], expected: tuple[FailureClass, int]) -> None:
        args: dict[str, object] = {"sent": None, "received": None, "verify_errors": [], "verify": True,
                                   "trust_files": 1}
        args.update(kwargs)
        assert classify_failure(**args) == expected  # type: ignore[arg-type]
        assert gtsslerr_for(**args) == expected[1]  # type: ignore[arg-type]

    def test_a_failure_raised_with_a_bare_code_gets_the_class_it_implies(self) -> None:
        assert TlsFailure(GtsslErr.INVALID, "x").failure is FailureClass.FILE
        assert TlsFailure(GtsslErr.INTERNAL_ERROR, "x").failure is FailureClass.INTERNAL
        assert TlsFailure(GtsslErr.HANDSHAKE_FAILURE, "x").failure is FailureClass.ALERT
        assert TlsFailure(45, "x", failure=FailureClass.TIME).failure is FailureClass.TIME
        assert failure_class_of(GtsslErr.USER_CANCELED) is FailureClass.TIMEOUT

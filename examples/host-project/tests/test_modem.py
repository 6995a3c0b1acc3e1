"""The host driver's suite, run against an emulated NL668 through the nl668 pytest plugin.

On hardware the same suite runs with ``pytest --nl668-port /dev/ttyUSB2`` (the lab tests need the module to
reach this machine's test servers, which a real module on a test network can).
"""

from __future__ import annotations

import pytest

from tracker_host import Modem

# The test servers' certificates are for www.example.test; the module dials that name and the emulator's
# --resolve rule (any port, same port) sends it to the local servers.
SERVER_NAME = "www.example.test"
pytestmark = pytest.mark.nl668(resolve=[f"{SERVER_NAME}=127.0.0.1"])


def test_identifies_the_module(nl668_serial):
    modem = Modem(nl668_serial)
    assert modem.command("AT+CGMM") != []


def test_request_over_verified_tls(nl668_serial, nl668_lab, nl668_trust_pem):
    modem = Modem(nl668_serial)
    modem.load_trust(nl668_trust_pem)
    _, port = nl668_lab["tls_echo"]
    assert modem.open_tls(SERVER_NAME, port), f"+GTSSLERR: {modem.tls_error()}"
    assert modem.request(b"GET /status\r\n") == b"GET /status\r\n"  # the echo server answers with the request
    modem.close()


def test_expired_server_certificate_is_refused_with_45(nl668_serial, nl668_field_lab, nl668_trust_pem):
    modem = Modem(nl668_serial)
    modem.load_trust(nl668_trust_pem)
    _, port = nl668_field_lab["expired"]
    assert not modem.open_tls(SERVER_NAME, port)
    assert modem.tls_error() == 45  # certificate_expired, judged by the module's own clock

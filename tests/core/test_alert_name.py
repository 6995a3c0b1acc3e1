"""``alert_name``: the one name of a TLS alert or a ``+GTSSLERR`` code, for the trace steps and the trace view."""

from __future__ import annotations

import pytest

from emulator.core import codes
from emulator.core.codes import alert_name


@pytest.mark.parametrize(("code", "name"), [
    (0, "close_notify"),
    (40, "handshake_failure"),
    (45, "certificate_expired"),
    (48, "unknown_ca"),
    (70, "protocol_version"),
    (112, "unrecognized_name"),  # an alert a server sends that is no +GTSSLERR code (RFC 6066)
    (153, "host_mismatch"),  # the vendor's certificate codes (manual §1.3.4)
    (155, "unrecognized_server_name"),
])
def test_names(code: int, name: str) -> None:
    assert alert_name(code) == alert_name(code, unknown="unknown") == name


@pytest.mark.parametrize("code", [None, 1, 99, 149, 156, 256, -11])
def test_a_number_that_names_nothing_is_the_callers_unknown(code: int | None) -> None:
    assert alert_name(code) == ""
    assert alert_name(code, unknown="unknown") == "unknown"


def test_every_gtsslerr_code_but_normal_has_its_own_name() -> None:
    names = [alert_name(c) for c in codes.GtsslErr if c]
    assert all(names) and len(set(names)) == len(names)

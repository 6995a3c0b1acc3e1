"""The pytest plugin: one sample test file run in-process, through a PTY, and against a "real" port."""

from __future__ import annotations

import pytest

from emulator.runtime.running import RunningModule

pytest_plugins = ["pytester"]

SAMPLE = '''
import socket

import pytest

from emulator.at_client import AtClient


def test_talks_at(nl668_serial):
    at = AtClient(nl668_serial)
    assert at.command("AT+GTSSLVER?") == ["+GTSSLVER: 2"]


def test_default_profile(nl668_module, nl668_serial):
    assert nl668_module.profile == "NL668_AM_00"
    assert AtClient(nl668_serial).command("AT+GTSSLVER=?") == ["+GTSSLVER: (2-4)"]


@pytest.mark.nl668(profile="M910")
def test_profile_from_the_marker(nl668_module, nl668_serial):
    assert nl668_module.profile == "M910"
    assert AtClient(nl668_serial).command("AT+GTSSLVER=?") == ["+GTSSLVER: (1-4)"]


def test_console(nl668_module, nl668_serial):
    if not nl668_module.emulated:
        pytest.skip("a real module has no console")
    at = AtClient(nl668_serial)
    nl668_module.console.set_signal(3, 0)
    assert at.command("AT+CSQ") == ["+CSQ: 3,0"]


def test_the_url_opens_with_pyserial(nl668_module):
    import serial

    with serial.serial_for_url(nl668_module.url, 115200, timeout=5) as port:
        port.write(b"AT\\r")
        assert port.read_until(b"OK\\r\\n").endswith(b"OK\\r\\n")


def test_lab(nl668_lab):
    assert set(nl668_lab) == {"tls_echo", "tcp_echo", "udp_echo"}
    with socket.create_connection(nl668_lab["tcp_echo"], timeout=5) as sock:
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
'''


@pytest.mark.parametrize("front_end", ["memory", "pty"])
def test_the_sample_runs_on_the_emulator(pytester: pytest.Pytester, front_end: str) -> None:
    pytester.makepyfile(test_sample=SAMPLE)
    result = pytester.runpytest("--strict-markers", f"--nl668-frontend={front_end}")
    result.assert_outcomes(passed=6)


def test_the_option_points_the_same_tests_at_a_real_port(pytester: pytest.Pytester) -> None:
    """A PTY served by this process stands in for the hardware: the plugin starts no module of its own."""
    pytester.makepyfile(test_sample=SAMPLE)
    with RunningModule("M910") as hardware:
        result = pytester.runpytest("-k", "not default_profile", f"--nl668-port={hardware.device_path}")
    result.assert_outcomes(passed=4, skipped=1)


def test_the_profile_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_profile="""
        def test_it(nl668_module):
            assert nl668_module.profile == "NL668_EU_00" and nl668_module.url.startswith("socket://127.0.0.1:")
        """
    )
    result = pytester.runpytest("--nl668-profile=NL668_EU_00", "--nl668-frontend=tcp")
    result.assert_outcomes(passed=1)


def test_the_plugin_is_harmless_when_unused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_it():\n    assert True\n")
    result = pytester.runpytest("--strict-markers", "-W", "error")
    result.assert_outcomes(passed=1)
    assert "nl668" in "".join(pytester.runpytest("--markers").outlines)


@pytest.mark.parametrize("front_end", ["memory", "pty", "tcp"])
def test_the_sample_runs_under_xdist(pytester: pytest.Pytester, front_end: str) -> None:
    """Two workers at once: no fixed port, PTY name or file is shared between them."""
    pytester.makepyfile(test_sample=SAMPLE)
    result = pytester.runpytest("-n", "2", "-p", "xdist", "--strict-markers", f"--nl668-frontend={front_end}")
    result.assert_outcomes(passed=6)

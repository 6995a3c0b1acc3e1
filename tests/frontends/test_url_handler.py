"""``nl668://``: options, errors and pyserial's timeout semantics, all in-process."""

from __future__ import annotations

import time

import pytest
import serial

import emulator  # noqa: F401 - registers nl668://
from emulator.pyserial_urls.protocol_nl668 import parse_url
from emulator.runtime.running import RunningModule


def test_import_emulator_registers_the_scheme() -> None:
    assert "emulator.pyserial_urls" in serial.protocol_handler_packages


@pytest.mark.parametrize("clock", [
    "2021-06-01T10:00:00",  # naive: UTC
    "2021-06-01T10:00:00Z",
    "2021-06-01T10:00:00z",  # RFC 3339's lower-case z (datetime.fromisoformat alone refuses it)
    "2021-06-01T12:00:00%2B02:00",  # an offset, converted to UTC (a URL's "+" is %2B)
    "2021-06-01T05:00:00-05:00",
])
def test_clock_and_profile_from_the_url(clock: str) -> None:
    with serial.serial_for_url(f"nl668://nl668_eu_00?clock={clock}", timeout=5) as port:
        assert port.running.profile.name == "NL668_EU_00"
        port.write(b"AT+CCLK?\r")
        assert port.read_until(b"OK\r\n").startswith(b'AT+CCLK?\r\r\n+CCLK: "21/06/01,10:00:0')


def test_resolve_rules_are_repeatable() -> None:
    options = parse_url("nl668://M910?resolve=a.test:443=127.0.0.1:4433&resolve=b.test=127.0.0.2")
    assert options["profile"] == "M910"
    assert options["resolve"] == ["a.test:443=127.0.0.1:4433", "b.test=127.0.0.2"]
    assert parse_url("nl668://")["profile"] is None  # the default profile


@pytest.mark.parametrize(
    ("url", "message"),
    [("nl668://NO_SUCH", "NO_SUCH"), ("nl668://M910?speed=9", "unknown option"),
     ("nl668://M910?clock=soon", "clock"), ("nl668://M910?resolve=nonsense", "nonsense"),
     # a bare "+" is a query string's space: refused, never read as some other instant
     ("nl668://M910?clock=2021-06-01T12:00:00+02:00", "not an ISO-8601 time: '2021-06-01T12:00:00 02:00'")],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(serial.SerialException, match=message):
        serial.serial_for_url(url)


def test_timeouts_like_pyserial() -> None:
    with serial.serial_for_url("nl668://", timeout=0) as port:
        assert port.read(10) == b""  # non-blocking
        port.timeout = 0.2
        start = time.monotonic()
        assert port.read(10) == b""  # waited for the timeout, then gave what there was
        assert time.monotonic() - start >= 0.19
        port.timeout = None  # blocking: returns as soon as the bytes are there
        port.write(b"AT\r")
        assert port.read(9) == b"AT\r\r\nOK\r\n"
        assert port.in_waiting == 0
    with pytest.raises(serial.PortNotOpenError):
        port.read(1)


def test_a_port_on_a_running_in_process_module() -> None:
    with RunningModule("M910", front_end="memory") as running:
        port = running.open_serial(timeout=5)
        port.write(b"AT\r")
        assert port.read(9) == b"AT\r\r\nOK\r\n"
        port.close()
        with running.open_serial(timeout=5) as again:  # the module outlives its ports
            again.write(b"AT\r")
            assert again.read(9) == b"AT\r\r\nOK\r\n"


def test_the_url_of_an_in_process_module_attaches_to_it() -> None:
    with RunningModule("M910", front_end="memory") as running:
        assert running.url.startswith("nl668://M910?attach=")
        running.console.set_signal(4, 4)
        with serial.serial_for_url(running.url, timeout=5) as port:
            port.write(b"AT+CSQ\r")
            assert port.read_until(b"OK\r\n") == b"AT+CSQ\r\r\n+CSQ: 4,4\r\n\r\nOK\r\n"
        url = running.url
    with pytest.raises(serial.SerialException, match="no such in-process module"):
        serial.serial_for_url(url)


def test_the_in_process_line_needs_no_termios() -> None:
    """nl668:// is the way in where there is no PTY (Windows): nothing on its path may import termios or tty.

    Simulated here by making both unimportable after pyserial loaded (pyserial's own POSIX back end needs
    termios; on Windows it uses its win32 one instead).
    """
    import subprocess
    import sys

    script = (
        "import serial, sys\n"
        "sys.modules['termios'] = None; sys.modules['tty'] = None\n"
        "import emulator\n"
        "with serial.serial_for_url('nl668://M910', timeout=5) as port:\n"
        "    port.write(b'AT+GTSSLVER?\\r\\n')\n"
        "    print(port.read_until(b'OK\\r\\n'))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('emulator.transports.pty', 'emulator.modemctl'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer, loaded = done.stdout.splitlines()
    assert "+GTSSLVER: 2" in answer and answer.endswith("OK\\r\\n'")
    assert loaded == "[]"

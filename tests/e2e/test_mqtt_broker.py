"""End to end: a real host program speaks MQTT over TLS through the emulated module to a real broker.

The host is tests/e2e/mqtt_host.py, a standalone pyserial program written the way host teams write them
for real modules (CR LF after every command, DTR/RTS raised after open, reads with deadlines), run under
`nl668-emu run -- HOST` as a user would (the wrapper's preload library makes DTR/RTS work on the PTY). The broker is
Debian's mosquitto, started here with a TLS listener that offers only what the module's suites can meet
(TLS 1.2, RSA key exchange and DHE-RSA with ffdhe2048) and a plain listener for an ordinary paho-mqtt client,
which must receive the host's publication byte for byte. The module dials a name (`www.example.test`,
in the server certificate) that `--resolve` maps to the broker, so the host-name check runs as in the field.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
import pytest

from emulator.servers.pki import pki_path
from tests.e2e.conftest import BROKER_NAME, BROKER_PORT, Broker

pytestmark = pytest.mark.integration

HOST_PROGRAM = Path(__file__).with_name("mqtt_host.py")
# Several hundred bytes with CR, LF, NUL and things an AT parser could mistake for its own lines.
PAYLOAD = (b"\r\n\x00>\r\nOK\r\n+MIPRTCP: 1,0,41\r\n\n\r\x00\x00AT+MIPCLOSE=1\r\n"
           + bytes(range(256)) + b"\r" + bytes(range(255, -1, -1)) + b"\n\r\n")


class Subscriber:
    """An ordinary MQTT client (paho) on the broker's plain listener."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._subscribed: queue.Queue[object] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"paho-{topic.replace('/', '-')}",
                                  protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, _u, _f, rc, _p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda _c, _u, mid, codes, _p: self._subscribed.put(codes)
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        try:
            self._subscribed.get(timeout=5)
        except queue.Empty:
            self.close()
            raise AssertionError("paho did not get its SUBACK from mosquitto in 5 s") from None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _run_host(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the wrapper and its host in their own process group, so a hang kills both, not only the wrapper."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n(killed after {timeout} s)"
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.parametrize(("variant", "iprfmt"), [
    ("NL668_AM_00", 0), ("M910", 0), ("L610", 0),
    ("NL668_AM_00", 2),  # raw +MIPRTCP: the payload's CR LF inside a URC
])
def test_host_publishes_over_tls_to_a_real_broker(variant: str, iprfmt: int, broker: Broker, tmp_path: Path) -> None:
    topic = f"nl668/e2e/{variant}/{iprfmt}"
    device = tmp_path / "ttyNL668"
    subscriber = Subscriber(broker.plain_port, topic)
    try:
        # the module under `nl668-emu run`, which makes the host's DTR/RTS ioctls work on the PTY
        host = _run_host([
            sys.executable, "-m", "emulator", "run", "--profile", variant, "--pty", str(device),
            "--resolve", f"{BROKER_NAME}:{BROKER_PORT}=127.0.0.1:{broker.tls_port}", "--",
            sys.executable, str(HOST_PROGRAM), str(device), BROKER_NAME, str(BROKER_PORT),
            str(pki_path("root-ca.pem")), topic, PAYLOAD.hex(), "--iprfmt", str(iprfmt),
            "--client-id", f"host-{variant}-{iprfmt}",
        ])
        report = f"exit {host.returncode}\n{host.stdout}\n{host.stderr}\nmosquitto:\n{broker.log_tail()}"
        assert host.returncode == 0, report
        for answer in ("CONNACK session_present=0 rc=0", "SUBACK id=1 granted_qos=1", "PUBACK id=2",
                       f"PUBLISH received topic={topic} bytes={len(PAYLOAD)} same=True", "PASS"):
            assert answer in host.stdout, report
        try:
            message = subscriber.messages.get(timeout=5)
        except queue.Empty:
            raise AssertionError(f"paho received nothing on {topic}\n{report}") from None
        assert message.topic == topic
        assert message.payload == PAYLOAD, f"{message.payload.hex()} != {PAYLOAD.hex()}"
    finally:
        subscriber.close()

#!/usr/bin/env python3
"""MQTT 3.1.1 over TLS through a Fibocom NL668 / M910 / L610 module: a host program as host teams write them.

    mqtt_host.py PORT BROKER_HOST BROKER_PORT CA_FILE TOPIC PAYLOAD [--iprfmt 0|2] [--client-id ID] [-v]

PAYLOAD is hex (binary payloads do not fit in argv). It opens PORT with pyserial, raises DTR and RTS,
restores the TLS settings a power cycle wiped (+GTSSLVER, +GTSSLMODE, +GTSSLCIPHER), uploads CA_FILE as
TRUSTFILE, dials the PDP context (+MIPCALL), opens a TLS socket to BROKER_HOST:BROKER_PORT (+MIPOPEN ...,2),
then CONNECT, SUBSCRIBE (QoS 1) to TOPIC, PUBLISH (QoS 1) PAYLOAD to it, and waits for CONNACK, SUBACK,
PUBACK and its own publication back from the broker. It prints what it got; exit 0 when all came, 1 otherwise.

Written the way drivers for real modules are (not with the emulator's AtClient): every command ends in
CR LF (including the ones answered by a `>` prompt), replies are read line by line with a deadline, URCs are
taken whenever they come, and the MQTT packets are encoded by hand. Nothing here knows it talks to an
emulator.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import serial

FINAL = re.compile(rb"^(OK|ERROR|\+CME ERROR: .*|\+CMS ERROR: .*)$")
RTCP_RAW = re.compile(rb"\+MIPRTCP: (\d+),(\d+),")  # IPRFMT 2: the header, then <len> raw bytes
SOCKET = 1
MAX_SEND = 1024  # bytes a +MIPSEND; every module of the family takes this much


class ModemError(Exception):
    """The module answered something the host cannot go on from."""


class Modem:
    """The AT line: commands with CR LF, lines in, URCs and socket data sorted out as they come."""

    def __init__(self, port: serial.Serial, iprfmt: int, verbose: bool) -> None:
        self.port = port
        self.iprfmt = iprfmt
        self.verbose = verbose
        self.buf = bytearray()  # bytes read but not yet framed
        self.pending: list[str] = []  # URCs and info lines nobody has taken yet
        self.rx = bytearray()  # socket data from +MIPRTCP
        self.closed: str | None = None  # the URC that said the socket went away
        self.history: list[str] = []  # every line, for the failure report

    # --- input ---------------------------------------------------------------------------------
    def _read_some(self) -> None:
        """Read what the line has, waiting 50 ms at most (the port's read timeout)."""
        chunk = self.port.read(self.port.in_waiting or 1)
        if chunk:
            if self.verbose:
                print(f"<< {bytes(chunk)!r}", file=sys.stderr)
            self.buf += chunk

    def _next_line(self) -> bytes | None:
        """One framed line out of the buffer, or None until the rest of it arrives."""
        while self.buf and self.buf[0] in b"\r\n":
            del self.buf[:1]
        if self.iprfmt == 2 and self.buf.startswith(b"+MIPRTCP:"):
            head = RTCP_RAW.match(self.buf)
            if head is None:
                return None if len(self.buf) < 40 else self._take_line()
            length = int(head.group(2))
            if len(self.buf) < head.end() + length:
                return None
            data = bytes(self.buf[head.end():head.end() + length])
            del self.buf[:head.end() + length]
            self.rx += data
            self.history.append(f"+MIPRTCP: {head.group(1).decode()},{length},<{length} raw bytes>")
            return b""
        return self._take_line()

    def _take_line(self) -> bytes | None:
        ends = [i for i in (self.buf.find(b"\r"), self.buf.find(b"\n")) if i >= 0]
        if not ends:
            return None
        end = min(ends)
        line = bytes(self.buf[:end])
        del self.buf[:end + 1]
        return line

    def _urc(self, text: str) -> bool:
        """Take the socket's data and state URCs; True when the line was one."""
        if text.startswith("+MIPRTCP:") and self.iprfmt == 0:
            sock, _left, hexdata = text[len("+MIPRTCP:"):].strip().split(",", 2)
            if int(sock) == SOCKET:
                self.rx += bytes.fromhex(hexdata)
            return True
        if re.match(rf"^\+(MIPSTAT: {SOCKET},[12]|MIPCLOSE: {SOCKET},\d)", text) and self.closed is None:
            self.closed = text
            self.pending.append(text)
            return True
        return False

    def framed(self) -> list[str]:
        """The whole lines in the buffer (URCs taken care of), without reading."""
        got: list[str] = []
        while (raw := self._next_line()) is not None:
            if not raw:
                continue
            text = raw.decode("latin-1").strip()
            self.history.append(text)
            if not self._urc(text):
                got.append(text)
        return got

    def pump(self) -> list[str]:
        """Read (50 ms at most) and return the new lines that were not URCs."""
        self._read_some()
        return self.framed()

    def drain(self, idle: float = 0.2) -> None:
        """Read until the line is quiet for `idle` seconds (start-up noise, a stale answer)."""
        quiet_until = time.monotonic() + idle
        while time.monotonic() < quiet_until:
            before = len(self.history)
            self.pending += self.pump()
            if len(self.history) != before:
                quiet_until = time.monotonic() + idle

    # --- commands ------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.verbose:
            print(f">> {data!r}", file=sys.stderr)
        self.port.write(data)
        self.port.flush()

    def command(self, cmd: str, timeout: float = 5.0) -> list[str]:
        """Send `cmd` CR LF, return its information lines; raise unless it ends in OK."""
        self.write(cmd.encode() + b"\r\n")
        return self.answer(cmd, timeout)

    def answer(self, cmd: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        info: list[str] = []
        while time.monotonic() < deadline:
            lines = self.pump()
            for i, text in enumerate(lines):
                if text == cmd or (text.startswith("AT") and cmd.startswith("AT")):
                    continue  # the echo
                if FINAL.match(text.encode()):
                    self.pending += lines[i + 1:]  # URCs that came in the same read
                    if text != "OK":
                        raise ModemError(f"{cmd} -> {text}")
                    return info
                info.append(text)
                self.pending.append(text)
        raise ModemError(f"{cmd}: no final result code in {timeout} s")

    def prompt_then(self, cmd: str, data: bytes, timeout: float = 5.0) -> list[str]:
        """A command answered by `>`: wait for the prompt, write exactly the data, then its result."""
        self.write(cmd.encode() + b"\r\n")
        deadline = time.monotonic() + timeout
        while True:
            for text in self.framed():  # the echo, URCs; a final result code means no prompt is coming
                if FINAL.match(text.encode()):
                    raise ModemError(f"{cmd} -> {text} (no prompt)")
                if text != cmd:
                    self.pending.append(text)
            if self.buf.startswith(b">"):
                del self.buf[:2 if self.buf[1:2] == b" " else 1]
                break
            if time.monotonic() >= deadline:
                raise ModemError(f"{cmd}: no '>' prompt in {timeout} s")
            self._read_some()
        self.write(data)
        return self.answer(cmd, timeout)

    def wait_line(self, pattern: str, timeout: float, fail: str | None = None) -> str:
        """Wait for an unsolicited line matching `pattern` (or `fail`, which raises)."""
        deadline = time.monotonic() + timeout
        while True:
            for text in list(self.pending):
                if re.match(pattern, text):
                    self.pending.remove(text)
                    return text
                if fail and re.match(fail, text):
                    self.pending.remove(text)
                    raise ModemError(f"waiting for {pattern!r}: {text}")
            if time.monotonic() >= deadline:
                raise ModemError(f"no {pattern!r} in {timeout} s")
            self.pending += self.pump()


# --- MQTT 3.1.1, by hand -----------------------------------------------------------------------
def _utf8(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _packet(first: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([first]) + bytes(encoded) + body


def connect(client_id: str, keepalive: int = 60) -> bytes:
    return _packet(0x10, _utf8("MQTT") + bytes([4, 0x02]) + keepalive.to_bytes(2, "big") + _utf8(client_id))


def subscribe(packet_id: int, topic: str, qos: int = 1) -> bytes:
    return _packet(0x82, packet_id.to_bytes(2, "big") + _utf8(topic) + bytes([qos]))


def publish(packet_id: int, topic: str, payload: bytes) -> bytes:
    return _packet(0x32, _utf8(topic) + packet_id.to_bytes(2, "big") + payload)  # QoS 1


def puback(packet_id: int) -> bytes:
    return _packet(0x40, packet_id.to_bytes(2, "big"))


def parse_packet(stream: bytearray) -> tuple[int, bytes] | None:
    """Take one whole packet (type byte, body) off the front of the stream, or None for more bytes."""
    length, shift, i = 0, 0, 1
    while True:
        if i >= len(stream):
            return None
        length |= (stream[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not stream[i - 1] & 0x80:
            break
        if shift > 21:
            raise ModemError(f"bad MQTT remaining length in {bytes(stream[:8]).hex()}")
    if len(stream) < i + length:
        return None
    first, body = stream[0], bytes(stream[i:i + length])
    del stream[:i + length]
    return first, body


class Mqtt:
    """MQTT over socket 1 of the module."""

    def __init__(self, modem: Modem) -> None:
        self.modem = modem

    def send(self, packet: bytes) -> None:
        for at in range(0, len(packet), MAX_SEND):
            chunk = packet[at:at + MAX_SEND]
            info = self.modem.prompt_then(f"AT+MIPSEND={SOCKET},{len(chunk)}", chunk)
            if not any(line.startswith(f"+MIPSEND: {SOCKET},0") for line in info):
                raise ModemError(f"+MIPSEND of {len(chunk)} bytes: {info}")
            for line in info:
                if line in self.modem.pending:
                    self.modem.pending.remove(line)

    def receive(self, timeout: float) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        while True:
            got = parse_packet(self.modem.rx)
            if got is not None:
                return got
            if self.modem.closed is not None:
                raise ModemError(f"the socket closed ({self.modem.closed}) before a whole MQTT packet came")
            if time.monotonic() >= deadline:
                raise ModemError(f"no MQTT packet in {timeout} s (have {bytes(self.modem.rx).hex() or 'nothing'})")
            self.modem.pending += self.modem.pump()


# --- the session -------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    payload = bytes.fromhex(args.payload)
    with open(args.ca_file, "rb") as f:
        ca = f.read()
    port = serial.Serial(args.port, 115200, timeout=0.05)
    port.dtr = True  # the module's DTR input: the line is up
    port.rts = True
    modem = Modem(port, args.iprfmt, args.verbose)
    try:
        return session(modem, args, ca, payload)
    except ModemError as exc:
        print(f"FAIL: {exc}")
        print("last lines from the module:", *modem.history[-25:], sep="\n  ", file=sys.stderr)
        return 1
    finally:
        port.close()


def session(modem: Modem, args: argparse.Namespace, ca: bytes, payload: bytes) -> int:
    modem.drain()
    for _ in range(5):  # the module may still be booting: a few tries, as real drivers do
        try:
            modem.command("AT", timeout=1.0)
            break
        except ModemError:
            modem.drain()
    else:
        raise ModemError("the module does not answer AT")
    modem.command("AT+CMEE=1")
    ident = modem.command("ATI")
    print("module:", " | ".join(ident))

    # TLS settings are lost at every power cycle: set them again each time.
    modem.command("AT+GTSSLVER=4")  # TLS 1.2
    modem.command("AT+GTSSLMODE=1")  # verify the server
    modem.command("AT+GTSSLCIPHER=4,1")  # TLS_DHE_RSA_WITH_AES_256_CBC_SHA
    modem.command("AT+GTSSLCIPHER=3,1")  # TLS_RSA_WITH_AES_128_CBC_SHA
    modem.prompt_then(f'AT+GTSSLFILE="TRUSTFILE",{len(ca)}', ca, timeout=15.0)
    files = modem.command("AT+GTSSLFILE?")
    print("trust files:", " | ".join(files))
    modem.command(f'AT+GTSET="IPRFMT",{args.iprfmt}')

    state = modem.command("AT+MIPCALL?")
    modem.pending = [p for p in modem.pending if not p.startswith("+MIPCALL:")]
    if not any(re.match(r"^\+MIPCALL: 1", s) for s in state):
        modem.command("AT+MIPCALL=1", timeout=10.0)
        ip = modem.wait_line(r"^\+MIPCALL: ", 65.0)
        if ip.strip() == "+MIPCALL: 0":
            raise ModemError("PDP activation failed (+MIPCALL: 0)")
        print("pdp:", ip)

    modem.pending = [p for p in modem.pending if not p.startswith(("+MIPOPEN:", "+MIPSTAT:"))]
    modem.command(f'AT+MIPOPEN={SOCKET},,"{args.broker_host}",{args.broker_port},2', timeout=10.0)
    try:
        modem.wait_line(rf"^\+MIPOPEN: {SOCKET},1", 60.0, fail=rf"^\+(MIPOPEN: {SOCKET},0|MIPSTAT: {SOCKET},)")
    except ModemError:
        modem.pending.clear()
        err = modem.command("AT+GTSSLERR?")
        raise ModemError(f"TLS open to {args.broker_host}:{args.broker_port} failed: {' '.join(err) or 'no +GTSSLERR'}")
    modem.closed = None
    print("tls: open")

    mqtt = Mqtt(modem)
    mqtt.send(connect(args.client_id))
    kind, body = mqtt.receive(10.0)
    if kind != 0x20 or len(body) != 2 or body[1] != 0:
        raise ModemError(f"expected CONNACK 0, got type {kind:#x} {body.hex()}")
    print(f"CONNACK session_present={body[0]} rc={body[1]}")

    mqtt.send(subscribe(1, args.topic))
    kind, body = mqtt.receive(10.0)
    if kind != 0x90 or body[:2] != b"\x00\x01" or body[2:] not in (b"\x00", b"\x01"):
        raise ModemError(f"expected SUBACK for packet 1, got type {kind:#x} {body.hex()}")
    print(f"SUBACK id=1 granted_qos={body[2]}")

    mqtt.send(publish(2, args.topic, payload))
    acked, echoed = False, None
    while not (acked and echoed is not None):
        kind, body = mqtt.receive(10.0)
        if kind == 0x40 and body == b"\x00\x02":
            acked = True
            print("PUBACK id=2")
        elif kind >> 4 == 3:  # our own publication, back through the subscription
            tlen = int.from_bytes(body[:2], "big")
            topic, rest = body[2:2 + tlen].decode(), body[2 + tlen:]
            if kind & 0x06:  # QoS 1: packet id, then acknowledge it
                mid, rest = int.from_bytes(rest[:2], "big"), rest[2:]
                mqtt.send(puback(mid))
            echoed = rest
            print(f"PUBLISH received topic={topic} bytes={len(rest)} same={rest == payload}")
        else:
            raise ModemError(f"unexpected MQTT packet type {kind:#x} {body.hex()}")
    if echoed != payload:
        raise ModemError(f"the broker sent back other bytes: {echoed.hex()}")

    mqtt.send(_packet(0xE0, b""))  # DISCONNECT: the broker closes the connection on its own
    if modem.closed is None:
        try:
            modem.command(f"AT+MIPCLOSE={SOCKET}", timeout=10.0)
            modem.wait_line(rf"^\+(MIPCLOSE|MIPSTAT): {SOCKET},", 15.0)
        except ModemError:
            if modem.closed is None:  # an error is fine only when the broker closed first
                raise
    print("closed:", modem.closed)
    print("PASS")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", help="serial device, e.g. /dev/ttyUSB2")
    parser.add_argument("broker_host")
    parser.add_argument("broker_port", type=int)
    parser.add_argument("ca_file", help="PEM CA that signed the broker's certificate (uploaded as TRUSTFILE)")
    parser.add_argument("topic")
    parser.add_argument("payload", help="the message, in hex")
    parser.add_argument("--iprfmt", type=int, choices=(0, 2), default=0, help="receive format: 0 hex, 2 raw")
    parser.add_argument("--client-id", default="nl668-host")
    parser.add_argument("-v", "--verbose", action="store_true", help="every byte in and out on stderr")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

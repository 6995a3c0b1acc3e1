"""An unmodified pyserial host program, written the way real host drivers are.

It opens the port, sets DTR and RTS right away (off, then on), reads CTS/DSR/CD/RI, sends ``AT``
and waits for ``OK``; nothing in it knows about the emulator. Usage::

    host_pyserial.py [PORT] [lines | drop-reboots | drop-ignored]

PORT (empty or absent: ``$NL668_DEVICE``). ``drop-*`` then sets a volatile SSL setting, drops and raises
DTR, (waits for the module's boot URC when it is expected to reboot) and reads the setting back;
``drop-reboots`` also waits for the boot URC after the DTR toggle that follows the open.
Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import time

import serial

TIMEOUT = 10.0


def read_until(port: serial.Serial, *markers: bytes) -> bytes:
    """Read until one of ``markers`` arrives (or TIMEOUT passes): a real driver's read loop."""
    deadline = time.monotonic() + TIMEOUT
    data = b""
    while not any(m in data for m in markers) and time.monotonic() < deadline:
        data += port.read(port.in_waiting or 1)
    return data


def command(port: serial.Serial, line: bytes) -> str:
    port.write(line + b"\r\n")
    return read_until(port, b"OK\r\n", b"ERROR\r\n").decode()


def lines(port: serial.Serial) -> dict[str, bool]:
    return {"cts": port.cts, "dsr": port.dsr, "cd": port.cd, "ri": port.ri}


def main() -> int:
    device = (sys.argv[1] if len(sys.argv) > 1 else "") or os.environ["NL668_DEVICE"]
    mode = sys.argv[2] if len(sys.argv) > 2 else "lines"
    port = serial.Serial(device, 115200, timeout=0.2)
    port.dtr = False
    port.rts = False
    report: dict[str, object] = {"off": lines(port)}
    port.dtr = True
    port.rts = True
    report["on"] = lines(port)
    if mode == "drop-reboots":  # that first drop already rebooted the module: wait until it is up
        report["first boot"] = read_until(port, b"+SIM READY\r\n").decode()
    report["at"] = command(port, b"AT")
    if mode.startswith("drop"):
        report["set"] = command(port, b"AT+GTSSLMODE=1")
        port.dtr = False
        port.dtr = True
        if mode == "drop-reboots":
            report["boot"] = read_until(port, b"+SIM READY\r\n").decode()
        report["after"] = command(port, b"AT+GTSSLMODE?")
    port.close()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

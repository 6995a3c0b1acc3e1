"""UART pacing on a real PTY: the measured byte rate vs the nominal 8N1 rate (RATE/10 bytes a second).

A module is wired as ``emulator.runtime.pacing`` documents (pace_output around
the transport's write, pace_input around the driver's feed) on a loop thread.
The host, echo on (``ATE1``), writes long command lines at once; the module
hears them at the paced rate and echoes them at the paced rate. The host
times the echo from its first to its last byte. Three wirings per baud: input
paced only, output paced only, both. Target: within 5 % of nominal at 115200
and 921600 baud.
"""

from __future__ import annotations

import asyncio
import threading

import common  # noqa: I001
from common import RawHost, now, record, report

from emulator.core.module import Module
from emulator.profiles import load_profile
from emulator.runtime.clocks import SystemClock
from emulator.runtime.driver import AsyncioScheduler, ModuleDriver
from emulator.runtime.pacing import pace_input, pace_output, uart_bytes_per_second
from emulator.transports.pty import PtyTransport

SECONDS = 2.0  # of traffic per measurement


class PacedModule:
    def __init__(self, baud_in: int | None, baud_out: int | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        ready = threading.Event()
        self.loop.call_soon_threadsafe(self._build, baud_in, baud_out, ready)
        ready.wait(5)

    def _build(self, baud_in: int | None, baud_out: int | None, ready: threading.Event) -> None:
        clock = SystemClock()
        self.scheduler = AsyncioScheduler(self.loop, clock)
        module = Module(load_profile("NL668_AM_00"), clock)
        self.transport = PtyTransport(self.loop)
        write = pace_output(self.loop, self.transport.write, baud=baud_out)
        self.driver = ModuleDriver(module, write=write, scheduler=self.scheduler)
        self.transport.start(pace_input(self.loop, self.driver.feed, baud=baud_in))
        self.driver.start()
        ready.set()

    def close(self) -> None:
        def stop() -> None:
            self.transport.close()
            self.driver.close()
            self.scheduler.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self.thread.join(5)
        self.loop.close()


def measure(baud: int, paced_in: bool, paced_out: bool) -> float:
    """Echo bytes a second, first to last echoed byte, over SECONDS of traffic."""
    module = PacedModule(baud if paced_in else None, baud if paced_out else None)
    host = RawHost(module.transport.device_path)
    host.command(b"AT", timeout=5)  # boot URCs and a clean line
    size = int(uart_bytes_per_second(baud) * SECONDS)
    line = b"AT" + b"+GTSSLVER?" * 150  # 1502 bytes, under the 2048 line buffer; ERROR is fine
    lines = max(1, size // len(line))
    blob = (line + b"\r") * lines
    writer = threading.Thread(target=host.write, args=(blob,))
    writer.start()
    # The line carries the echo and the result codes: with output paced, every byte received is
    # line time; with only input paced, the echo alone follows the host's paced bytes.
    expected = len(blob) + lines * len(b"\r\nERROR\r\n") if paced_out else len(blob)
    got = 0
    first: float | None = None
    first_size = 0
    deadline = now() + SECONDS * 3 + 10
    while got < expected:
        host.buf.clear()
        host.fill(deadline)
        data = bytes(host.buf)
        counted = len(data) if paced_out else len(data.replace(b"\r\nERROR\r\n", b""))
        got += counted
        if first is None and counted:
            first, first_size = now(), counted
    elapsed = now() - (first or now())
    writer.join()
    host.close()
    module.close()
    return (got - first_size) / elapsed


def main() -> None:
    figures: dict[str, float] = {}
    rows = []
    for baud in (115200, 921600):
        nominal = uart_bytes_per_second(baud)
        for label, paced_in, paced_out in (("in", True, False), ("out", False, True), ("both", True, True)):
            rate = measure(baud, paced_in, paced_out)
            error = rate / nominal - 1
            figures[f"{baud}_{label}_Bps"] = rate
            figures[f"{baud}_{label}_error_pct"] = error * 100
            rows.append((f"{baud} baud, paced {label}", f"{rate:.0f} B/s", f"nominal {nominal:.0f} B/s",
                         f"{error * 100:+.2f} % (target within 5 %: {'met' if abs(error) <= 0.05 else 'MISSED'})"))
    report("UART pacing", rows)
    record("pacing", figures)


if __name__ == "__main__":
    main()

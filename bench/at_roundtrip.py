"""AT round trip (``AT\\r`` -> ``OK``) over a PTY vs a raw PTY echo, and commands per second.

Baseline: the same host code against :class:`common.EchoPty`, whose loop thread
answers with the same add_reader/os.write path the emulator uses; the ratio
is what the emulator's parsing, dispatch and framing add. Target: median <= 3x.
Commands per second: mixed read/set SSL commands, pipelined (several lines per
write, as a host that does not wait may) and strictly one at a time.
Target: >= 5000/s.
"""

from __future__ import annotations

import resource

import common  # noqa: I001  (puts the repository on sys.path)
from common import EchoPty, RawHost, median, now, percentile, record, report

from emulator.runtime.running import RunningModule

ROUNDS = 3000
MIX = [b"AT+GTSSLVER?", b"AT+GTSSLVER=4", b"AT+GTSSLMODE?", b"AT+GTSSLMODE=0", b"AT+GTSSLCIPHER?",
       b"AT+GTSSLCIPHER=2,1", b"AT+GTSSLERR?", b"AT+GTSSLCIPHER=0,1"]
PIPELINE = 16  # commands per write


def round_trips(host: RawHost, line: bytes, reply: bytes, rounds: int) -> list[float]:
    out = []
    for _ in range(50):  # warm-up
        host.write(line)
        host.until(reply)
    for _ in range(rounds):
        t0 = now()
        host.write(line)
        host.until(reply)
        out.append(now() - t0)
    return out


def thread_cpu() -> float:
    """CPU seconds of the calling thread: robust to a loaded machine, unlike wall time."""
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    echo = EchoPty()
    host = RawHost(echo.path)
    base = round_trips(host, b"AT\r", b"AT\r", ROUNDS)
    host.close()
    echo.close()

    with RunningModule("NL668_AM_00") as running:
        host = RawHost(running.device_path)
        host.command(b"ATE0")
        emu = round_trips(host, b"AT\r", b"OK\r\n", ROUNDS)

        total = 4000
        cpu0 = running.call(thread_cpu)
        t0 = now()
        for i in range(total):
            host.command(MIX[i % len(MIX)])
        one_at_a_time = total / (now() - t0)
        cpu_one = (running.call(thread_cpu) - cpu0) / total

        batch = b"".join(MIX[i % len(MIX)] + b"\r" for i in range(PIPELINE))
        writes = 20000 // PIPELINE
        cpu0 = running.call(thread_cpu)
        t0 = now()
        for _ in range(writes):
            host.write(batch)
            host.count(b"OK\r\n", PIPELINE)
        pipelined = writes * PIPELINE / (now() - t0)
        cpu_per_cmd = (running.call(thread_cpu) - cpu0) / (writes * PIPELINE)
        host.close()

    figures = {
        "echo_median_us": median(base) * 1e6, "echo_p99_us": percentile(base, 99) * 1e6,
        "at_median_us": median(emu) * 1e6, "at_p99_us": percentile(emu, 99) * 1e6,
        "median_ratio": median(emu) / median(base), "p99_ratio": percentile(emu, 99) / percentile(base, 99),
        "cmds_per_s_one_at_a_time": one_at_a_time, "cmds_per_s_pipelined": pipelined,
        "pipeline_depth": PIPELINE, "emulator_cpu_us_per_cmd_pipelined": cpu_per_cmd * 1e6,
        "emulator_cpu_us_per_cmd_one_at_a_time": cpu_one * 1e6,
    }
    figures["echo_cmds_per_s"] = 1 / median(base)
    report("AT round trip / commands per second", [
        ("AT->OK median", f"{figures['at_median_us']:.0f} us", f"echo {figures['echo_median_us']:.0f} us",
         f"{figures['median_ratio']:.2f}x (target <= 3x)"),
        ("AT->OK p99", f"{figures['at_p99_us']:.0f} us", f"echo {figures['echo_p99_us']:.0f} us",
         f"{figures['p99_ratio']:.2f}x"),
        ("mixed SSL cmds, pipelined x16", f"{pipelined:.0f}/s", f"echo {figures['echo_cmds_per_s']:.0f}/s",
         f"target >= 5000/s: {'met' if pipelined >= 5000 else 'MISSED'};"
         f" emulator loop CPU {cpu_per_cmd * 1e6:.1f} us/command"),
        ("mixed SSL cmds, one at a time", f"{one_at_a_time:.0f}/s", f"echo {figures['echo_cmds_per_s']:.0f}/s",
         f"{one_at_a_time * median(base):.2f}x of echo; emulator loop CPU {cpu_one * 1e6:.1f} us/command"),
    ])
    record("at_roundtrip", figures)


if __name__ == "__main__":
    main()

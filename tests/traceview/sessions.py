"""Real sessions whose ``--trace`` files the trace-view tests render (never hand-written traces).

Each function runs the emulator over a PTY (:class:`RunningModule` with ``trace_path``) against
servers on 127.0.0.1 and returns the trace file:

* :func:`manual_example`: a manual §2.6 example replayed byte for byte (the transcripts of
  tests/transcripts/tls, with their local TLS servers);
* :func:`lab_failures`: three of the lab's failing handshakes (expired, wrong-host, alert-49) on
  sockets 1-3, then a good one on socket 4;
* :func:`long_session`: 1 MB each way through one TLS socket.
"""

from __future__ import annotations

from pathlib import Path

from emulator.lab.scenarios import HOST
from emulator.lab.server import Lab
from emulator.profiles import load_profile
from emulator.runtime.running import RunningModule
from emulator.servers.tls_servers import TlsServer
from emulator.testing.transcripts import Step, load_transcript, replay
from tests.lab_session import lab_rules, online_module, verifying_module
from tests.transcripts.test_manual_tls_transcripts import HERE, scene

PROFILE = "NL668_AM_00"


def manual_example(name: str, tmp_path: Path, profile_name: str = PROFILE) -> Path:
    """Replay manual §2.6 example ``name`` (e.g. ``manual_2_6_example_3``) over a PTY with a trace."""
    trace = tmp_path / f"{name}.jsonl"
    profile = load_profile(profile_name)
    transcript = load_transcript(
        HERE / f"{name}.at", context={"local_ip": profile.network.local_ip}, prompt=profile.at.prompt
    )
    with scene(name, tmp_path) as (rule, _server), RunningModule(
        profile, strict=True, resolve=[rule], trace_path=trace
    ) as running:
        port = running.open_serial(timeout=10)
        try:
            port.write(b"ATE1\r")
            assert port.read_until(b"OK\r\n").endswith(b"OK\r\n")

            def exchange(step: Step) -> bytes:
                port.write(step.send)
                return port.read(len(step.expect)) if step.expect else b""

            replay(transcript, exchange)
        finally:
            port.close()
    return trace


def lab_failures(
    tmp_path: Path, names: tuple[str, ...] = ("expired", "wrong-host", "alert-49", "valid"), profile: str = PROFILE
) -> Path:
    """Sockets 1-3 fail (expired -> 45, wrong-host -> 153, alert-49 received -> 49); socket 4 opens.

    ``names`` and ``profile`` pick other lab scenarios (one socket each, in order) and variant.
    """
    trace = tmp_path / "lab.jsonl"
    with Lab(names) as lab:
        with verifying_module(profile, lab_rules(lab, names), trace) as (_running, at):
            for link, name in enumerate(names, start=1):
                at.command(f'AT+MIPOPEN={link},,"{HOST}",{lab.endpoint(name).port},2')
                at.wait_urc(f"+MIPOPEN: {link},", timeout=20)
                at.command("AT+GTSSLERR?")
            last = len(names)
            at.command(f"AT+MIPCLOSE={last}")
            at.wait_urc(f"+MIPCLOSE: {last},")
    return trace


def long_session(tmp_path: Path, size: int = 1 << 20) -> Path:
    """``size`` bytes each way through one TLS socket (2 KiB +MIPSEND chunks, the echo as +MIPRTCP URCs)."""
    trace = tmp_path / "long.jsonl"
    # Every 2 KiB chunk starts with byte 0: a data block starting with LF right after a CR-terminated
    # +MIPSEND line is a different question (at.data_after_cr), not this trace's.
    payload = (bytes(range(256)) * (size // 256 + 1))[:size]
    with TlsServer() as server, online_module(
        PROFILE, [f"{HOST}:443=127.0.0.1:{server.port}"], trace, strict=True
    ) as (_running, at):
        at.command(f'AT+MIPOPEN=1,,"{HOST}",443,2')
        assert at.wait_urc("+MIPOPEN: 1,", timeout=20) == "+MIPOPEN: 1,1"
        for i in range(0, size, 2048):
            chunk = payload[i : i + 2048]
            at.command_with_data(f"AT+MIPSEND=1,{len(chunk)}", chunk)
        got = bytearray()
        while len(got) < size:
            got += bytes.fromhex(at.wait_urc("+MIPRTCP: 1,", timeout=20).split(",", 2)[2])
        assert bytes(got) == payload
        at.command("AT+MIPCLOSE=1")
        at.wait_urc("+MIPCLOSE: 1,")
    return trace

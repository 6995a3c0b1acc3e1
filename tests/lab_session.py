"""A module in the state every socket test starts from (:func:`online_module`: its serial port open, the PDP
context up) and the one every lab session starts from (:func:`verifying_module`: also the lab's root CA
uploaded as TRUSTFILE and the server verified, +GTSSLMODE=1, so a handshake fails only for the reason the
lab's scenario was built for)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from emulator.at_client import AtClient
from emulator.lab.scenarios import HOST
from emulator.core.profile import Profile
from emulator.lab.server import Lab
from emulator.runtime.running import RunningModule
from emulator.servers.pki import cert_bytes


def lab_rules(lab: Lab, names: Iterable[str] | None = None, hosts: Iterable[str] = (HOST,)) -> list[str]:
    """--resolve rules sending each host, at each named endpoint's port (every endpoint's when no names), to
    that endpoint on 127.0.0.1."""
    ports = [lab.endpoint(name).port for name in names] if names is not None else [e.port for e in lab.endpoints]
    return [f"{host}:{port}=127.0.0.1:{port}" for host in hosts for port in ports]


@contextmanager
def online_module(
    profile: str | Profile,
    resolve: Sequence[str] = (),
    trace_path: Path | None = None,
    *,
    strict: bool = False,
    initial_clock: datetime | None = None,
) -> Iterator[tuple[RunningModule, AtClient]]:
    """The running module (for ``running.call``, ``running.errors``) and an AtClient on its serial port with
    the PDP context up (AT+MIPCALL=1), ready to +MIPOPEN; the port is closed however the block ends.
    ``initial_clock``: the module clock at power-on (``--clock``)."""
    with RunningModule(profile, resolve=resolve, trace_path=trace_path, strict=strict,
                       initial_clock=initial_clock) as running:
        port = running.open_serial(timeout=10)
        try:
            at = AtClient(port)
            at.command("AT+MIPCALL=1")
            at.wait_urc("+MIPCALL: ")
            yield running, at
        finally:
            port.close()


@contextmanager
def verifying_module(
    profile: str, resolve: list[str], trace_path: Path | None = None, *, strict: bool = False
) -> Iterator[tuple[RunningModule, AtClient]]:
    """:func:`online_module` with the lab's root CA as TRUSTFILE and +GTSSLMODE=1."""
    with online_module(profile, resolve, trace_path, strict=strict) as (running, at):
        root = cert_bytes("root-ca.pem")
        at.command_with_data(f'AT+GTSSLFILE="TRUSTFILE",{len(root)}', root)
        at.command("AT+GTSSLMODE=1")
        yield running, at

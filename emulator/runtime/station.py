"""One module wired to its edge: transport, driver, sockets; shared by every front end.

Why one builder: the CLI, :class:`~emulator.runtime.running.RunningModule`,
the ``nl668://`` URL handler and the pytest plugin must all serve the *same*
engine, so the wiring (driver <- transport, links -> driver, back-pressure
transport -> links) is written once. A front end is anything with
``start(receiver)``, ``write(bytes)``, ``close()`` and a ``flow`` attribute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ..core.clock import Clock
from ..core.module import Module
from ..core.profile import Profile
from .driver import ModuleDriver, Scheduler
from .links import PeerLinks
from .pacing import UartPacer, delay_events, join_flow, pace_input, pace_output
from .resolve import Resolver

if TYPE_CHECKING:
    from ..trace import TraceWriter


class HostTransport(Protocol):
    """The host side of one serial line (PTY, TCP, RFC 2217, in-process buffers)."""

    flow: Callable[[bool], None] | None

    def start(self, receiver: Callable[[bytes], None]) -> None: ...

    def write(self, data: bytes) -> None: ...

    def flush(self) -> None:
        """Hand what :meth:`write` has queued to the kernel now (a PTY batches writes per loop pass)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Timing:
    """Realistic timing (issue 6): UART rate, answer latency, network round trip; None/0 = as fast as possible."""

    baud: int | None = None
    latency: float = 0.0
    rtt: float = 0.0


@dataclass(slots=True)
class Station:
    """A powered module and its edge; call everything on the loop thread."""

    module: Module
    driver: ModuleDriver
    links: PeerLinks
    transport: HostTransport
    name: str
    pacer: object = None  #: the paced host writer, when --baud/--latency is on

    def close(self) -> None:
        """Stop the line and the module's timers, abort its sockets (await ``links.wait_closed()``)."""
        if isinstance(self.pacer, UartPacer):
            self.pacer.close()
        self.transport.close()
        self.driver.close()


def build_station(
    loop: asyncio.AbstractEventLoop,
    scheduler: Scheduler,
    profile: Profile,
    transport: HostTransport,
    *,
    clock: Clock,
    resolver: Resolver,
    name: str,
    initial_clock: datetime | None = None,
    trace: TraceWriter | None = None,
    strict: bool = False,
    timing: Timing | None = None,
) -> Station:
    """Build, wire and power on one module behind ``transport`` (on the loop thread).

    ``timing`` (``--baud``, ``--latency``, ``--rtt``) slows the module to a real one's pace; by
    default every wrapper is the identity and costs nothing.
    """
    timing = timing or Timing()
    module = Module(profile, clock, strict=strict, trace_input=trace is not None, initial_clock=initial_clock)
    write = pace_output(loop, transport.write, baud=timing.baud, latency=timing.latency)
    driver = ModuleDriver(module, write=write, scheduler=scheduler, trace=trace, name=name)
    links = PeerLinks(loop, resolver, delay_events(loop, driver.deliver, rtt=timing.rtt), name=name)
    driver.links = links
    if trace is not None:
        links.observer = trace.step  # the network-side steps (TCP connect, TLS handshake) as "net" records
    transport.flow = join_flow(links.hold, write)  # back-pressure also sees the pacer's queue
    transport.start(pace_input(loop, driver.feed, baud=timing.baud))
    driver.start()
    # The power-on URCs are on the line when this returns, before any host can open it (and flush its
    # input), as before a real module's port appears: not at the end of the current loop pass. (With
    # --baud or --latency the pacer sends them at its own pace, as it always has.)
    transport.flush()
    return Station(
        module=module, driver=driver, links=links, transport=transport, name=name, pacer=write
    )

"""The console's events in the core, on the virtual clock: ordering and state, no I/O."""

from __future__ import annotations

from datetime import datetime, timezone

from emulator.core.events import ClockSet, NetworkChanged, PdpDropped, PowerCycleRequested, UrcInjected
from emulator.runtime.in_memory import InMemoryModule


def fresh() -> InMemoryModule:
    module = InMemoryModule("NL668_AM_00")
    module.take()
    return module


def test_an_injected_urc_waits_for_a_data_entry_to_finish() -> None:
    module = fresh()
    assert module.command("AT+GTSSLFILE=\"TRUSTFILE\",4").endswith(b"> ")
    assert module.event(UrcInjected(text="+MIPSTAT: 1,1")) == b""  # never inside the data entry
    assert module.advance(12) == b"\r\nERROR\r\n\r\n+MIPSTAT: 1,1\r\n"


def test_pdp_drop_without_a_context_says_nothing() -> None:
    assert fresh().event(PdpDropped()) == b""


def test_registration_urc_only_when_asked_and_on_change() -> None:
    module = fresh()
    assert module.event(NetworkChanged(registration=5)) == b""  # +CREG=0: no URC
    module.command("AT+CREG=1")
    assert module.event(NetworkChanged(registration=5)) == b""  # no change
    assert module.event(NetworkChanged(registration=2)) == b"\r\n+CREG: 2\r\n"
    module.command("AT+CFUN=0")
    assert module.command("AT+CREG?") == b"AT+CREG?\r\r\n+CREG: 1,0\r\n\r\nOK\r\n"  # radio off wins


def test_radio_conditions_survive_a_power_cycle_the_clock_runs_on() -> None:
    module = fresh()
    module.event(NetworkChanged(rssi=7, ber=2))
    module.event(ClockSet(utc=datetime(2030, 1, 1, tzinfo=timezone.utc)))
    module.event(PowerCycleRequested())
    assert module.command("AT") == b""  # deaf while rebooting
    assert module.advance(0.5) == b"\r\n+SIM READY\r\n"
    assert module.command("AT+CSQ") == b"AT+CSQ\r\r\n+CSQ: 7,2\r\n\r\nOK\r\n"
    assert b'+CCLK: "30/01/01,00:00:' in module.command("AT+CCLK?")

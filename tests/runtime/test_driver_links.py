"""ModuleDriver and the link edge: actions routed in order, answers fed back one at a time."""

from __future__ import annotations

from emulator.core.actions import Action, OpenLink
from emulator.core.clock import ManualClock
from emulator.core.events import LinkOpened
from emulator.core.module import Module
from emulator.profiles import load_profile
from emulator.runtime.driver import LinkEdge, ModuleDriver, VirtualScheduler

OK = b"\r\nOK\r\n"


def module_with(links: LinkEdge | None) -> tuple[ModuleDriver, bytearray]:
    clock = ManualClock()
    out = bytearray()
    driver = ModuleDriver(
        Module(load_profile("NL668_AM_00"), clock, strict=True),
        write=out.extend,
        scheduler=VirtualScheduler(clock),
        links=links,
    )
    driver.start()
    driver.feed(b"ATE0\r")
    driver.feed(b'AT+MIPCALL=1,"broadband"\r')
    out.clear()
    return driver, out


class AnswersAtOnce:
    """An edge that answers OpenLink from inside perform(): the re-entrant case the driver must queue."""

    def __init__(self) -> None:
        self.driver: ModuleDriver | None = None
        self.performed: list[Action] = []
        self.closed_all = 0

    def perform(self, action: Action) -> None:
        self.performed.append(action)
        if isinstance(action, OpenLink) and self.driver is not None:
            self.driver.deliver(LinkOpened(link_id=action.link_id, detail="TCP"))

    def close_all(self) -> None:
        self.closed_all += 1


def test_without_links_an_open_fails_instead_of_hanging() -> None:
    driver, out = module_with(None)
    driver.feed(b'AT+MIPOPEN=1,,"127.0.0.1",7,0\r')
    assert out == OK + b"\r\n+MIPOPEN: 1,0\r\n"


def test_an_answer_given_during_perform_waits_for_the_current_actions() -> None:
    links = AnswersAtOnce()
    driver, out = module_with(links)
    links.driver = driver
    driver.feed(b'AT+MIPOPEN=1,,"127.0.0.1",7,0\r')
    assert [type(a) for a in links.performed] == [OpenLink]
    assert out == OK + b"\r\n+MIPOPEN: 1,1\r\n"  # OK first, although the answer came before it was written


def test_close_and_power_cycle_abort_the_sockets() -> None:
    links = AnswersAtOnce()
    driver, _ = module_with(links)
    driver.feed(b"AT+CFUN=1,1\r")
    assert links.closed_all == 1
    driver.close()
    assert links.closed_all == 2

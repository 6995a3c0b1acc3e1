"""A stateful test: host commands and socket events from the edge, interleaved in any order.

Why: the edge and the core race (a peer closes while the host closes; a late LinkOpened arrives for
a socket the module gave up on; a reset lands mid-handshake). The events here are *not* the polite
ones a real edge sends: any event for any socket id at any time, repeated or out of order. Whatever
arrives, the core must raise nothing (strict mode), keep its link table consistent (see
:func:`tests.robustness.model.check_state`), keep a socket id busy until the edge confirmed the close,
and still give every command line exactly one final result code.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from datetime import datetime, timezone

from emulator.core.actions import CloseLink, OpenLink, PingHost, QueryTime, ResolveName, SendToPeer
from emulator.core.events import (
    LinkClosed,
    LinkOpened,
    LinkOpenFailed,
    NameResolved,
    PeerClosed,
    PeerDataReceived,
    PingAnswered,
    TimeAnswered,
)
from emulator.core.links import LinkState
from emulator.runtime.in_memory import InMemoryModule
from tests.robustness.model import PAST_DATA_TIMEOUT, count_finals

IDS = st.sampled_from([1, 1, 1, 2, 2, 6, 0, 7])  # few ids, so events meet their sockets; 0 and 7 are no ids
GTSSLERR = st.sampled_from([None, 40, 42, 48, 80, 90])
PAYLOAD = st.lists(st.integers(0, 255).filter(lambda b: b not in (10, 13)), min_size=1, max_size=300).map(bytes)

LINES = st.one_of(
    st.sampled_from(["AT+MIPCALL=1", "AT+MIPCALL=0", "AT+MIPOPEN?", "AT+MIPCLOSE?", "AT+MIPSEND?", "AT+MIPSETS?",
                     'AT+GTSET="IPRFMT",0', 'AT+GTSET="IPRFMT",1', 'AT+GTSET="IPRFMT",2', 'AT+GTSET="IPRFMT",5',
                     'AT+MIPDNS="peer.test"', "AT+GTSSLERR?", "AT", "AT+CFUN=0", "AT+CFUN=1",
                     # the PDP context seen through +CGACT too, and the network-side probes (issue 11)
                     "AT+CGACT=1,1", "AT+CGACT=0,1", "AT+CGACT?", "AT+CGPADDR=1", 'AT+MPING=1,"peer.test",2',
                     'AT+MPING=1,"peer.test",1,32,64,0,1000', 'AT+MIPNTP="ntp.test"', 'AT+MIPNTP="ntp.test",1123']),
    st.builds("AT+MIPOPEN={},,\"peer.test\",443,{}".format, IDS, st.integers(0, 2)),
    st.builds("AT+MIPCLOSE={}".format, IDS),
    st.builds('AT+MIPSEND={},"{}"'.format, IDS, st.sampled_from(["41", "414243" * 100, "00ff"])),
    st.builds("AT+MIPPUSH={}".format, IDS),
    st.builds("AT+MIPREAD={},{}".format, IDS, st.sampled_from([1, 10, 5000])),
    st.builds("AT+MIPSETS={},{},{}".format, IDS, st.sampled_from([1, 100, 2048]), st.sampled_from([0, 100])),
)


class LinkMachine(RuleBasedStateMachine):
    """Drives one in-memory module; the invariants run after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.m = InMemoryModule("NL668_AM_00")
        self.output = bytearray(self.m.take())
        self.lines = 0  # command lines typed (each owes one final result code)
        self.queries: list[int] = []
        self.asked_open: set[int] = set()  # ids with an OpenLink not yet closed by CloseLink/LinkClosed
        self.closing: set[int] = set()  # ids the core asked the edge to close
        self.settled = 0  # while a +MIPDNS waits: the lines answered for sure
        self.probes: list[int] = []  # PingHost probes and QueryTime queries the edge owes an answer
        self.times: list[int] = []

    @initialize()
    def echo_off_and_call(self) -> None:
        self.send_line("AT+MIPCALL=1")

    def send_line(self, line: str) -> None:
        self.lines += 1
        self.output += self.m.command(line)
        self.collect()

    def collect(self) -> None:
        for action in self.m.links.take():
            if isinstance(action, OpenLink):
                self.asked_open.add(action.link_id)
            elif isinstance(action, CloseLink):
                self.closing.add(action.link_id)
            elif isinstance(action, SendToPeer):  # only ever for a socket that is open right now
                link = self.m.module.state.links.get(action.link_id)
                assert link is not None and link.state is LinkState.OPEN, action
            elif isinstance(action, PingHost):
                self.probes.append(action.probe)
            elif isinstance(action, QueryTime):
                self.times.append(action.query)
            elif isinstance(action, ResolveName):
                if not self.queries:
                    self.settled = self.lines - 1  # lines before the +MIPDNS one; later ones wait behind it
                self.queries.append(action.query)

    def deliver(self, event: object) -> None:
        self.output += self.m.event(event)  # type: ignore[arg-type]
        self.collect()

    # --- the host ----------------------------------------------------------------------------------

    @rule(line=LINES)
    def command(self, line: str) -> None:
        self.send_line(line)

    @rule(link_id=IDS, protocol=st.integers(0, 2))
    def open_and_connect(self, link_id: int, protocol: int) -> None:
        """The common case, so that open sockets are frequent: +MIPOPEN and at once the edge's LinkOpened."""
        self.send_line(f'AT+MIPOPEN={link_id},,"peer.test",443,{protocol}')
        self.deliver(LinkOpened(link_id=link_id))

    @precondition(lambda self: not self.queries)  # a host waits for an answer before a data command
    @rule(link_id=IDS, data=PAYLOAD)
    def send_block(self, link_id: int, data: bytes) -> None:
        """The length form: the '>' prompt then the block (or ERROR at once if the socket is not open)."""
        self.lines += 1
        out = self.m.command(f"AT+MIPSEND={link_id},{len(data)}")
        if out.endswith(b"\r\n> "):
            out += self.m.send(data)
        self.output += out
        self.collect()

    @precondition(lambda self: not self.queries)  # a host waits for an answer before a data command
    @rule(link_id=IDS, data=PAYLOAD, what=st.sampled_from(["reset", "fin", "data", "opened", "closed"]))
    def send_block_interrupted(self, link_id: int, data: bytes, what: str) -> None:
        """An edge event lands in the middle of a data entry (the peer does not wait for the host)."""
        self.lines += 1
        out = self.m.command(f"AT+MIPSEND={link_id},{len(data)}")
        if out.endswith(b"\r\n> "):
            out += self.m.send(data[: len(data) // 2])
            event = {"reset": PeerClosed(link_id=link_id, reset=True), "fin": PeerClosed(link_id=link_id),
                     "data": PeerDataReceived(link_id=link_id, data=b"x"), "opened": LinkOpened(link_id=link_id),
                     "closed": LinkClosed(link_id=link_id)}[what]
            out += self.m.event(event)
            out += self.m.send(data[len(data) // 2 :])
        self.output += out
        self.collect()

    @precondition(lambda self: not self.queries)  # a line typed during a +MIPDNS waits behind it
    @rule()
    def reset(self) -> None:
        """``AT+CFUN=1,1``: OK, deaf for boot.reboot_s, then every socket is gone."""
        self.send_line("AT+CFUN=1,1")
        self.output += self.m.advance(self.m.profile.boot.reboot_s + 0.1)
        assert self.m.module.state.links == {}
        assert self.m.links.closed_all >= 1
        self.asked_open.clear()
        self.closing.clear()

    # --- the edge, in any order --------------------------------------------------------------------

    @rule(link_id=IDS)
    def opened(self, link_id: int) -> None:
        self.deliver(LinkOpened(link_id=link_id, detail="TLSv1.2"))

    @rule(link_id=IDS, code=GTSSLERR)
    def open_failed(self, link_id: int, code: int | None) -> None:
        self.deliver(LinkOpenFailed(link_id=link_id, gtsslerr=code, why="test"))

    @rule(link_id=IDS, data=PAYLOAD)
    def peer_data(self, link_id: int, data: bytes) -> None:
        self.deliver(PeerDataReceived(link_id=link_id, data=data))

    @rule(link_id=IDS, reset=st.booleans(), code=GTSSLERR)
    def peer_closed(self, link_id: int, reset: bool, code: int | None) -> None:
        self.deliver(PeerClosed(link_id=link_id, reset=reset, gtsslerr=code))

    @rule(link_id=IDS)
    def link_closed(self, link_id: int) -> None:
        before = self.m.module.state.links.get(link_id)
        self.deliver(LinkClosed(link_id=link_id))
        if before is not None and before.state is LinkState.CLOSING:
            assert link_id not in self.m.module.state.links  # the confirmation frees the id
            self.closing.discard(link_id)

    @precondition(lambda self: bool(self.queries))
    @rule(found=st.booleans())
    def dns_answer(self, found: bool) -> None:
        query = self.queries.pop(0)
        self.deliver(NameResolved(query=query, addresses=("127.0.0.1",) if found else ()))

    @rule(pick=st.integers(0, 7), kind=st.sampled_from(["reply", "unreachable", "lost", "no-address"]))
    def ping_answer(self, pick: int, kind: str) -> None:
        """An answer to an owed probe, or (no probe owed, or a repeat) to one the core never asked for."""
        probe = self.probes.pop(pick % len(self.probes)) if self.probes and pick < 6 else pick + 1000
        fields: dict[str, object] = {
            "reply": {"address": "127.0.0.1", "icmp_type": 0, "rtt_ms": 3},
            "unreachable": {"address": "127.0.0.1", "icmp_type": 3, "icmp_code": 1},
            "lost": {"address": "127.0.0.1"},
            "no-address": {"address": None},
        }[kind]
        self.deliver(PingAnswered(probe=probe, **fields))  # type: ignore[arg-type]

    @rule(pick=st.integers(0, 7), ok=st.booleans())
    def time_answer(self, pick: int, ok: bool) -> None:
        query = self.times.pop(pick % len(self.times)) if self.times and pick < 6 else pick + 1000
        utc = datetime(2019, 6, 1, 12, 0, tzinfo=timezone.utc) if ok else None
        self.deliver(TimeAnswered(query=query, utc=utc, why="" if ok else "no answer"))

    @rule(seconds=st.sampled_from([0.5, 5.0, PAST_DATA_TIMEOUT, 31.0]))
    def time_passes(self, seconds: float) -> None:
        self.output += self.m.advance(seconds)
        self.collect()

    # --- what must hold after every step --------------------------------------------------------------

    @invariant()
    def link_table_is_consistent(self) -> None:
        from tests.robustness.model import check_state

        check_state(self.m.module)
        for link_id, link in self.m.module.state.links.items():
            assert link_id in self.asked_open, "a link the edge was never asked to open"
            if link.state is LinkState.CLOSING:
                # Either the core sent CloseLink, or it gave up on an open (the timer), which also closes.
                assert link_id in self.closing, link

    @invariant()
    def one_final_per_line(self) -> None:
        finals = count_finals(bytes(self.output), self.m.module.state.v250)
        assert finals <= self.lines
        if self.queries:  # the +MIPDNS line, and every line typed after it, wait for the name
            assert finals >= self.settled
        else:
            assert finals == self.lines

LinkMachine.TestCase.settings = settings(
    max_examples=250, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_link_machine = LinkMachine.TestCase

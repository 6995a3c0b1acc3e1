"""What the robustness tests and the fuzz harness share: the state invariants, a scripted socket edge,
and the exact count of final result codes in a stretch of output.

Why a shared module: the hypothesis tests, the stateful machine and ``fuzz/fuzz_at.py`` must assert
the *same* invariants, or a crash the fuzzer finds could pass the tests (and the other way round).
Nothing here fakes the module: the edge answers the core's own actions with the core's own events,
as :class:`~emulator.runtime.in_memory.RecordedLinks` is meant to be used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.core.actions import CloseLink, OpenLink, ResolveName
from emulator.core.at_replies import V250Settings
from emulator.core.cert_store import check_content
from emulator.core.codes import FileType
from emulator.core.events import Event, LinkClosed, LinkOpened, LinkOpenFailed, NameResolved
from emulator.core.links import LinkState
from emulator.core.module import Module
from emulator.runtime.in_memory import InMemoryModule

#: longer than any timer of the core except a socket's open timer: a data entry (12 s) is over after it
PAST_DATA_TIMEOUT = 12.5


def check_state(module: Module, complete_payloads: set[bytes] | None = None) -> None:
    """Assert the module's state invariants (the issue's list, and the link table's).

    ``complete_payloads``: every data block the host sent *in full*; a stored file must be one of them
    (no half-stored file, no file pieced together from two entries).
    """
    state, profile = module.state, module.profile
    certs = state.certs
    assert certs.count(FileType.CERTFILE) <= 1
    assert certs.count(FileType.KEYFILE) <= 1
    assert len(certs.trustfiles) <= profile.files.trust_files_max
    stored = [(FileType.TRUSTFILE, f) for f in certs.trustfiles]
    stored += [(t, f) for t, f in ((FileType.CERTFILE, certs.certfile), (FileType.KEYFILE, certs.keyfile)) if f]
    for file_type, data in stored:
        assert profile.files.file_len_min <= len(data) <= profile.files.file_len_max
        check_content(file_type, data, profile.files.content_check)  # raises FileRejected if half-stored
        if complete_payloads is not None:
            assert data in complete_payloads, "a stored file is not a block the host sent in full"
    v = state.v250
    assert all(0 <= r <= 127 for r in (v.s3, v.s4, v.s5))
    assert v.cmee in (0, 1, 2)
    assert all(isinstance(flag, bool) for flag in (v.echo, v.verbose, v.quiet))
    assert state.ssl.mode in (0, 1)
    assert state.ssl.version in profile.ssl.versions
    assert state.ssl.enabled_ciphers <= set(profile.ssl.supported_ciphers)
    assert state.iprfmt in (0, 1, 2, 5)
    assert state.cfun in (0, 1, 4)
    ids = range(profile.sockets.first_id, profile.sockets.last_id + 1)
    for link_id, link in state.links.items():
        assert link.link_id == link_id and link_id in ids
        assert isinstance(link.state, LinkState)
        assert len(link.send_buffer) <= profile.sockets.send_buffer
        if not state.pdp_active:  # +MIPCALL=0 abandons every socket; none opens without a context
            assert link.state is LinkState.CLOSING, link
        if link.state is LinkState.OPENING:  # (a closing link may keep unpushed bytes: they are dropped)
            assert not link.send_buffer
        if link.read_notified:
            assert link.receive_buffer
    assert all(link_id in ids for link_id in state.push_settings)


@dataclass
class Edge:
    """Answers the core's socket actions at once, as a fast network would.

    ``choose(n)`` picks one of ``n`` outcomes (a hypothesis draw, or fuzz bytes): an ``OpenLink``
    succeeds or fails, a ``ResolveName`` finds an address or none. ``CloseLink`` is always confirmed.
    After a power cycle (``RecordedLinks.close_all``) nothing pending is answered: the edge forgot it.
    """

    m: InMemoryModule
    choose: Callable[[int], int] = lambda n: 0
    answered: list[Event] = field(default_factory=list)
    _closed_all: int = 0

    def answer(self) -> bytes:
        """Answer every pending action (and those the answers cause); returns what the module wrote."""
        out = bytearray()
        while True:
            actions = self.m.links.take()
            if self.m.links.closed_all != self._closed_all:  # a power cycle: drop what was pending
                # A rebooting module is deaf for boot.reboot_s, so nothing in this batch is newer.
                self._closed_all = self.m.links.closed_all
                actions = []
            events: list[Event] = []
            for action in actions:
                if isinstance(action, OpenLink):
                    events.append(
                        LinkOpened(link_id=action.link_id)
                        if self.choose(2) == 0
                        else LinkOpenFailed(link_id=action.link_id, gtsslerr=(None, 40, 48)[self.choose(3)])
                    )
                elif isinstance(action, CloseLink):
                    events.append(LinkClosed(link_id=action.link_id))
                elif isinstance(action, ResolveName):
                    events.append(NameResolved(query=action.query, addresses=(("127.0.0.1",), ())[self.choose(2)]))
            if not events:
                return bytes(out)
            for event in events:
                self.answered.append(event)
                out += self.m.event(event)

    def settle(self) -> bytes:
        """Leave any data entry or reboot (virtual time), answer the edge, until nothing is pending."""
        out = bytearray(self.answer())
        out += self.m.advance(PAST_DATA_TIMEOUT)
        out += self.answer()
        return bytes(out)


def at_spelling(v: V250Settings) -> bytes | None:
    """How to type ``AT`` when S3, S4 and S5 may be letters (``ATS3=65`` makes 'A' the terminator).

    V.250 lets the host set them to any value 0-127; a host that takes 'A', 'a' and 'T' leaves no
    spelling of ``AT`` that reaches the module: ``None`` then (only a power cycle helps, as on a modem).
    """
    taken = {v.s3, v.s4, v.s5}
    for spelling in (b"AT", b"at", b"At", b"aT"):
        if not taken & set(spelling):
            return spelling
    return None


_V1_FINAL = re.compile(rb"^(OK|ERROR|\+CME ERROR: .*)$")
_V0_CODE = re.compile(rb"(?:(?<=\n)|^)[04](?:\r(?!\n))")
_V0_CME = re.compile(rb"(?:(?<=\n)|^)\+CME ERROR: [^\r\n]*\r\n")


def count_finals(output: bytes, settings: V250Settings) -> int:
    """Final result codes in ``output`` (echo already removed), framed as ``settings`` frame them.

    Exact for output made of information text, URCs without payload, prompts and result codes,
    with S3 = CR and S4 = LF: under ``ATV1`` a final is a whole line ``OK``, ``ERROR`` or ``+CME ERROR: x``;
    under ``ATV0`` it is ``0`` or ``4`` and a bare CR (information text always ends in CR LF) or a
    ``+CME ERROR: x`` line.
    """
    assert (settings.s3, settings.s4) == (13, 10), "count_finals assumes S3=CR, S4=LF"
    if settings.verbose:
        return sum(1 for line in output.split(b"\r\n") if _V1_FINAL.match(line))
    output = output.replace(b"\r\n> ", b"\n")  # a '>' prompt ends like information text
    return len(_V0_CODE.findall(output)) + len(_V0_CME.findall(output))

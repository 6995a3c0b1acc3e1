"""The module's sockets (``+MIPOPEN`` ids): one :class:`Link` each, driven by a state table.

Theory of operation. A socket id is free until ``+MIPOPEN`` makes it a link in
``OPENING``; the edge connects (and shakes hands for SSL) and answers with an
event. Every event and command that moves a link is a :class:`LinkInput`;
:data:`LINK_TRANSITIONS` says where it goes, and anything missing there is an
illegal transition, logged and ignored on one path (a late event for a link
the module already gave up on is normal: the edge and the core race). A link
in ``CLOSING`` keeps its id busy until the edge confirms with ``LinkClosed``,
so a reused id can never receive the old connection's events.

``python -m emulator --list-commands`` documents the commands; this table is
the socket's life.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .actions import Protocol


class LinkState(Enum):
    OPENING = "opening"  #: connecting / shaking hands
    OPEN = "open"
    CLOSING = "closing"  #: CloseLink sent; waiting for LinkClosed


class LinkInput(Enum):
    OPENED = "LinkOpened"
    OPEN_FAILED = "LinkOpenFailed"
    OPEN_TIMED_OUT = "open timer"
    PEER_CLOSED = "PeerClosed"
    CLOSE_ASKED = "+MIPCLOSE / +MIPCALL=0"
    CLOSED = "LinkClosed"


#: (state, input) -> next state; ``None`` frees the socket id.
LINK_TRANSITIONS: dict[tuple[LinkState, LinkInput], LinkState | None] = {
    (LinkState.OPENING, LinkInput.OPENED): LinkState.OPEN,
    (LinkState.OPENING, LinkInput.OPEN_FAILED): None,
    (LinkState.OPENING, LinkInput.OPEN_TIMED_OUT): LinkState.CLOSING,
    (LinkState.OPENING, LinkInput.CLOSE_ASKED): LinkState.CLOSING,
    (LinkState.OPEN, LinkInput.PEER_CLOSED): None,
    (LinkState.OPEN, LinkInput.CLOSE_ASKED): LinkState.CLOSING,
    (LinkState.CLOSING, LinkInput.CLOSED): None,
}


class IllegalTransition(Exception):
    """An input that the link's state does not allow (see :data:`LINK_TRANSITIONS`)."""


@dataclass(slots=True)
class Link:
    """One socket. Has no public constructor: ``+MIPOPEN`` makes it."""

    link_id: int
    protocol: Protocol
    host: str
    port: int
    state: LinkState = LinkState.OPENING
    send_buffer: bytearray = field(default_factory=bytearray)  #: hex-form +MIPSEND bytes not pushed yet
    receive_buffer: bytearray = field(default_factory=bytearray)  #: IPRFMT 5: bytes waiting for +MIPREAD
    read_notified: bool = False  #: IPRFMT 5: a +MIPREAD notice is out and not answered
    reading_paused: bool = False
    report_close: bool = True  #: LinkClosed ends in +MIPCLOSE (False when the failure was already told)

    def advance(self, what: LinkInput) -> LinkState | None:
        """Apply ``what``; returns the new state (``None``: the id is free). Raises IllegalTransition."""
        key = (self.state, what)
        if key not in LINK_TRANSITIONS:
            raise IllegalTransition(f"socket {self.link_id}: {what.value} while {self.state.value}")
        new = LINK_TRANSITIONS[key]
        if new is not None:
            self.state = new
        return new

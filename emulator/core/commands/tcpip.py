"""The TCP/IP stack: +MIPCALL, +MIPOPEN, +MIPSEND, +MIPPUSH, +MIPSETS, +MIPREAD, +MIPCLOSE, +MIPDNS, +GTSET.

Formats come from host drivers written against real Fibocom modules
(fibocom-tcpip.md, cited per command); where builds differ the profile's
``[sockets]`` table decides. The handlers only ask: sockets are opened, fed
and closed by the edge through actions, and what the edge reports comes back
through :func:`on_event`, which turns it into URCs.

Receive formats (``AT+GTSET="IPRFMT",<n>``, fibocom-tcpip.md §7):

* 0 (default): ``+MIPRTCP: <s>,<left>,<HEX>`` per chunk of at most
  ``sockets.urc_chunk`` bytes; ``<left>`` is what is still waiting after this
  chunk (G24's meaning; chosen);
* 1: the raw bytes, nothing around them;
* 2: ``CR LF +MIPRTCP: <s>,<len>,<raw bytes> CR LF`` per chunk;
* 5: ``+MIPREAD: <s>,<len>`` announces buffered data; ``AT+MIPREAD=<s>,<len>``
  answers ``+MIPDATA: <s>,<n>`` CR LF and the raw bytes, then ``OK``.

UDP arrives as ``+MIPRUDP: <ip>,<port>,<s>,<left>,<data>`` (hex in 0, raw in 2).
"""

from __future__ import annotations

import binascii
import logging

from ..actions import (
    Action,
    CancelTimer,
    CloseLink,
    OpenLink,
    PauseReading,
    Protocol,
    ResolveName,
    SendToPeer,
    StartTimer,
)
from ..at_syntax import CommandCall, Form
from ..codes import CmeError, FailureClass, GtsslErr
from ..command_table import CommandSpec, DataRequest, FormSpec, Outcome, Reply, Unsolicited, WaitRequest
from ..errors import CommandError
from ..events import (
    Event,
    LinkClosed,
    LinkEvent,
    LinkOpened,
    LinkOpenFailed,
    NameResolved,
    PeerClosed,
    PeerDataReceived,
    TimerExpired,
)
from ..links import IllegalTransition, Link, LinkInput, LinkState
from ..module_state import ModuleState
from ..tls_request import TlsRequest
from . import params
from .ssl import effective_ciphers, effective_version, reported_gtsslerr

log = logging.getLogger(__name__)

#: IPRFMT 5 keeps at most this much unread per socket, then stops reading the peer (chosen).
RECEIVE_BUFFER = 65536
IPRFMT_VALUES = (0, 1, 2, 5)
CLOSE_MODES = (0, 1, 2)  # accepted and ignored: their meaning is unconfirmed (fibocom-tcpip.md §5)


def open_timer(link_id: int) -> tuple[str, int]:
    return ("open", link_id)


def push_timer(link_id: int) -> tuple[str, int]:
    return ("push", link_id)


def dns_timer(query: int) -> tuple[str, int]:
    return ("dns", query)


#: A +MIPDNS answer the network never gives ends in ERROR after this long (hosts wait 15-65 s,
#: fibocom-tcpip.md §10; chosen), so a lost lookup cannot hold the command line for ever.
DNS_TIMEOUT_S = 30.0


def not_allowed(why: str) -> CommandError:
    return CommandError(CmeError.OPERATION_NOT_ALLOWED, why)


def _socket_ids(m: ModuleState) -> range:
    return range(m.profile.sockets.first_id, m.profile.sockets.last_id + 1)


def _socket(call: CommandCall, m: ModuleState, index: int = 0) -> int:
    return params.integer(call, index, _socket_ids(m))


def _open_link(call: CommandCall, m: ModuleState) -> Link:
    link_id = _socket(call, m)
    link = m.links.get(link_id)
    if link is None or link.state is not LinkState.OPEN:
        raise not_allowed(f"socket {link_id} is not open")
    return link


def _free(m: ModuleState, link: Link) -> int:
    return m.profile.sockets.send_buffer - len(link.send_buffer)


def _push_size(m: ModuleState, link_id: int) -> tuple[int, int]:
    return m.push_settings.get(link_id, (m.profile.sockets.push_size, 0))


# --- +MIPCALL ------------------------------------------------------------------------------------


def _call_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 4)
    op = params.integer(call, 0, (0, 1))
    if op == 0:
        reply = deactivate_pdp(m)
        reply.urcs.append("+MIPCALL: 0")
        return reply
    apn = params.string(call, 1, default=m.pdp[1].apn if 1 in m.pdp else "", max_len=99)
    params.string(call, 2, default="", max_len=64)  # user
    params.string(call, 3, default="", max_len=64)  # password
    if m.pdp_active:
        raise not_allowed("the PDP context is already active")
    activate_pdp(m)
    log.debug("PDP context up on APN %r", apn)
    return Reply(urcs=[f"+MIPCALL: {m.profile.network.local_ip}"])


def activate_pdp(m: ModuleState) -> None:
    """Bring the PDP context up (+MIPCALL=1, +CGACT=1): one state, whichever command asked."""
    if m.cfun != 1:
        raise CommandError(CmeError.NO_NETWORK_SERVICE, "radio is off")
    m.pdp_active = True


def need_pdp(m: ModuleState) -> None:
    """Refuse a command that needs the network (+CME ERROR: 3) while the PDP context is down."""
    if not m.pdp_active:
        raise not_allowed("no active PDP context (+MIPCALL=1 first)")


def deactivate_pdp(m: ModuleState) -> Reply:
    """Take the PDP context down (+MIPCALL=0, +CGACT=0): every socket goes with it.

    Each one is reported ``+MIPSTAT: <s>,1`` (the stack is gone; chosen), after the final result code.
    """
    reply = Reply()
    for link in list(m.links.values()):
        if link.state is not LinkState.CLOSING:
            reply.actions.extend(abandon_link(link, report_close=False))
            reply.urcs.append(f"+MIPSTAT: {link.link_id},1")
            _told_ended(m, link)
    m.pdp_active = False
    return reply


def _call_read(m: ModuleState, call: CommandCall) -> Reply:
    if m.pdp_active:
        return Reply(lines=[f"+MIPCALL: 1,{m.profile.network.local_ip}"])
    return Reply(lines=["+MIPCALL: 0"])


# --- +MIPOPEN ------------------------------------------------------------------------------------


def _open_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 5, 5)
    link_id = _socket(call, m)
    src_port = None if call.params[1] is None else params.integer(call, 1, range(1, 65536))
    host = params.string(call, 2).strip()
    port = params.integer(call, 3, range(1, 65536))
    protocol = Protocol(params.integer(call, 4, (0, 1, 2)))
    if not host:
        raise params.bad("empty host")
    need_pdp(m)
    if link_id in m.links:
        raise not_allowed(f"socket {link_id} is in use")
    tls = tls_request(m, host) if protocol is Protocol.SSL else None
    m.peer_ended.pop(link_id, None)  # a new socket: the old one's late +MIPCLOSE no longer applies
    m.links[link_id] = Link(link_id=link_id, protocol=protocol, host=host, port=port)
    actions: list[Action] = [
        OpenLink(link_id=link_id, host=host, port=port, protocol=protocol, src_port=src_port, tls=tls),
        StartTimer(timer=open_timer(link_id), seconds=m.profile.sockets.open_timeout_s),
    ]
    if not m.profile.sockets.result_before_ok:
        return Reply(actions=actions)

    def settled(event: Event) -> bool:
        return isinstance(event, (LinkOpened, LinkOpenFailed)) and event.link_id == link_id or (
            isinstance(event, TimerExpired) and event.timer == open_timer(link_id)
        )

    # G610 "A20" order: the +MIPOPEN result, then OK (fibocom-tcpip.md §4).
    return Reply(actions=actions, wait=WaitRequest(matches=settled, on_event=lambda event: Reply()))


def tls_request(m: ModuleState, host: str) -> TlsRequest:
    """The TLS settings snapshot ``+MIPOPEN`` hands the edge for ``host`` (``nl668-lab check`` builds its own
    requests with it, so a check runs exactly the module's settings)."""
    certs = m.certs
    return TlsRequest(
        version=effective_version(m),
        cipher_ids=effective_ciphers(m),
        verify=m.ssl.mode == 1,
        trust_pems=tuple(certs.trustfiles),
        cert_pem=certs.certfile,
        key_pem=certs.keyfile,
        server_name=host,
        module_time=m.clock.utc_now(),
    )


def _open_read(m: ModuleState, call: CommandCall) -> Reply:
    free = [str(i) for i in _socket_ids(m) if i not in m.links]
    return Reply(lines=["+MIPOPEN: " + (",".join(free) if free else "0")])


def _open_test(m: ModuleState, call: CommandCall) -> Reply:
    s = m.profile.sockets
    return Reply(lines=[f'+MIPOPEN: ({s.first_id}-{s.last_id}),(1-65535),"host",(1-65535),(0-2)'])


def _open_failed(m: ModuleState, link: Link, gtsslerr: int | None, failure: FailureClass | None) -> list[Unsolicited]:
    """Tell the host an open failed, in the profile's form; set +GTSSLERR for SSL sockets."""
    if link.protocol is Protocol.SSL:
        # A failure with no TLS alert (refused, reset, no address) is not an SSL error (chosen).
        # The code goes through the profile's [gtsslerr] table (the L610's own numbers).
        m.ssl.last_error = None if gtsslerr is None else reported_gtsslerr(m, gtsslerr, failure)
    if m.profile.sockets.open_failure == "mipstat":
        return [f"+MIPSTAT: {link.link_id},1"]
    return [f"+MIPOPEN: {link.link_id},0"]


# --- +MIPCLOSE -----------------------------------------------------------------------------------


def abandon_link(link: Link, *, report_close: bool) -> list[Action]:
    """Ask the edge to close ``link``; its id stays busy until LinkClosed."""
    link.advance(LinkInput.CLOSE_ASKED)
    link.report_close = report_close
    return [CancelTimer(timer=open_timer(link.link_id)), CancelTimer(timer=push_timer(link.link_id)),
            CloseLink(link_id=link.link_id)]


def _close_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 2)
    link_id = _socket(call, m)
    params.integer(call, 1, CLOSE_MODES, default=0)
    link = m.links.get(link_id)
    if link is None or link.state is LinkState.CLOSING:
        return _close_ended(m, link_id)
    return Reply(actions=abandon_link(link, report_close=True))


def _close_ended(m: ModuleState, link_id: int) -> Reply:
    """+MIPCLOSE on a socket the module already reported as ended (+MIPSTAT, +MIPOPEN: <s>,0).

    Hosts close in a ``finally``; profile ``sockets.close_after_end`` says whether that is
    ``OK`` then ``+MIPCLOSE: <s>,<type>`` at once (nothing is left to close), or ``+CME ERROR: 3``.
    Once only, whether or not the edge has released the socket yet; a socket closed by the host
    itself, or never opened, is always refused.
    """
    if m.profile.sockets.close_after_end == "ok" and link_id in m.peer_ended:
        return Reply(urcs=[f"+MIPCLOSE: {link_id},{m.peer_ended.pop(link_id)}"])
    raise not_allowed(f"socket {link_id} is not open")


def _told_ended(m: ModuleState, link: Link) -> None:
    """The host was just told ``link`` ended: its +MIPCLOSE may now be answered by :func:`_close_ended`."""
    m.peer_ended[link.link_id] = _close_type(m, link)


def _close_read(m: ModuleState, call: CommandCall) -> Reply:
    busy = [str(i) for i in sorted(m.links) if m.links[i].state is LinkState.OPEN]
    return Reply(lines=["+MIPCLOSE: " + (",".join(busy) if busy else "0")])


def _close_type(m: ModuleState, link: Link) -> int:
    s = m.profile.sockets
    return s.close_type_tls if link.protocol is Protocol.SSL else s.close_type_tcp


# --- +MIPSEND / +MIPPUSH / +MIPSETS --------------------------------------------------------------


def _push(m: ModuleState, link: Link) -> list[Action]:
    if not link.send_buffer:
        return []
    data = bytes(link.send_buffer)
    link.send_buffer.clear()
    return [CancelTimer(timer=push_timer(link.link_id)), SendToPeer(link_id=link.link_id, data=data)]


def _send_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 2, 2)
    link = _open_link(call, m)
    param = call.params[1]
    if param is None:
        raise params.bad("no data")
    if param.quoted:
        return _send_hex(m, link, param.text)
    length = params.integer(call, 1, range(1, _free(m, link) + 1))

    def sent(data: bytes) -> Reply:
        # The peer went away during the entry: a freed link keeps its last state, so ask the table too.
        if m.links.get(link.link_id) is not link or link.state is not LinkState.OPEN:
            raise not_allowed(f"socket {link.link_id} closed during the data entry")
        link.send_buffer += data
        reply = Reply(actions=_push(m, link), lines=[f"+MIPSEND: {link.link_id},0,{_free(m, link)}"])
        if m.profile.sockets.push_after_send:
            reply.urcs.append(f"+MIPPUSH: {link.link_id},0")
        return reply

    return Reply(data=DataRequest(length=length, on_data=sent, secret=False))


def _send_hex(m: ModuleState, link: Link, text: str) -> Reply:
    try:
        data = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise params.bad("not hex") from None
    if not data:
        raise params.bad("no data")
    if len(data) > _free(m, link):
        raise CommandError(CmeError.MEMORY_FULL, "send buffer full")
    link.send_buffer += data
    size, timeout_ms = _push_size(m, link.link_id)
    reply = Reply()
    if len(link.send_buffer) >= size:
        reply.actions.extend(_push(m, link))
    elif timeout_ms:
        reply.actions.append(StartTimer(timer=push_timer(link.link_id), seconds=timeout_ms / 1000))
    reply.lines.append(f"+MIPSEND: {link.link_id},0,{_free(m, link)}")
    return reply


def _send_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f"+MIPSEND: {i},{_free(m, link)}" for i, link in sorted(m.links.items())
                        if link.state is LinkState.OPEN])


def _send_test(m: ModuleState, call: CommandCall) -> Reply:
    s = m.profile.sockets
    return Reply(lines=[f"+MIPSEND: ({s.first_id}-{s.last_id}),(1-{s.send_buffer})"])


def _push_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 3)
    link = _open_link(call, m)
    if not link.send_buffer:
        return Reply(lines=[f"+MIPPUSH: {link.link_id},2"])  # 2: nothing to push (G24)
    return Reply(actions=_push(m, link), lines=[f"+MIPPUSH: {link.link_id},0"])


def _sets_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 2, 3)
    link_id = _socket(call, m)
    size = params.integer(call, 1, range(1, m.profile.sockets.send_buffer + 1))
    timeout_ms = params.integer(call, 2, range(0, 10_000_001), default=0)
    link = m.links.get(link_id)
    if link is None or link.state is LinkState.CLOSING:
        raise not_allowed(f"socket {link_id} is not open")  # not "+MIPSETS: 0" for nothing (issue 11)
    if link.send_buffer:
        return Reply(lines=["+MIPSETS: 3"])  # refused while data is buffered (G24)
    m.push_settings[link_id] = (size, timeout_ms)
    return Reply(lines=["+MIPSETS: 0"])


def _sets_read(m: ModuleState, call: CommandCall) -> Reply:
    lines = []
    for link_id in sorted(m.links):
        size, timeout_ms = _push_size(m, link_id)
        lines.append(f"+MIPSETS: {link_id},{size},{timeout_ms}")
    return Reply(lines=lines)


# --- +MIPCONF (G-series TCP tuning) --------------------------------------------------------------

#: retr_num, min_TO, max_TO, max_close_delay, is_nack_ind_req: the G610 example's values, NACK reports off (chosen)
MIPCONF_DEFAULTS = (5, 5, 600, 75, 0)
MIPCONF_RANGES = (range(1, 256), range(1, 1001), range(1, 6001), range(0, 6001), range(0, 3))


def _mipconf_available(m: ModuleState) -> None:
    if not m.profile.sockets.mipconf:
        raise CommandError(None, "this firmware has no +MIPCONF")  # plain ERROR, as for an unknown command


def _mipconf(m: ModuleState, link_id: int) -> tuple[int, int, int, int, int]:
    return m.mipconf.get(link_id, MIPCONF_DEFAULTS)


def _conf_set(m: ModuleState, call: CommandCall) -> Reply:
    _mipconf_available(m)
    params.count(call, 1, 6)
    link_id = _socket(call, m)
    old = _mipconf(m, link_id)
    # An omitted value keeps what the socket has (AT+MIPCONF=1,,,,,2 sets only the NACK report).
    new = tuple(params.integer(call, i + 1, allowed, default=old[i]) for i, allowed in enumerate(MIPCONF_RANGES))
    if new[1] > new[2]:
        raise params.bad("min_TO above max_TO")
    m.mipconf[link_id] = new  # type: ignore[assignment]  # five ints, by construction
    return Reply()


def _conf_read(m: ModuleState, call: CommandCall) -> Reply:
    _mipconf_available(m)
    return Reply(lines=[f"+MIPCONF: {i}," + ",".join(map(str, _mipconf(m, i))) for i in _socket_ids(m)])


def _conf_test(m: ModuleState, call: CommandCall) -> Reply:
    _mipconf_available(m)
    ranges = ",".join(map(params.range_text, MIPCONF_RANGES))
    return Reply(lines=[f"+MIPCONF: {params.range_text(_socket_ids(m))},{ranges}"])


# --- +MIPREAD ------------------------------------------------------------------------------------


def _read_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 2, 2)
    link_id = _socket(call, m)
    want = params.integer(call, 1, range(1, 65536))
    link = m.links.get(link_id)
    if link is None:
        raise not_allowed(f"socket {link_id} is not open")
    take = bytes(link.receive_buffer[:want])
    del link.receive_buffer[: len(take)]
    link.read_notified = False
    reply = Reply(lines=[f"+MIPDATA: {link_id},{len(take)}"], raw=take)
    if link.receive_buffer:
        link.read_notified = True
        reply.urcs.append(f"+MIPREAD: {link_id},{len(link.receive_buffer)}")
    if link.reading_paused and len(link.receive_buffer) < RECEIVE_BUFFER // 2:
        link.reading_paused = False
        reply.actions.append(PauseReading(link_id=link_id, paused=False))
    return reply


# --- +MIPDNS -------------------------------------------------------------------------------------


def _dns_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 2)
    host = params.string(call, 0).strip()
    kind = params.integer(call, 1, (0, 1, 2), default=0)
    if not host:
        raise params.bad("empty host")
    if kind == 1:
        raise CommandError(CmeError.OPERATION_NOT_SUPPORTED, "no IPv6 in the emulated network")
    need_pdp(m)
    m.dns_queries += 1
    query = m.dns_queries

    def answered(event: Event) -> bool:
        return (isinstance(event, NameResolved) and event.query == query) or (
            isinstance(event, TimerExpired) and event.timer == dns_timer(query)
        )

    def result(event: Event) -> Reply:
        if not isinstance(event, NameResolved):
            raise CommandError(CmeError.NETWORK_TIMEOUT, f"no answer for {host!r}")
        if not event.addresses:
            raise CommandError(CmeError.UNKNOWN, f"{host!r} does not resolve")
        return Reply(lines=[f'+MIPDNS: "{host}",' + ",".join(event.addresses)],
                     actions=[CancelTimer(timer=dns_timer(query))])

    return Reply(
        actions=[ResolveName(query=query, host=host), StartTimer(timer=dns_timer(query), seconds=DNS_TIMEOUT_S)],
        wait=WaitRequest(matches=answered, on_event=result),
    )


# --- +GTSET --------------------------------------------------------------------------------------


def _gtset_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 2)
    name = params.string(call, 0).strip().upper()
    if name != "IPRFMT":
        raise CommandError(CmeError.OPERATION_NOT_SUPPORTED, f"+GTSET {name!r} is not emulated")
    if len(call.params) == 1:
        return Reply(lines=[f'+GTSET: "IPRFMT",{m.iprfmt}'])
    m.iprfmt = params.integer(call, 1, IPRFMT_VALUES)
    return Reply()


def _gtset_read(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=[f'+GTSET: "IPRFMT",{m.iprfmt}'])


# --- events from the edge ------------------------------------------------------------------------


def on_event(m: ModuleState, event: Event) -> Outcome:
    """Turn an edge event into URCs and actions. Late events for a link already gone are dropped."""
    out = Outcome()
    if isinstance(event, TimerExpired):
        _on_timer(m, event.timer, out)
        return out
    if not isinstance(event, LinkEvent):
        return out  # a NameResolved is for a waiting +MIPDNS only; control events never come here
    link = m.links.get(event.link_id)
    if link is None:
        log.debug("event for free socket %s dropped: %r", event.link_id, event)
        return out
    why = describe_link_event(event)
    if why is not None:
        m.last_why = why  # the "why" side channel: logs and harnesses only, never the host
    if isinstance(event, (LinkOpenFailed, PeerClosed)) and event.why:
        m.last_failure = {"link": event.link_id, "gtsslerr": event.gtsslerr, "why": event.why,
                          "event": type(event).__name__}
    try:
        if isinstance(event, LinkOpened):
            _on_opened(m, link, event, out)
        elif isinstance(event, LinkOpenFailed):
            link.advance(LinkInput.OPEN_FAILED)
            del m.links[link.link_id]
            log.info("socket %s: open failed: %s", link.link_id, event.why)
            out.actions.append(CancelTimer(timer=open_timer(link.link_id)))
            _told_ended(m, link)
            out.said.extend(_open_failed(m, link, event.gtsslerr, event.failure))
        elif isinstance(event, PeerDataReceived):
            if link.state is LinkState.OPEN:
                _on_data(m, link, event, out)
        elif isinstance(event, PeerClosed):
            _on_peer_closed(m, link, event, out)
        elif isinstance(event, LinkClosed):
            link.advance(LinkInput.CLOSED)
            del m.links[link.link_id]
            if link.report_close:
                out.said.append(f"+MIPCLOSE: {link.link_id},{_close_type(m, link)}")
    except IllegalTransition as exc:
        log.debug("ignored: %s", exc)
    return out


def describe_link_event(event: object) -> str | None:
    """One line for the "why" side channel (trace ``dir: "why"``, ``ModuleState.last_why``).

    Only for the events that carry a reason (opened, open failed, closed by
    the peer); None for the others. The edge builds ``why``/``detail`` from
    alert numbers, X509 error numbers and suite names: never key material.
    """
    if isinstance(event, LinkOpened):
        return f"socket {event.link_id} opened: {event.detail or 'no detail'}"
    if isinstance(event, LinkOpenFailed):
        code = "" if event.gtsslerr is None else f" (GTSSLERR {event.gtsslerr})"
        return f"socket {event.link_id} open failed{code}: {event.why or 'no detail'}"
    if isinstance(event, PeerClosed):
        how = "reset" if event.reset else "closed"
        code = "" if event.gtsslerr is None else f" (GTSSLERR {event.gtsslerr})"
        return f"socket {event.link_id} {how} by the peer{code}: {event.why or 'no detail'}"
    return None


def _on_opened(m: ModuleState, link: Link, event: LinkOpened, out: Outcome) -> None:
    link.advance(LinkInput.OPENED)
    log.info("socket %s open %s", link.link_id, event.detail)
    out.actions.append(CancelTimer(timer=open_timer(link.link_id)))
    if link.protocol is Protocol.SSL:
        m.ssl.last_error = None  # "if SSL is no error in the connection, return OK" (§1.3.2)
    out.said.append(f"+MIPOPEN: {link.link_id},1")


def _on_peer_closed(m: ModuleState, link: Link, event: PeerClosed, out: Outcome) -> None:
    link.advance(LinkInput.PEER_CLOSED)
    del m.links[link.link_id]
    _told_ended(m, link)
    log.info("socket %s closed by the peer (%s) %s", link.link_id, "reset" if event.reset else "orderly", event.why)
    out.actions.extend([CancelTimer(timer=push_timer(link.link_id))])
    if link.protocol is Protocol.SSL and event.gtsslerr is not None:
        m.ssl.last_error = reported_gtsslerr(m, event.gtsslerr, event.failure)
    if event.reset:
        out.said.append(f"+MIPSTAT: {link.link_id},1")
    elif m.profile.sockets.peer_close == "mipclose":
        out.said.append(f"+MIPCLOSE: {link.link_id},{_close_type(m, link)}")
    else:
        out.said.append(f"+MIPSTAT: {link.link_id},2")


def _on_timer(m: ModuleState, timer: object, out: Outcome) -> None:
    if not (isinstance(timer, tuple) and len(timer) == 2):
        return
    kind, link_id = timer
    link = m.links.get(link_id)
    if link is None or kind not in ("open", "push"):
        return
    if kind == "open" and link.state is LinkState.OPENING:
        log.info("socket %s: no answer within %ss, giving up", link_id, m.profile.sockets.open_timeout_s)
        link.advance(LinkInput.OPEN_TIMED_OUT)
        link.report_close = False
        _told_ended(m, link)
        out.actions.append(CloseLink(link_id=link_id))
        # The module cancels the handshake: TLS calls that user_canceled (RFC 5246 §7.2.2; chosen).
        out.said.extend(_open_failed(m, link, GtsslErr.USER_CANCELED, FailureClass.TIMEOUT))
    elif kind == "push" and link.state is LinkState.OPEN:
        out.actions.extend(_push(m, link))


def _on_data(m: ModuleState, link: Link, event: PeerDataReceived, out: Outcome) -> None:
    data = event.data
    chunk = m.profile.sockets.urc_chunk
    udp = link.protocol is Protocol.UDP
    prefix = f"+MIPRUDP: {event.peer[0]},{event.peer[1]},{link.link_id}," if udp and event.peer else (
        f"+MIPRTCP: {link.link_id},"
    )
    if m.iprfmt == 5:
        link.receive_buffer += data
        if not link.read_notified:
            link.read_notified = True
            out.said.append(f"+MIPREAD: {link.link_id},{len(link.receive_buffer)}")
        if len(link.receive_buffer) >= RECEIVE_BUFFER and not link.reading_paused:
            link.reading_paused = True
            out.actions.append(PauseReading(link_id=link.link_id, paused=True))
    elif m.iprfmt == 1:
        out.said.append(bytes(data))
    elif m.iprfmt == 2:
        for i in range(0, len(data), chunk):
            piece = data[i : i + chunk]
            out.said.append(f"\r\n{prefix}{len(piece)},".encode() + piece + b"\r\n")
    else:
        for i in range(0, len(data), chunk):
            piece = data[i : i + chunk]
            left = len(data) - i - len(piece)
            out.said.append(f"{prefix}{left},{piece.hex().upper()}")


_MIP = "fibocom-tcpip.md"

COMMANDS = [
    CommandSpec(
        name="+MIPCALL",
        summary="Activate (1) or deactivate (0) the PDP context; OK, then +MIPCALL: <ip> or +MIPCALL: 0.",
        source=f"{_MIP} §3 (H); chosen: =1 while active is refused, =0 always answers +MIPCALL: 0",
        forms={
            Form.SET: FormSpec('+MIPCALL=<op>[,"<APN>"[,"<user>","<password>"]]', _call_set),
            Form.READ: FormSpec("+MIPCALL: <status>[,<ip>]", _call_read),
            Form.TEST: FormSpec.fixed("+MIPCALL: (0,1)"),
        },
    ),
    CommandSpec(
        name="+MIPOPEN",
        summary=(
            "Open socket <s> to <host>:<port> over TCP (0), UDP (1) or SSL (2); OK, then +MIPOPEN: <s>,1 "
            "once connected (SSL: after the handshake) or +MIPOPEN: <s>,0 (+GTSSLERR says why)."
        ),
        source=f"{_MIP} §4 (H); manual §2.6 examples; result order and failure form per profile [sockets]",
        forms={
            Form.SET: FormSpec('+MIPOPEN=<s>,[<src_port>],"<host>",<port>,<proto>', _open_set),
            Form.READ: FormSpec("+MIPOPEN: <free socket ids> (0 when none)", _open_read),
            Form.TEST: FormSpec('+MIPOPEN: (ids),(src ports),"host",(ports),(protocols)', _open_test),
        },
    ),
    CommandSpec(
        name="+MIPCLOSE",
        summary=(
            "Close socket <s>; OK, then +MIPCLOSE: <s>,<type> once closed (type per profile). A socket already "
            "reported ended (+MIPSTAT, +MIPOPEN: <s>,0): OK + +MIPCLOSE: <s>,<type> at once, or +CME ERROR: 3 "
            "(profile sockets.close_after_end)."
        ),
        source=(
            f"{_MIP} §5 (H shape; type 1 for SSL per manual §2.6 example 1); <mode> accepted, ignored (chosen); "
            "chosen: closing an ended socket answers OK by default (hosts close in a finally, issue 11)"
        ),
        forms={
            Form.SET: FormSpec("+MIPCLOSE=<s>[,<mode>]", _close_set),
            Form.READ: FormSpec("+MIPCLOSE: <open socket ids> (0 when none)", _close_read),
            Form.TEST: FormSpec("+MIPCLOSE: (ids)", lambda m, call: Reply(lines=[
                f"+MIPCLOSE: ({m.profile.sockets.first_id}-{m.profile.sockets.last_id})"])),
        },
    ),
    CommandSpec(
        name="+MIPSEND",
        summary=(
            'Hex form =<s>,"<hex>" buffers until +MIPPUSH or the +MIPSETS watermark/timer; length form '
            "=<s>,<len> takes exactly <len> raw bytes after '>' and sends them. Both answer +MIPSEND: <s>,0,<free>."
        ),
        source=f"{_MIP} §6.1 (H); chosen: a hex send that does not fit is refused (+CME ERROR: 20)",
        forms={
            Form.SET: FormSpec('+MIPSEND=<s>,"<hex>" | +MIPSEND=<s>,<len>', _send_set),
            Form.READ: FormSpec("+MIPSEND: <s>,<free> (per open socket)", _send_read),
            Form.TEST: FormSpec("+MIPSEND: (ids),(lengths)", _send_test),
        },
    ),
    CommandSpec(
        name="+MIPPUSH",
        summary="Send what +MIPSEND buffered: +MIPPUSH: <s>,0, or <s>,2 when nothing was buffered.",
        source=f"{_MIP} §6.2 (status values H); the accumulated counter is not shown (chosen)",
        forms={Form.SET: FormSpec('+MIPPUSH=<s>[,"<ip>",<port>]', _push_set)},
    ),
    CommandSpec(
        name="+MIPSETS",
        summary=(
            "Auto-push watermark and timer of socket <s>: +MIPSETS: 0, or 3 while data is buffered; "
            "+CME ERROR: 3 when <s> is not open (or opening)."
        ),
        source=f"{_MIP} §6.2 (M: G24/G510 manuals); default size from the profile; chosen: refused on a free id",
        forms={
            Form.SET: FormSpec("+MIPSETS=<s>,<size>[,<timeout_ms>]", _sets_set),
            Form.READ: FormSpec("+MIPSETS: <s>,<size>,<timeout> (per open socket)", _sets_read),
        },
    ),
    CommandSpec(
        name="+MIPCONF",
        summary=(
            "G-series TCP tuning of socket <s> (retransmissions, timeouts, close delay, NACK reports): stored per "
            "socket id, kept until a reset; plain ERROR on firmware without it (profile sockets.mipconf)."
        ),
        source=(
            f"{_MIP} §6.2 (M: G610 answers OK to AT+MIPCONF=1,5,5,600,75,2); chosen: defaults 5,5,600,75,0, ranges, "
            "omitted values kept; stored only (is_nack_ind_req=2's +MIPPUSH ACK reports are not emulated)"
        ),
        forms={
            Form.SET: FormSpec(
                "+MIPCONF=<s>[,<retr_num>][,<min_TO>][,<max_TO>][,<max_close_delay>][,<is_nack_ind_req>]", _conf_set
            ),
            Form.READ: FormSpec("+MIPCONF: <s>,<retr_num>,<min_TO>,<max_TO>,<max_close_delay>,<is_nack_ind_req>",
                                _conf_read),
            Form.TEST: FormSpec("+MIPCONF: (ids),(1-255),(1-1000),(1-6000),(0-6000),(0-2)", _conf_test),
        },
        defaults="5,5,600,75,0",
    ),
    CommandSpec(
        name="+MIPREAD",
        summary="IPRFMT 5: read up to <len> buffered bytes: +MIPDATA: <s>,<n>, CR LF, the bytes, then OK.",
        source=f"{_MIP} §7 (M: the RT-Thread L610 driver's parser)",
        forms={Form.SET: FormSpec("+MIPREAD=<s>,<len>", _read_set)},
    ),
    CommandSpec(
        name="+MIPDNS",
        summary='Resolve a host name: +MIPDNS: "<host>",<ip>[,<ip>...] then OK (IPv4 only).',
        source=f"{_MIP} §10 (H); the answer precedes OK as the RT-Thread driver expects",
        forms={Form.SET: FormSpec('+MIPDNS="<host>"[,<type>]', _dns_set)},
    ),
    CommandSpec(
        name="+GTSET",
        summary='Module settings; only "IPRFMT" (receive format 0, 1, 2 or 5) is emulated. Kept across resets.',
        source=f"{_MIP} §7 (values H, persistence M)",
        forms={
            Form.SET: FormSpec('+GTSET="IPRFMT"[,<n>]', _gtset_set),
            Form.READ: FormSpec('+GTSET: "IPRFMT",<n>', _gtset_read),
        },
        defaults="IPRFMT 0",
    ),
]

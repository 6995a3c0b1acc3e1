"""Network diagnostics over the PDP context: +MPING (ICMP echo) and +MIPNTP (set the clock by SNTP).

Both answer ``OK`` at once and report later by URC, as the G-series
manuals and the hosts written against L610 modules show (fibocom-tcpip.md
§10). The core only asks: each echo is a ``PingHost`` action and each time
query a ``QueryTime`` action; the edge (``emulator.runtime.probes``) does the
network side and answers with ``PingAnswered`` / ``TimeAnswered``, which
:func:`on_event` turns into URCs. The interval between echoes is a core timer,
so the whole ping runs on virtual time in memory.

+MPING (G510/G24 manual text, the L610 drivers of RT-Thread/OneOS):

* ``AT+MPING=1,"<host>"[,<count>[,<size>[,<TTL>[,<TOS>[,<TimeOut>]]]]]`` starts,
  ``AT+MPING=0`` aborts (nothing more is reported); one request at a time;
* each echo reply: ``+MPING: "<ip>",0,0,<rtt ms>``; an ICMP error
  (unreachable): ``+MPING: "<ip>",<type>,<code>``; an echo without answer
  within TimeOut: no line (chosen);
* at the end: ``+MPINGSTAT: 0,"<ip>",<sent>,<received>[,<avg rtt>]`` (the
  average only when something came back); the request could not run (name
  does not resolve, the PDP context went away): ``+MPINGSTAT: 2`` (chosen).
"""

from __future__ import annotations

from ..actions import CancelTimer, PingHost, QueryTime, StartTimer
from ..at_syntax import CommandCall, Form
from ..codes import CmeError
from ..command_table import CommandSpec, FormSpec, Outcome, Reply
from ..errors import CommandError
from ..events import Event, PingAnswered, TimeAnswered, TimerExpired
from ..module_state import ModuleState, PingJob
from . import params
from .tcpip import need_pdp

_MIP = "fibocom-tcpip.md"

#: count, size, TTL, TOS (G24/G510 manual) and TimeOut in ms (the L610 OneOS driver's bounds, chosen)
PING_RANGES = (range(1, 256), range(0, 1373), range(1, 256), range(0, 256), range(1, 65536))
#: G24/G510 manual defaults for count, size, TTL, TOS; 4000 ms TimeOut chosen
PING_DEFAULTS = (4, 32, 64, 0, 4000)
#: the next echo goes out this long after the previous one was answered (chosen: as ping(8))
PING_INTERVAL_S = 1.0
#: how long one SNTP query may take before +MIPNTP: 0 (chosen; hosts wait up to 60 s for the URC)
NTP_TIMEOUT_S = 10.0
NTP_PORT = 123


def _ping_timer(probe: int) -> tuple[str, int]:
    return ("ping-interval", probe)


def owns(event: Event) -> bool:
    """Whether ``event`` is for this chapter: an answer to ``PingHost`` / ``QueryTime``, or the ping interval."""
    if isinstance(event, TimerExpired):
        timer = event.timer
        return isinstance(timer, tuple) and len(timer) == 2 and timer[0] == "ping-interval"
    return isinstance(event, (PingAnswered, TimeAnswered))


# --- +MPING ----------------------------------------------------------------------------------------


def _echo(m: ModuleState, job: PingJob) -> PingHost:
    """The next echo request of ``job`` (counted as sent)."""
    m.probes += 1
    job.probe = m.probes
    job.sent += 1
    return PingHost(probe=job.probe, host=job.host, size=job.size, ttl=job.ttl, tos=job.tos,
                    timeout_s=job.timeout_ms / 1000)


def _ping_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 7)
    first = call.params[0]
    if first is not None and first.quoted:
        # AT+MPING="<host>"[,...]: the mode left out, as the GM510 host code sends it (chosen: mode 1).
        params.count(call, 1, 6)
        offset = -1
    else:
        offset = 0
        mode = params.integer(call, 0, (0, 1))
        if mode == 0:
            params.count(call, 1, 1)  # "no parameters trailing <mode>" (G510 manual)
            if m.ping is None:
                raise CommandError(CmeError.OPERATION_NOT_ALLOWED, "no ping is running")
            job, m.ping = m.ping, None
            return Reply(actions=[CancelTimer(timer=_ping_timer(job.probe))])
    host = params.string(call, 1 + offset).strip()
    if not host:
        raise params.bad("empty host")
    count, size, ttl, tos, timeout_ms = (
        params.integer(call, i + 2 + offset, allowed, default=default)
        for i, (allowed, default) in enumerate(zip(PING_RANGES, PING_DEFAULTS))
    )
    need_pdp(m)
    if m.ping is not None:
        raise CommandError(CmeError.OPERATION_NOT_ALLOWED, "a ping is already running")
    job = PingJob(host=host, count=count, size=size, ttl=ttl, tos=tos, timeout_ms=timeout_ms, probe=0)
    m.ping = job
    return Reply(actions=[_echo(m, job)])


def _ping_read(m: ModuleState, call: CommandCall) -> Reply:
    job = m.ping
    values = (job.count, job.size, job.ttl, job.tos, job.timeout_ms) if job else PING_DEFAULTS
    return Reply(lines=["+MPING: " + ",".join(map(str, values))])


def _ping_test(m: ModuleState, call: CommandCall) -> Reply:
    return Reply(lines=["+MPING: (0,1)," + ",".join(map(params.range_text, PING_RANGES))])


def _on_ping(m: ModuleState, event: PingAnswered, out: Outcome) -> None:
    job = m.ping
    if job is None or event.probe != job.probe:
        return  # aborted, or from before a reset
    if event.address is None or not m.pdp_active:
        m.ping = None
        out.said.append("+MPINGSTAT: 2")
        return
    job.address = job.address or event.address
    if event.icmp_type == 0 and event.rtt_ms is not None:
        job.received += 1
        job.rtt_total_ms += event.rtt_ms
        out.said.append(f'+MPING: "{event.address}",0,0,{event.rtt_ms}')
    elif event.icmp_type is not None:
        out.said.append(f'+MPING: "{event.address}",{event.icmp_type},{event.icmp_code}')
    if job.sent < job.count:
        out.actions.append(StartTimer(timer=_ping_timer(job.probe), seconds=PING_INTERVAL_S))
        return
    m.ping = None
    summary = f'+MPINGSTAT: 0,"{job.address}",{job.sent},{job.received}'
    if job.received:
        summary += f",{job.rtt_total_ms // job.received}"  # integral part only (G510 manual)
    out.said.append(summary)


def _on_interval(m: ModuleState, timer: object, out: Outcome) -> None:
    job = m.ping
    if job is None or timer != _ping_timer(job.probe):
        return
    if not m.pdp_active:
        m.ping = None
        out.said.append("+MPINGSTAT: 2")
        return
    out.actions.append(_echo(m, job))


# --- +MIPNTP ---------------------------------------------------------------------------------------


def _ntp_set(m: ModuleState, call: CommandCall) -> Reply:
    params.count(call, 1, 2)
    host = params.string(call, 0).strip()
    port = params.integer(call, 1, range(1, 65536), default=NTP_PORT)
    if not host:
        raise params.bad("empty server")
    need_pdp(m)
    if m.ntp_query is not None:
        raise CommandError(CmeError.OPERATION_NOT_ALLOWED, "a time query is already running")
    m.ntp_queries += 1
    m.ntp_query = m.ntp_queries
    return Reply(actions=[QueryTime(query=m.ntp_query, host=host, port=port, timeout_s=NTP_TIMEOUT_S)])


def _on_time(m: ModuleState, event: TimeAnswered, out: Outcome) -> None:
    if event.query != m.ntp_query:
        return
    m.ntp_query = None
    if event.utc is None or not m.pdp_active:
        out.said.append("+MIPNTP: 0")
        return
    # The instant only: the zone +CCLK shows stays as it was set (NTP carries none).
    m.clock.set_utc(event.utc)
    out.said.append("+MIPNTP: 1")


# --- events ----------------------------------------------------------------------------------------


def on_event(m: ModuleState, event: Event) -> Outcome:
    """The answers of the edge to ``PingHost`` / ``QueryTime``, and the ping interval timer."""
    out = Outcome()
    if isinstance(event, PingAnswered):
        _on_ping(m, event, out)
    elif isinstance(event, TimeAnswered):
        _on_time(m, event, out)
    elif isinstance(event, TimerExpired):
        _on_interval(m, event.timer, out)
    return out


COMMANDS = [
    CommandSpec(
        name="+MPING",
        summary=(
            "Ping <host> through the PDP context: OK, then +MPING: \"<ip>\",0,0,<rtt> per echo reply "
            "(+MPING: \"<ip>\",<type>,<code> for an ICMP error), then +MPINGSTAT: 0,\"<ip>\",<sent>,<rcvd>[,<avg>]; "
            "+MPINGSTAT: 2 when it cannot run. =0 aborts silently."
        ),
        source=(
            f"{_MIP} §10 (M: syntax and URCs; the G510 manual's example); "
            "L610 OneOS driver (1,\"host\",1,<size>,255,0,"
            "<timeout ms>). chosen: mode-less form =\"<host>\" means 1 (GM510 host code); silent lost echoes; "
            "TimeOut default 4000 ms, range 1-65535; status 2 for an unresolvable host; one echo a second"
        ),
        forms={
            Form.SET: FormSpec('+MPING=<mode>[,"<host>"[,<count>[,<size>[,<TTL>[,<TOS>[,<TimeOut ms>]]]]]]', _ping_set),
            Form.READ: FormSpec("+MPING: <count>,<size>,<TTL>,<TOS>,<TimeOut>", _ping_read),
            Form.TEST: FormSpec("+MPING: (0,1),(1-255),(0-1372),(1-255),(0-255),(1-65535)", _ping_test),
        },
        defaults="count 4, size 32, TTL 64, TOS 0 (G510 manual), TimeOut 4000 ms (chosen)",
    ),
    CommandSpec(
        name="+MIPNTP",
        summary=(
            "Set the module clock from an SNTP server (RFC 4330, UDP): OK, then +MIPNTP: 1 once set, "
            "+MIPNTP: 0 if no valid answer came within 10 s. The clock then judges certificates."
        ),
        source=(
            f"{_MIP} §10 (M: =\"<server>\",<port> -> OK, +MIPNTP: 1); chosen: +MIPNTP: 0 on failure, 10 s timeout, "
            "port 123 by default, one query at a time, the +CCLK zone kept"
        ),
        forms={
            Form.SET: FormSpec('+MIPNTP="<server>"[,<port>]', _ntp_set),
            Form.TEST: FormSpec.fixed('+MIPNTP: "<server>",(1-65535)'),
        },
        defaults="port 123",
    ),
]

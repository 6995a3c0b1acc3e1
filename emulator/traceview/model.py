"""From trace records to what the sequence diagram draws: lifelines and rows (arrows and notes).

Theory of operation. A trace (:mod:`emulator.trace`) is a list of records in
time order. Each record becomes at most one row, keyed by its record number
(1-based line of the file), so a person can quote any arrow:

* ``host`` records: an arrow host -> module (a command line, or data-mode bytes
  shown by size, with the payload on demand);
* ``module`` records: an arrow module -> host, an *answer* while a command is
  pending (up to its final result code) or a *URC* otherwise. The echo of the
  command just sent adds nothing and draws no arrow (it is folded into the
  command's row);
* ``net`` records (socket steps: open, TCP, the TLS handshake, sizes sent and
  received, close): arrows between the module and that socket's network
  lifeline;
* ``why`` records: a note on the socket's lifeline; a failure carries its
  ``+GTSSLERR`` code, the alert's name and the reason in words;
* a ``net`` record with ``ev`` ``label`` (``nl668-lab check --trace``: which
  variant and settings a handshake was) is a note on that socket's lifeline, and
  its short ``label`` names the lifeline (``labels`` in the model).

Old traces (before the ``net`` records and the optional ``why`` fields) still
render: the socket and the code are then read from the texts. Records this
version does not know are counted and skipped; a malformed line is skipped,
never fatal. Nothing is added that the trace did not hold: payload shown is
what the host and module records carry (already redacted by the writer).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from emulator.core.codes import alert_name

#: a command's socket id: AT+MIPOPEN=1,..., AT+MIPSEND=2,... (the MIP family takes it first)
_CMD_SOCKET = re.compile(r"^AT\+MIP(?:OPEN|SEND|CLOSE|PUSH|READ|SETS|STAT|TSEND|TCLOSE)=(\d+)", re.I)
#: a URC's or answer's socket id: +MIPOPEN: 1,0  +MIPRTCP: 1,...
_URC_SOCKET = re.compile(r"^\+MIP(?:OPEN|SEND|CLOSE|PUSH|RTCP|RUDP|READ|STAT|SETS): (\d+)\s*,")
_FINAL = re.compile(r"^(OK|ERROR|NO CARRIER|\+CME ERROR: .*|\+CMS ERROR: .*)$")
#: answers marked as errors; +GTSSLERR: 0 is "no error", an L610's codes are negative (-11, -19)
_ERROR_LINE = re.compile(
    r"^(ERROR|\+CME ERROR: .*|\+CMS ERROR: .*|\+MIPOPEN: \d+,0|\+MIPSTAT: \d+,1|\+GTSSLERR: -?[1-9]\d*)$")
_WHY_SOCKET = re.compile(r"^socket (\d+) ")
_WHY_CODE = re.compile(r"\(GTSSLERR (\d+)\)")
_SENT_ALERT = re.compile(r"sent alert (\d+)")
_RECV_ALERT = re.compile(r"received alert (\d+)")
_X509 = re.compile(r"X509 error (\d+)")
#: payload URCs: the bytes are shown on demand, the label gives the size
_DATA_URC = re.compile(r"^\+MIPRTCP: (\d+),(\d+),(.*)$", re.S)

#: X509 verification errors the lab and the manual's examples meet, in words (OpenSSL's texts).
X509_WORDS: dict[int, str] = {
    2: "unable to get issuer certificate",
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    26: "unsupported certificate purpose",
    62: "hostname mismatch",
    64: "IP address mismatch",
    66: "EE certificate key too weak",
    68: "CA signature digest algorithm too weak",
}

#: lifelines that are always there, left to right
HOST, MODULE = "host", "module"

#: net step -> does the arrow go from the module to the network (True) or back (False)
_NET_OUT = {
    "open": True, "client_hello": True, "send": True, "close": True,
    "tcp_connected": False, "server_hello": False, "certificate": False, "recv": False,
    "handshake_done": False, "closed": False,
}

#: how many payload bytes a row keeps for "show payload" (the rest is counted, not kept)
PAYLOAD_KEEP = 4096


def reason_in_words(text: str, code: int | None) -> str:
    """A failure's "why" text in a sentence a field engineer reads (alerts, X509 errors, who sent what)."""
    parts: list[str] = []
    for match in _X509.finditer(text):
        errno = int(match.group(1))
        parts.append(f"the module refused the server's certificate: {X509_WORDS.get(errno, f'X509 error {errno}')}")
    if sent := _SENT_ALERT.search(text):
        n = int(sent.group(1))
        parts.append(f"the module sent alert {n} {alert_name(n)}".rstrip())
    if received := _RECV_ALERT.search(text):
        n = int(received.group(1))
        parts.append(f"the server sent alert {n} {alert_name(n)}".rstrip())
    if not parts:
        tail = text.split(": ", 1)[-1]
        parts.append(tail)
    if code is not None and code >= 150:
        parts.append(f"+GTSSLERR {code} is the vendor's {alert_name(code).replace('_', ' ')} code")
    return "; ".join(parts)


def read_numbered(path: str | Path) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """``(line number, record)`` for every record of a trace file, and how many lines were not records
    (skipped, never fatal). The line number is what the view calls the record number."""
    records: list[tuple[int, dict[str, Any]]] = []
    bad = 0
    with Path(path).open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(record, dict) and isinstance(record.get("dir"), str):
                records.append((number, record))
            else:
                bad += 1
    return records, bad


def _lines(data: str) -> list[str]:
    return [line for line in re.split(r"\r\n|\r|\n", data) if line]


def _seconds(t: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(t)).timestamp()
    except ValueError:
        return None


class _Builder:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.sockets: list[int] = []
        self.labels: dict[str, str] = {}  #: lifeline -> what it stands for (a check's cell), from "label" records
        self.skipped = 0
        self._pending = False  # a command was sent and its final result code has not come yet
        self._last_command = ""
        self._last_command_row: dict[str, Any] | None = None
        self._t0: float | None = None
        self._data_mode = False  # the module just prompted for data ("> ")

    def socket(self, sock: int | None) -> None:
        if sock is not None and sock not in self.sockets:
            self.sockets.append(sock)

    def row(self, n: int, record: dict[str, Any], kind: str, src: str, dst: str, label: str,
            *, sock: int | None = None, err: bool = False, **extra: Any) -> dict[str, Any]:
        t = _seconds(record.get("t"))
        if t is not None and self._t0 is None:
            self._t0 = t
        row: dict[str, Any] = {
            "n": n, "t": str(record.get("t", "")),
            "s": None if t is None or self._t0 is None else round(t - self._t0, 6),
            "kind": kind, "from": src, "to": dst, "label": label, "sock": sock, "err": err,
        }
        row.update({k: v for k, v in extra.items() if v is not None})
        self.socket(sock)
        self.rows.append(row)
        return row

    def host(self, n: int, record: dict[str, Any], data: str) -> None:
        text = data.rstrip("\r\n")
        first = _lines(data)[0] if _lines(data) else ""
        if self._data_mode or not first.upper().startswith("AT"):
            # Data-mode bytes (a +MIPSEND or GTSSLFILE body, already redacted when secret): a size, payload on demand.
            self._data_mode = False
            sock = self._last_socket()
            label = data if data.startswith("<redacted") else f"data: {len(data.encode('latin-1', 'replace'))} bytes"
            self.row(n, record, "data", HOST, MODULE, label, sock=sock, payload=_payload(data))
            return
        match = _CMD_SOCKET.match(first)
        sock = int(match.group(1)) if match else None
        self._pending = True
        self._last_command = data
        self._last_command_row = self.row(n, record, "cmd", HOST, MODULE, text.replace("\r", " | "), sock=sock)

    def _last_socket(self) -> int | None:
        return None if self._last_command_row is None else self._last_command_row.get("sock")

    def module(self, n: int, record: dict[str, Any], data: str) -> None:
        if self._last_command and data == self._last_command:
            if self._last_command_row is not None:
                self._last_command_row["echo"] = n  # the echo: same bytes back, no arrow of its own
            return
        lines = _lines(data)
        if data.endswith("> ") or data.strip() == ">":
            self._data_mode = True
            self.row(n, record, "prompt", MODULE, HOST, "> (data prompt)", sock=self._last_socket())
            return
        if not lines:
            self.skipped += 1
            return
        final = any(_FINAL.match(line) for line in lines)
        kind = "answer" if self._pending else "urc"
        if final:
            self._pending = False
        err = any(_ERROR_LINE.match(line) for line in lines)
        sock = None
        for line in lines:
            if m := _URC_SOCKET.match(line):
                sock = int(m.group(1))
                break
        if sock is None and kind == "answer":
            sock = self._last_socket()
        data_urc = _DATA_URC.match(lines[0]) if len(lines) == 1 else None
        if data_urc:
            payload = _payload(data_urc.group(3), hex_text=True)
            self.row(n, record, "data", MODULE, HOST, f"+MIPRTCP: {data_urc.group(1)} ({payload['size']} bytes)",
                     sock=sock, payload=payload)
            return
        label = " | ".join(lines)
        self.row(n, record, kind, MODULE, HOST, label, sock=sock, err=err,
                 payload=_payload(data) if len(data) > 200 else None)

    def net(self, n: int, record: dict[str, Any]) -> None:
        sock = record.get("sock")
        if not isinstance(sock, int):
            self.skipped += 1
            return
        ev = str(record.get("ev", ""))
        text = str(record.get("data", ev))
        line = f"net:{sock}"
        if ev == "label":
            label = record.get("label")
            self.labels.setdefault(line, label if isinstance(label, str) and label else text)
            self.row(n, record, "note", MODULE, line, text, sock=sock, detail=text)
            return
        if ev == "alert":
            out = record.get("from") == "module"
            fatal = record.get("level") == 2
            self.row(n, record, "tls", MODULE if out else line, line if out else MODULE,
                     f"alert {record.get('alert')} {record.get('name', '')}".rstrip(), sock=sock, err=fatal,
                     detail=text)
            return
        out = _NET_OUT.get(ev, True)
        kind = "bytes" if ev in ("send", "recv") else ("tls" if ev in ("client_hello", "server_hello", "certificate",
                                                                      "handshake_done") else "sock")
        label = text
        if ev == "certificate" and isinstance(record.get("certs"), list) and record["certs"]:
            leaf = record["certs"][0]
            if isinstance(leaf, dict):
                label = f"Certificate {leaf.get('subject', '')}, valid {str(leaf.get('not_before', ''))[:10]}" \
                        f" to {str(leaf.get('not_after', ''))[:10]}"
        elif ev == "client_hello" and isinstance(record.get("suites"), list):
            label = f"ClientHello {record.get('version', '')}, {len(record['suites'])} suites"
        self.row(n, record, kind, MODULE if out else line, line if out else MODULE, label, sock=sock, detail=text)

    def why(self, n: int, record: dict[str, Any]) -> None:
        text = str(record.get("data", ""))
        sock = record.get("sock")
        if not isinstance(sock, int):
            m = _WHY_SOCKET.match(text)
            sock = int(m.group(1)) if m else None
        code = record.get("gtsslerr")
        if not isinstance(code, int):
            m = _WHY_CODE.search(text)
            code = int(m.group(1)) if m else None
        ev = record.get("ev")
        failed = ev in ("open_failed", "peer_closed") and (code is not None or ev == "open_failed") or (
            ev is None and (" failed" in text or code is not None))
        dst = f"net:{sock}" if sock is not None else MODULE
        if failed:
            name = alert_name(code)
            head = f"+GTSSLERR {code} {name}".rstrip() if code is not None else "failed"
            self.row(n, record, "fail", MODULE, dst, head, sock=sock, err=True, code=code, alert=name,
                     words=reason_in_words(text, code), detail=text)
        else:
            self.row(n, record, "note", MODULE, dst, text, sock=sock, detail=text)


def _payload(data: str, *, hex_text: bool = False) -> dict[str, Any]:
    """A payload for "show payload": its size and up to PAYLOAD_KEEP bytes, base64 (the view shows hex and text)."""
    raw = data.encode("latin-1", "replace")
    if hex_text:
        try:
            raw = bytes.fromhex(data.strip())
        except ValueError:
            pass
    return {"size": len(raw), "b64": base64.b64encode(raw[:PAYLOAD_KEEP]).decode("ascii")}


def build_model(
    records: Iterable[dict[str, Any]], *, title: str = "", bad_lines: int = 0, numbers: Iterable[int] | None = None
) -> dict[str, Any]:
    """The view's data: ``lifelines`` (host, module, net:N in order of appearance), ``rows``, counts.

    ``numbers`` are the records' numbers (their lines in the file); by default 1, 2, 3...
    """
    b = _Builder()
    count = 0
    for count, (n, record) in enumerate(zip(numbers if numbers is not None else itertools.count(1), records), start=1):
        direction = record.get("dir")
        data = record.get("data", "")
        if not isinstance(data, str):
            b.skipped += 1
            continue
        if direction == "host":
            b.host(n, record, data)
        elif direction == "module":
            b.module(n, record, data)
        elif direction == "net":
            b.net(n, record)
        elif direction == "why":
            b.why(n, record)
        else:
            b.skipped += 1
    lifelines = [HOST, MODULE] + [f"net:{s}" for s in b.sockets]
    return {
        "title": title,
        "records": count,
        "bad_lines": bad_lines,
        "skipped": b.skipped,
        "lifelines": lifelines,
        "sockets": b.sockets,
        "labels": b.labels,
        "rows": b.rows,
    }


def model_from_file(path: str | Path) -> dict[str, Any]:
    """:func:`build_model` of a trace file, rows numbered by their line in it."""
    numbered, bad = read_numbered(path)
    return build_model((r for _, r in numbered), title=Path(path).name, bad_lines=bad,
                       numbers=[n for n, _ in numbered])

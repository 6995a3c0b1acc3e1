"""Coverage-guided fuzzing of the AT reader, the parser, the command table and data entry (atheris).

Why atheris on top of hypothesis: hypothesis explores the shapes we thought of; libFuzzer's coverage
feedback finds the byte that takes an unexpected branch (the '²' that ``str.isdigit()`` accepts and
``int()`` refuses was such a byte). The harness drives an :class:`InMemoryModule` in strict mode (a
handler bug raises) with host bytes in fuzzer-chosen chunks, edge answers and virtual time, and asserts
the same invariants as the property tests (tests/robustness/model.py): the state invariants after every
step, then, once any data entry or wait is over, that ``AT`` is answered ``OK``.

Run: ``make fuzz`` (bounded), or ``python fuzz/fuzz_at.py -max_total_time=60 [corpus_dir]``.
A crash is written as ``crash-<sha1>`` (``-artifact_prefix=``); replay it with
``python fuzz/fuzz_at.py crash-<sha1>`` and turn it into a test in tests/robustness/test_regressions.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: emulator, tests

with atheris.instrument_imports(include=["emulator"]):
    from emulator.core.at_reader import AtReader
    from emulator.core.at_syntax import AtSyntaxError, parse_line
    from emulator.profiles import load_profile
    from emulator.runtime.in_memory import InMemoryModule

from tests.robustness.model import PAST_DATA_TIMEOUT, Edge, at_spelling, check_state  # noqa: E402

PROFILES = [load_profile(name) for name in ("NL668_AM_00", "M910", "NL668_EU_00")]
#: Tokens that reach deep states quickly; the fuzzer splices them (and its own bytes) together.
TOKENS = [b"AT", b"\r", b"\r\n", b"\n", b"A/", b"+GTSSLFILE=\"TRUSTFILE\",", b"+GTSSLFILE=\"KEYFILE\",",
          b"+MIPCALL=1", b'+MIPOPEN=1,,"h.test",443,2', b"+MIPSEND=1,", b"+MIPDNS=\"h\"", b"+CFUN=1,1", b"S3=",
          b"E0", b"V0", b"Q1", b"+CMEE=2", b";", b"-----BEGIN CERTIFICATE-----\n", b"\xb2", b"\x00", b"\x1a"]


def one_input(data: bytes) -> None:
    """One run: a script of steps decoded from ``data``; raises on any broken invariant."""
    fdp = atheris.FuzzedDataProvider(data)
    m = InMemoryModule(PROFILES[fdp.ConsumeIntInRange(0, len(PROFILES) - 1)])
    m.take()
    edge = Edge(m, choose=lambda n: fdp.ConsumeIntInRange(0, n - 1) if fdp.remaining_bytes() else 0)
    for _ in range(64):
        if not fdp.remaining_bytes():
            break
        step = fdp.ConsumeIntInRange(0, 9)
        if step <= 4:
            m.send(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64)))
        elif step <= 6:
            m.send(TOKENS[fdp.ConsumeIntInRange(0, len(TOKENS) - 1)])
        elif step == 7:
            edge.answer()
        elif step == 8:
            m.advance((0.1, 0.6, PAST_DATA_TIMEOUT)[fdp.ConsumeIntInRange(0, 2)])
        else:  # the parser alone, on the same bytes: only AtSyntaxError may come out
            try:
                parse_line(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)).decode("latin-1"))
            except AtSyntaxError:
                pass
        check_state(m.module)
    for _ in range(4):  # back to line mode however the bytes left it
        edge.settle()
        m.send(bytes([m.module.state.v250.s3]))
    edge.settle()
    check_state(m.module)
    v = m.module.state.v250
    at = at_spelling(v)
    if at is None:  # S3, S4, S5 took 'A', 'a' and 'T': no AT can be typed (V.250 allows it)
        return
    out = m.send(at + bytes([v.s3]))
    expected = (at + bytes([v.s3]) if v.echo else b"") + v.ok()
    if out != expected:
        raise AssertionError(f"AT answered {out!r}, expected {expected!r}")


def main() -> None:
    assert AtReader  # imported under instrumentation for coverage
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

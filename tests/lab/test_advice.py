"""``nl668-lab check``'s advice names the fix that then works through the AT interface.

For each field failure: a module set up as the lab table assumes (root-ca.pem trusted,
+GTSSLMODE=1, the scenario's own setup) fails; the check's advice is applied with AT
commands (its settings, the TRUSTFILE it wrote, the clock, the host name, the client
certificate it asks for); then ``+MIPOPEN`` succeeds. Where no fix exists the advice says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from emulator.lab.advice import Advice, advise, load_pool
from emulator.lab.check import CheckConfig, Report, Setting, run_check
from emulator.lab.scenarios import HOST, by_name
from emulator.lab.server import Lab
from emulator.profiles import load_profile
from emulator.servers.pki import cert_bytes, pki_path
from tests.lab_session import lab_rules, verifying_module

pytestmark = pytest.mark.integration

SCENARIOS = ("incomplete-chain", "untrusted-root", "expired", "tls1.2-only", "tls1.0-only", "no-shared-cipher",
             "wrong-host", "client-cert-required")
#: where a missing issuer can be found (the test PKI's CA files; the system bundle is left out)
POOL = ("intermediate-ca.pem", "other-root-ca.pem")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(SCENARIOS) as running:
        yield running


def advice_for(lab: Lab, name: str, variant: str, **kw: object) -> Advice:
    return check_and_advise(lab, name, variant, **kw)[1]


def check_and_advise(lab: Lab, name: str, variant: str, **kw: object) -> tuple[Report, Advice]:
    options: dict[str, object] = {"timeout": 10.0, "modes": [1], "ciphers": [None], **kw}
    config = CheckConfig(host="127.0.0.1", port=lab.endpoint(name).port, servername=HOST,
                         profiles=[load_profile(variant)], trust_pems=(cert_bytes("root-ca.pem"),),
                         **options)  # type: ignore[arg-type]

    async def run() -> tuple[Report, list[Advice]]:
        report = await run_check(config)
        return report, await advise(report, load_pool([pki_path(p) for p in POOL], system=False))

    report, (advice,) = asyncio.run(run())
    assert advice.variants == [variant]
    return report, advice


def through_at(lab: Lab, name: str, variant: str, advice: Advice | None, *, client_cert: bool = False) -> str:
    """The module in the field state, then (when given) the advice applied by AT; the +MIPOPEN result."""
    return through_at_why(lab, name, variant, advice, client_cert=client_cert)[0]


def through_at_why(
    lab: Lab, name: str, variant: str, advice: Advice | None, *, client_cert: bool = False
) -> tuple[str, str]:
    """:func:`through_at`, and the module's "why" line (``ModuleState.last_why``) after the attempt."""
    scenario = by_name(name)
    port = lab.endpoint(name).port
    rules = lab_rules(lab, [name], hosts=(HOST, "wrong.example.test"))
    with verifying_module(variant, rules) as (running, at):
        for line in scenario.setup:
            at.command(line)
        open_line = f'AT+MIPOPEN=1,,"{HOST}",{port},2'
        if client_cert:
            for kind, file in (("CERTFILE", "client.pem"), ("KEYFILE", "client.key")):
                data = cert_bytes(file)
                at.command_with_data(f'AT+GTSSLFILE="{kind}",{len(data)}', data)
        for line in advice.at_lines if advice else ():
            if line.startswith('AT+GTSSLFILE="TRUSTFILE"'):
                assert advice is not None and advice.trust_pem is not None
                at.command_with_data(line, advice.trust_pem)  # the file --write-trust writes
            elif line.startswith("AT+MIPOPEN="):
                open_line = line
            else:
                at.command(line)
        at.command(open_line)
        result = at.wait_urc("+MIPOPEN: 1,", timeout=20)
        return result, running.call(lambda: running.module.state.last_why)


@pytest.mark.parametrize(("name", "variant"), [
    ("incomplete-chain", "NL668_AM_00"), ("incomplete-chain", "M910"), ("untrusted-root", "NL668_AM_00"),
    ("expired", "NL668_AM_00"), ("tls1.2-only", "NL668_AM_00"), ("tls1.0-only", "NL668_AM_00"),
    ("wrong-host", "NL668_AM_00"),
])
def test_the_advised_fix_makes_mipopen_succeed_through_at(lab: Lab, name: str, variant: str) -> None:
    failed, why = through_at_why(lab, name, variant, None)
    assert failed == "+MIPOPEN: 1,0"  # the field failure
    report, advice = check_and_advise(lab, name, variant)
    # the check ran the module's very handshake: the same "why" line as the module's own attempt
    scenario = by_name(name)
    version = int(scenario.setup[0].split("=")[1]) if scenario.setup else load_profile(variant).ssl.default_version
    cell = report.cell(variant, Setting(version, None, 1))
    assert cell is not None and cell.attempt.why_line() == why
    assert advice.verdict in ("connects", "connects after a fix"), advice.lines
    assert through_at(lab, name, variant, advice) == "+MIPOPEN: 1,1", advice.lines
    text = "\n".join(advice.lines)
    if name in ("incomplete-chain", "untrusted-root"):
        wanted = {"incomplete-chain": "Intermediate CA", "untrusted-root": "Other Root CA"}[name]
        assert wanted in advice.trust_subject and "not among the TRUSTFILEs" in text
        assert advice.trust_pem is not None and b"BEGIN CERTIFICATE" in advice.trust_pem
    if name == "expired":
        assert advice.clock is not None and "AT+CCLK" in advice.at_lines[0] and "2020-01-01" in text
    if name == "wrong-host":
        assert advice.servername == "wrong.example.test" and "holds: wrong.example.test" in text
    if name == "tls1.2-only":
        assert "AT+GTSSLVER=4" in advice.at_lines
    if name == "tls1.0-only":
        assert "AT+GTSSLVER=2" in advice.at_lines and "power-on +GTSSLVER" in text


def test_client_certificate_required_is_named_and_loading_one_fixes_it(lab: Lab) -> None:
    name, variant = "client-cert-required", "NL668_AM_00"
    advice = advice_for(lab, name, variant)
    assert advice.verdict == "cannot connect" and advice.client_cert_needed
    assert "requires a client certificate" in "\n".join(advice.lines)
    assert through_at(lab, name, variant, advice) == "+MIPOPEN: 1,0"
    # what the advice asks for: CERTFILE and KEYFILE; checked first, then through AT
    fixed = advice_for(lab, name, variant, cert_pem=cert_bytes("client.pem"), key_pem=cert_bytes("client.key"))
    assert fixed.verdict == "connects"
    assert through_at(lab, name, variant, fixed, client_cert=True) == "+MIPOPEN: 1,1"


def test_no_shared_cipher_says_plainly_that_no_setting_can_connect(lab: Lab) -> None:
    advice = advice_for(lab, "no-shared-cipher", "NL668_AM_00", ciphers=None)
    text = "\n".join(advice.lines)
    assert advice.verdict == "cannot connect" and not advice.at_lines and advice.trust_pem is None
    assert "no AT setting fixes this" in text and "ECDHE" in text

"""``nl668-lab check``: the lab's table is the oracle; a third-party server; the command line.

Every check here runs the real engines against real servers on 127.0.0.1: the lab's
endpoints (stdlib ssl, tlslite-ng, raw TCP) and the system's ``openssl s_server``.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.lab.cli import main
from emulator.lab.check import CheckConfig, Report, Setting, run_check
from emulator.lab.scenarios import HOST, SCENARIOS, VARIANTS, Outcome, Scenario
from emulator.lab.server import Lab
from emulator.profiles import load_profile
from emulator.servers.pki import cert_bytes, pki_path

pytestmark = pytest.mark.integration

#: the per-handshake timeout of the quick checks (a loaded lab thread answers well within it)
TIMEOUT_S = 5.0
#: handshake-stall's: the check waits it out, then reports the module's open time-out
STALL_S = 1.0


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def config_for(scenario: Scenario, port: int, **kw: object) -> CheckConfig:
    """The module side the lab table assumes: root-ca.pem trusted, client.pem/.key when the scenario wants them."""
    return CheckConfig(
        host="127.0.0.1", port=port, servername=HOST, profiles=[load_profile(v) for v in VARIANTS],
        trust_pems=(cert_bytes("root-ca.pem"),),
        cert_pem=cert_bytes("client.pem") if scenario.client_cert else None,
        key_pem=cert_bytes("client.key") if scenario.client_cert else None,
        **{"timeout": TIMEOUT_S, **kw},  # type: ignore[arg-type]
    )


def setup_version(scenario: Scenario, default: int) -> int:
    """The +GTSSLVER the scenario's setup lines leave (the table's only setup command)."""
    for line in scenario.setup:
        match = re.fullmatch(r"AT\+GTSSLVER=(\d)", line)
        assert match, f"a setup line this test cannot map: {line}"
        default = int(match.group(1))
    return default


def expected_vs_checked(scenario: Scenario, report: Report) -> dict[str, tuple[str, str]]:
    wrong = {}
    for variant in VARIANTS:
        profile = load_profile(variant)
        version = setup_version(scenario, profile.ssl.default_version)
        for mode in (0, 1):
            want = scenario.outcome(variant, mode)
            cell = report.cell(variant, Setting(version, None, mode))
            # A version the variant refuses is no cell: the table's "setup ERROR".
            got = Outcome(None) if cell is None else Outcome(cell.opened, None if cell.opened else cell.gtsslerr)
            if got != want:
                why = cell.attempt.why_line() if cell is not None else "no such setting"
                wrong[f"{scenario.name} {variant} mode {mode}"] = (f"{got.text()} ({why})", want.text())
    return wrong


def test_check_agrees_with_the_lab_table_for_every_scenario_variant_and_mode(lab: Lab) -> None:
    async def all_scenarios() -> list[Report]:
        # The scenarios' checks side by side on this one loop, 8 at a time (both engines and the lab's
        # servers share 2 cores: more at once only stretches every handshake); handshake-stall
        # waits out its short timeout meanwhile.
        gate = asyncio.Semaphore(8)

        async def one(s: Scenario) -> Report:
            timeout = STALL_S if s.name == "handshake-stall" else 30.0
            async with gate:
                return await run_check(config_for(s, lab.endpoint(s.name).port, ciphers=[None], timeout=timeout))

        return list(await asyncio.gather(*(one(s) for s in SCENARIOS)))

    reports = asyncio.run(all_scenarios())
    wrong: dict[str, tuple[str, str]] = {}
    for scenario, report in zip(SCENARIOS, reports):
        wrong.update(expected_vs_checked(scenario, report))
    assert not wrong, f"(check, table): {wrong}"


def test_the_full_matrix_tries_each_distinct_hello_once_and_agrees_with_the_default_cells(lab: Lab) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "tls1.2-only")
    report = asyncio.run(run_check(config_for(scenario, lab.endpoint(scenario.name).port)))
    assert not expected_vs_checked(scenario, report)
    # AM_00: versions 2-4 x (default + 7 ids) x 2 modes; M910: 1-4 x (default + 6 ids) x 2
    assert len(report.of("NL668_AM_00")) == 3 * 8 * 2 and len(report.of("M910")) == 4 * 7 * 2
    assert report.handshakes == len({c.request for c in report.cells}) < len(report.cells)
    # TLS 1.2 only: every version-4 cell connects but 3DES alone (ids 1, 6: not in the server's OpenSSL 3)
    for cell in report.cells:
        assert cell.opened == (cell.setting.version == 4 and cell.setting.cipher not in (1, 6)), cell.as_json()
    # the same hello gives the same answer: AM_00's id 3 alone is M910's id 3 alone
    am = report.cell("NL668_AM_00", Setting(2, 3, 1))
    m910 = report.cell("M910", Setting(2, 3, 1))
    assert am is not None and m910 is not None and am.request == m910.request and am.attempt is m910.attempt


# --- a third-party server ------------------------------------------------------------------------------


@pytest.fixture()
def s_server() -> Iterator[int]:
    """``openssl s_server`` (the system's OpenSSL 3) serving TLS 1.2 with AES128-SHA only, chain sent."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl on PATH")
    proc = subprocess.Popen(
        [openssl, "s_server", "-accept", "127.0.0.1:0", "-tls1_2", "-cipher", "AES128-SHA",
         "-cert", str(pki_path("server.pem")), "-key", str(pki_path("server.key")),
         "-cert_chain", str(pki_path("intermediate-ca.pem"))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        port = None
        for line in proc.stdout:  # it prints "ACCEPT 127.0.0.1:<port>" once listening
            if line.startswith("ACCEPT"):
                port = int(line.rsplit(":", 1)[1])
                break
        assert port, "s_server did not start"
        yield port
    finally:
        proc.kill()
        proc.communicate()  # closes its pipes too


def test_check_against_openssl_s_server_gives_the_expected_matrix(s_server: int) -> None:
    config = CheckConfig(host="127.0.0.1", port=s_server, servername=HOST,
                         profiles=[load_profile("NL668_AM_00"), load_profile("M910")],
                         trust_pems=(cert_bytes("root-ca.pem"),), timeout=5.0)
    report = asyncio.run(run_check(config))
    opened = {(c.variant, c.setting) for c in report.cells if c.opened}
    # AES128-SHA is id 3: in both variants' default sets (M910's on tlslite-ng, for its 3DES id 1), and alone
    assert opened == {(v, Setting(4, c, m)) for v in ("NL668_AM_00", "M910") for c in (None, 3) for m in (0, 1)}
    tls10 = report.cell("NL668_AM_00", Setting(2, None, 1))
    assert tls10 is not None and tls10.gtsslerr == 70  # s_server answers an old version with protocol_version
    dhe = report.cell("NL668_AM_00", Setting(4, 2, 1))
    assert dhe is not None and dhe.gtsslerr == 40  # DHE-RSA-AES128-SHA alone: no shared suite
    assert report.cell("M910", Setting(4, None, 1)).attempt.negotiated == "TLSv1.2 AES128-SHA (tlslite-ng)"  # type: ignore[union-attr]
    assert report.exit_status(require_all=False) == 0 and report.exit_status(require_all=True) == 1


# --- the command line ------------------------------------------------------------------------------------


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture()
def check_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """``nl668-lab check ARGS`` in this process (the console script's own ``main``)."""

    def run(*args: str) -> Run:
        try:
            code = main(["check", *args])
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Run(code, out.out, out.err)

    return run


def test_cli_table_exit_codes_json_and_write_trust(lab: Lab, tmp_path: Path, check_cli: Callable[..., Run]) -> None:
    root = str(pki_path("root-ca.pem"))
    common = ["--servername", HOST, "--trust", root, "--timeout", str(TIMEOUT_S), "--profile", "NL668_AM_00"]
    keys = tmp_path / "keys.log"
    valid = check_cli(f"127.0.0.1:{lab.endpoint('valid').port}", *common, "--keylog", str(keys))
    assert valid.returncode == 0, valid.stderr
    # one CLIENT_RANDOM per handshake that got that far (every cell connects here but TLS 1.0/1.1 with SHA-256 ids)
    handshakes = int(valid.stdout.split(" distinct handshakes")[0].rsplit("\n", 1)[1])
    randoms = [line for line in keys.read_text().splitlines() if line.startswith("CLIENT_RANDOM ")]
    assert 0 < len(randoms) <= handshakes
    assert not any(line.split()[2] in valid.stdout + valid.stderr for line in randoms)  # keys: the key log only
    assert "NL668_AM_00" in valid.stdout and "1 [2,3,4]" in valid.stdout and "connects with its power-on" in valid.stdout

    none = check_cli(f"127.0.0.1:{lab.endpoint('no-shared-cipher').port}", *common, "--json")
    assert none.returncode == 1, none.stderr
    data = json.loads(none.stdout)
    assert data["exit"] == 1 and not any(c["opened"] for c in data["cells"])
    assert data["advice"][0]["verdict"] == "cannot connect" and data["advice"][0]["at"] == []

    out = tmp_path / "trust.pem"
    selfsigned = check_cli(f"127.0.0.1:{lab.endpoint('self-signed').port}", *common, "--mode", "1",
                           "--write-trust", str(out))
    assert selfsigned.returncode == 1  # nothing connects in mode 1 as things are ...
    assert out.read_bytes().strip() == pki_path("server-self-signed.pem").read_bytes().strip()  # ... with it, it would
    assert f'AT+GTSSLFILE="TRUSTFILE",{len(out.read_bytes())}' in selfsigned.stdout
    unwritable = check_cli(f"127.0.0.1:{lab.endpoint('self-signed').port}", *common, "--mode", "1",
                           "--write-trust", str(tmp_path / "no-such-dir" / "trust.pem"))
    assert unwritable.returncode == 2 and "cannot write --write-trust" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr

    # an explicit setting that connects, --require-all: 0
    assert check_cli(f"127.0.0.1:{lab.endpoint('tls1.2-only').port}", *common, "--ver", "4", "--cipher",
                     "default", "--mode", "1", "--require-all").returncode == 0


def test_cli_network_and_usage_errors_are_one_clear_exit_2(tmp_path: Path, check_cli: Callable[..., Run]) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = check_cli(f"127.0.0.1:{port}", "--profile", "NL668_AM_00", "--mode", "0", "--ver", "2")
    assert refused.returncode == 2 and "connection refused" in refused.stdout and "Traceback" not in refused.stderr
    assert "unreachable" in refused.stdout
    missing = check_cli("127.0.0.1:1", "--trust", str(tmp_path / "nope.pem"))
    assert missing.returncode == 2 and "cannot read TRUSTFILE" in missing.stderr
    no_pool = check_cli("127.0.0.1:1", "--ca-pool", str(tmp_path / "nope.pem"))
    assert no_pool.returncode == 2 and "--ca-pool" in no_pool.stderr and "Traceback" not in no_pool.stderr
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate")
    bad_pool = check_cli("127.0.0.1:1", "--ca-pool", str(not_pem))
    assert bad_pool.returncode == 2 and "holds no PEM certificate" in bad_pool.stderr
    assert check_cli("127.0.0.1:x").returncode == 2  # argparse: bad port
    nothing = check_cli("127.0.0.1:1", "--profile", "NL668_AM_00", "--ver", "1")  # AM_00 has no SSL 3.0
    assert nothing.returncode == 2 and "no setting to try" in nothing.stderr
    # a --clock with an offset is the same instant, shown in UTC as the table says
    zoned = check_cli(f"127.0.0.1:{port}", "--profile", "NL668_AM_00", "--mode", "0", "--ver", "2",
                      "--clock", "2026-01-01T12:00:00+02:00")
    assert "module clock 2026-01-01 10:00:00 UTC" in zoned.stdout, zoned.stdout


def test_cli_an_ipv6_target_needs_brackets_and_is_refused_as_ipv4_only(check_cli: Callable[..., Run]) -> None:
    bare = check_cli("::1")  # was read as host ":" port 1
    assert bare.returncode == 2 and "needs brackets" in bare.stderr and "[::1]" in bare.stderr
    # Bracketed, it is the host ::1 (port 443 by default), which the module cannot dial (IPv4 only): one line
    # on stderr saying so (it read "::1: no address", as if DNS had failed), exit 2, no handshake tried.
    common = ["--profile", "NL668_AM_00", "--mode", "0", "--ver", "2"]
    for args, where in ((["[::1]", "--json"], "[::1]:443"), (["[::1]:8443"], "[::1]:8443"),
                        (["[::1]", "--servername", "a.test"], "[::1]:443")):
        run = check_cli(*args, *common)
        assert run.returncode == 2 and not run.stdout, run.stdout
        assert run.stderr == f"nl668-lab check: error: the module dials IPv4 only: {where} is an IPv6 address " \
            "(give an IPv4 address, or a name with an A record)\n", run.stderr


def test_cli_an_ipv6_host_with_a_resolve_rule_for_its_servername_dials_the_rule(
    check_cli: Callable[..., Run]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = check_cli("[::1]", "--servername", "a.test", "--resolve", f"a.test=127.0.0.1:{port}", "--profile",
                    "NL668_AM_00", "--mode", "0", "--ver", "2")
    assert run.returncode == 2 and f"connect 127.0.0.1:{port}: connection refused" in run.stdout, run.stdout


def test_connect_failures_write_an_ipv6_address_in_brackets() -> None:
    from datetime import datetime, timezone

    from emulator.core.commands.tcpip import tls_request
    from emulator.lab.check import attempt_handshake, module_state

    profile = load_profile("NL668_AM_00")
    config = CheckConfig(host="a.test", port=443, profiles=[profile])
    request = tls_request(module_state(profile, Setting(4, None, 0), config, datetime.now(timezone.utc)), "a.test")
    # Port 1 on ::1: refused, or no IPv6 here at all; either way a connect failure naming the address.
    attempt = asyncio.run(attempt_handshake(request, [("::1", 1), ("127.0.0.1", 1)], TIMEOUT_S))
    assert attempt.stage == "connect" and attempt.why.startswith("connect [::1]:1: "), attempt.why
    assert "; 127.0.0.1:1: " in attempt.why


def test_cli_a_stalling_and_a_non_tls_server_and_an_unknown_name_are_clear_rows(
    lab: Lab, check_cli: Callable[..., Run]
) -> None:
    common = ["--servername", HOST, "--profile", "NL668_AM_00", "--cipher", "default", "--no-system-ca"]
    stall = check_cli(f"127.0.0.1:{lab.endpoint('handshake-stall').port}", *common, "--timeout", "0.5")
    assert stall.returncode == 1 and "0/90" in stall.stdout and "no answer within 0.5 s" in stall.stdout
    assert "never answers the ClientHello" in stall.stdout
    garbage = check_cli(f"127.0.0.1:{lab.endpoint('garbage-instead-of-hello').port}", *common)
    assert garbage.returncode == 1 and "0/80" in garbage.stdout and "wrong version number" in garbage.stdout
    assert "speaking TLS on this port" in garbage.stdout
    unknown = check_cli("no-such-host.invalid:443", "--profile", "NL668_AM_00", "--cipher", "default")
    assert unknown.returncode == 2 and "no address" in unknown.stdout and not unknown.stderr


def test_an_l610_reports_its_own_codes_through_its_profile_table(lab: Lab) -> None:
    from emulator.core.codes import FailureClass

    l610 = load_profile("L610")
    reports = {}
    for name in ("expired", "tls1.2-only"):
        config = CheckConfig(host="127.0.0.1", port=lab.endpoint(name).port, servername=HOST, profiles=[l610],
                             trust_pems=(cert_bytes("root-ca.pem"),), timeout=TIMEOUT_S, ciphers=[None])
        reports[name] = asyncio.run(run_check(config))
    expired = reports["expired"].cell("L610", Setting(4, None, 1))
    assert expired is not None and expired.attempt.code == 45  # the engine's NL668 code ...
    assert expired.gtsslerr == l610.gtsslerr.report(FailureClass.TIME, 45) == -11  # ... as the L610 reports it
    old = reports["tls1.2-only"].cell("L610", Setting(2, None, 1))
    assert old is not None and old.gtsslerr == l610.gtsslerr.report(FailureClass.ALERT, 70) == -9
    # +GTSSLVER=0 ("not set") connects as the highest version: the same request as 4, tried once
    unset, four = (reports["tls1.2-only"].cell("L610", Setting(v, None, 1)) for v in (0, 4))
    assert unset is not None and four is not None and unset.opened and unset.attempt is four.attempt

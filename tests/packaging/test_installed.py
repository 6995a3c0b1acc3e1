"""The product as another project meets it: built, installed in a fresh venv outside this checkout, run from there.

One build (``python -m build``: the sdist from the checkout, then the wheel from that sdist, as pip does from a
git URL) feeds every test. The wheel goes into one fresh virtual environment, the sdist into another (pip
builds it into a wheel again); the package index is reached for the dependencies only. Every command runs
from a temporary directory with a clean environment, so nothing can come from the checkout by accident: the
tests check that the imported package lives in the venv's site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import serial

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
VERSION = "0.1.0"


@dataclass(frozen=True)
class Venv:
    root: Path
    work: Path  # a directory outside the checkout to run commands from

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no PYTHONPATH, no $NL668_PROFILES, the venv first on PATH."""
        return {"PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
                "LANG": "C.UTF-8", **extra}

    def run(self, *argv: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), cwd=self.work, env=self.env(**extra), capture_output=True, text=True,
                              timeout=timeout)

    def python(self, code: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.bin / "python"), "-c", code, timeout=timeout, **extra)

    def site_package(self) -> Path:
        done = self.python("import emulator, pathlib; print(pathlib.Path(emulator.__file__).parent)")
        assert done.returncode == 0, done.stderr
        return Path(done.stdout.strip())


def _make_venv(root: Path, requirement: str) -> Venv:
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    pip = [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, requirement, "pytest"], check=True, capture_output=True, timeout=300,
                   env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")})
    work = root.parent / f"{root.name}-work"
    work.mkdir()
    return Venv(root, work)


@pytest.fixture(scope="module")
def installs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Venv]]:
    """``{"wheel": Venv, "sdist": Venv}``: the one build, installed twice (in parallel: pip mostly waits)."""
    base = tmp_path_factory.mktemp("packaging")
    assert REPO not in base.parents
    dist = base / "dist"
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)], check=True,
                   capture_output=True, timeout=300)
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    with ThreadPoolExecutor(2) as pool:
        # the wheel with the fleet extra, as a team running fleets installs it (Locust, gevent)
        futures = {kind: pool.submit(_make_venv, base / f"venv-{kind}", requirement)
                   for kind, requirement in (("wheel", f"{wheel}[fleet]"), ("sdist", str(sdist)))}
        yield {kind: future.result() for kind, future in futures.items()}


@pytest.fixture(scope="module")
def installed(installs: dict[str, Venv]) -> Venv:
    return installs["wheel"]


def _shipped_profiles() -> list[str]:
    return sorted(p.stem for p in (REPO / "profiles").glob("*.toml"))


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installed_package_lists_every_profile_and_has_the_pki(installs: dict[str, Venv], kind: str) -> None:
    venv_ = installs[kind]
    where = venv_.site_package()
    assert venv_.root in where.parents and REPO not in where.parents  # not the checkout
    listed = venv_.run("nl668-emu", "--list-profiles")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == _shipped_profiles()
    assert len(listed.stdout.split()) >= 15
    pki = venv_.python("from emulator.servers.pki import cert_bytes; print(len(cert_bytes('root-ca.pem')))")
    assert pki.returncode == 0 and int(pki.stdout) > 1000, pki.stderr
    for tool in ("nl668-emu", "nl668-lab"):
        version = venv_.run(tool, "--version")
        assert version.stdout.strip() == f"{tool} {VERSION}", version


def test_installed_emulator_answers_at_on_a_pty(installed: Venv) -> None:
    link = installed.work / "ttyM910"
    with subprocess.Popen(["nl668-emu", "--profile", "M910", "--pty", str(link)], cwd=installed.work,
                          env=installed.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        _answers_at(proc, link)


def _answers_at(proc: subprocess.Popen[str], link: Path) -> None:
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the emulator prints the device path once it is serving
        assert first.strip(), proc.stderr.read() if proc.stderr else ""
        with serial.Serial(str(link), 115200, timeout=5) as port:
            port.write(b"ATI\r\n")
            answer = port.read_until(b"OK\r\n")
        assert answer.endswith(b"OK\r\n") and b"M910" in answer, answer
    finally:
        proc.terminate()
        proc.wait(10)


def test_installed_lab_serves_a_handshake_to_an_installed_module(installed: Venv) -> None:
    with subprocess.Popen(["nl668-lab", "--json", "--scenario", "valid"], cwd=installed.work, env=installed.env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as lab:
        _handshake_through_the_lab(installed, lab)


def _handshake_through_the_lab(installed: Venv, lab: subprocess.Popen[str]) -> None:
    try:
        assert lab.stdout is not None
        line = lab.stdout.readline()
        assert line, lab.stderr.read() if lab.stderr else ""
        (endpoint,) = json.loads(line)
        port = endpoint["port"]
        # the public API, as a user's script writes it
        script = f"""
from emulator import AtClient, RunningModule
from emulator.servers.pki import cert_bytes
with RunningModule("NL668_AM_00", resolve=["www.example.test=127.0.0.1"]) as module:
    with module.open_serial() as port:
        at = AtClient(port)
        ca = cert_bytes("root-ca.pem")
        at.command_with_data(f'AT+GTSSLFILE="TRUSTFILE",{{len(ca)}}', ca)
        at.command("AT+GTSSLMODE=1")
        at.command("AT+MIPCALL=1")
        at.wait_urc("+MIPCALL: ")
        at.command('AT+MIPOPEN=1,,"www.example.test",{port},2')
        print(at.wait_urc("+MIPOPEN: ", timeout=30))
"""
        done = installed.python(script)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "+MIPOPEN: 1,1"
    finally:
        lab.terminate()
        lab.wait(10)


def test_installed_locustfile_runs_a_fleet_against_the_installed_lab(installed: Venv) -> None:
    """The README's fleet command from an installed wheel: the locustfile's path from ``python -m emulator.fleet``,
    the trust file the installed lab names, ``tls-connect`` headless with verification on."""
    locustfile = installed.run(str(installed.bin / "python"), "-m", "emulator.fleet")
    assert locustfile.returncode == 0, locustfile.stderr
    assert Path(locustfile.stdout.strip()).is_relative_to(installed.root)
    with subprocess.Popen(["nl668-lab", "--json", "--scenario", "valid"], cwd=installed.work, env=installed.env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as lab:
        try:
            assert lab.stdout is not None
            (endpoint,) = json.loads(lab.stdout.readline() or "[]")
            # the CA the lab prints for the module side: the installed package's copy
            assert Path(endpoint["trust_file"]).is_relative_to(installed.root)
            done = installed.run(
                "locust", "-f", locustfile.stdout.strip(), "--headless", "-u", "10", "-r", "10", "-t", "3s",
                "--host", f"tls://www.example.test:{endpoint['port']}", "--nl668-resolve", "www.example.test=127.0.0.1",
                "--nl668-trust", endpoint["trust_file"], "--nl668-at", "AT+GTSSLVER=4;+GTSSLCIPHER=7,1",
                "--json-file", "fleet", "--only-summary", timeout=120)
        finally:
            lab.terminate()
            lab.wait(10)
    stats = {(e["method"], e["name"]): e for e in json.loads((installed.work / "fleet.json").read_text())}
    handshakes = stats[("TLS", "+MIPOPEN handshake")]
    assert handshakes["num_requests"] >= 10 and handshakes["num_failures"] == 0, done.stderr[-3000:]
    assert done.returncode == 0


def test_host_project_suite_passes_against_the_installed_plugin(installed: Venv) -> None:
    project = installed.work / "host-project"
    shutil.copytree(REPO / "examples" / "host-project", project)
    done = subprocess.run([str(installed.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=project, env=installed.env(PYTHONPATH=str(project)), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout


def _broken_copy(installed: Venv, missing: str) -> Path:
    """The installed package copied aside without one shipped file or directory (a damaged install)."""
    copy = installed.work / f"broken-{missing.replace('/', '-')}-{time.monotonic_ns()}"
    shutil.copytree(installed.site_package(), copy / "emulator")
    target = copy / "emulator" / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    return copy


def test_no_profile_anywhere_is_an_error_not_an_empty_list(installed: Venv) -> None:
    broken = _broken_copy(installed, "data/profiles")
    done = installed.run(str(installed.bin / "python"), "-m", "emulator", "--list-profiles", PYTHONPATH=str(broken))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "no profile found" in done.stderr and "NL668_PROFILES" in done.stderr
    assert "Traceback" not in done.stderr
    # a user directory is still searched first, and then is enough
    own = installed.work / "my-profiles"
    own.mkdir(exist_ok=True)
    shutil.copy(REPO / "profiles" / "NL668_EAU.toml", own)  # listing reads names; loading would want its family
    done = installed.run(str(installed.bin / "python"), "-m", "emulator", "--list-profiles",
                         PYTHONPATH=str(broken), NL668_PROFILES=str(own))
    assert (done.returncode, done.stdout.split()) == (0, ["NL668_EAU"]), done.stderr


def test_a_missing_pki_file_is_one_line_and_exit_2(installed: Venv) -> None:
    broken = _broken_copy(installed, "data/certs/server.key")
    done = installed.run(str(installed.bin / "python"), "-m", "emulator.lab.cli", "--scenario", "valid",
                         PYTHONPATH=str(broken))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "server.key" in line and "reinstall" in line


def test_installed_run_wrapper_builds_the_preload_and_gives_a_host_its_modem_lines(installed: Venv) -> None:
    """`nl668-emu run` from the wheel: the C preload is compiled on first use (no make here) into the user's
    cache, and an unmodified pyserial host sets DTR/RTS on the PTY and gets OK."""
    host = installed.work / "host.py"
    host.write_text(
        "import os, serial\n"
        "port = serial.Serial(os.environ['NL668_DEVICE'], 115200, timeout=5)\n"
        "port.dtr = False; port.rts = False; port.dtr = True; port.rts = True\n"
        "port.write(b'AT\\r\\n')\n"
        "print(port.cts, port.dsr, port.read_until(b'OK\\r\\n').endswith(b'OK\\r\\n'))\n"
    )
    cache = installed.work / "cache"
    done = installed.run("nl668-emu", "run", "--profile", "M910", "--", str(installed.bin / "python"), str(host),
                         XDG_CACHE_HOME=str(cache))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]
    assert list(cache.rglob("*.so")), "the preload library was not built into the cache"


def test_installed_trace_view_renders_a_trace_of_an_installed_module(installed: Venv) -> None:
    trace = installed.work / "session.jsonl"
    script = f"""
from emulator import AtClient, RunningModule
with RunningModule("NL668_AM_00", trace_path={str(trace)!r}) as module:
    with module.open_serial() as port:
        AtClient(port).command("AT+GTSSLVER?")
"""
    made = installed.python(script)
    assert made.returncode == 0, made.stderr
    page = installed.work / "session.html"
    done = installed.run("nl668-emu", "trace-view", str(trace), "-o", str(page))
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert "+GTSSLVER: 2" in html and "<script" in html

"""The examples a user copies: the C host against a PTY, and the host project's suite from this checkout.

(tests/packaging/test_installed.py runs the host project again from a built wheel, outside the repository.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.runtime.running import RunningModule
from emulator.servers.tls_servers import TlsServer

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def c_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "a C compiler (cc) is needed to build examples/c-host"
    binary = tmp_path_factory.mktemp("c-host") / "nl668_host"
    subprocess.run(
        [compiler, "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-o", str(binary),
         str(EXAMPLES / "c-host" / "nl668_host.c")],
        check=True, capture_output=True, timeout=60,
    )
    return binary


def test_the_c_host_runs_the_manual_session_on_a_pty(c_host: Path) -> None:
    with TlsServer() as server, RunningModule(
        "NL668_AM_00", resolve=[f"www.baidu.com:443=127.0.0.1:{server.port}"]
    ) as running:
        done = subprocess.run([str(c_host), running.device_path], capture_output=True, text=True, timeout=60)
        handshakes = server.wait_handshakes(1)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()
    assert out[-1] == "PASS"
    # what the module answered, as the manual prints it (§2.6 example 1)
    for line in ("< +GTSSLFILE: TRUSTFILE,0", "< +GTSSLMODE: 0", "< +MIPOPEN: 1,1", "< +MIPCLOSE: 1,1"):
        assert line in out
    assert handshakes[0].error is None and handshakes[0].version == "TLSv1", handshakes[0]  # a real handshake


def test_the_c_host_reports_a_failed_open(c_host: Path) -> None:
    """Negative control: nothing listens behind the name, so the host must say FAIL (exit 1)."""
    with RunningModule("NL668_AM_00", resolve=["www.baidu.com:443=127.0.0.1:9"]) as running:
        done = subprocess.run([str(c_host), running.device_path], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "< +MIPOPEN: 1,0" in done.stdout.splitlines()


def test_the_host_projects_suite_passes_from_the_checkout(tmp_path: Path) -> None:
    project = tmp_path / "host-project"
    shutil.copytree(EXAMPLES / "host-project", project)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=project, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(project)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout

"""Modem-control lines on the PTY (issue 11, defect 3): unmodified hosts set DTR/RTS and read CTS/DSR/CD.

The hosts are real programs in subprocesses (tests/frontends/modemctl_hosts/): a pyserial script and
a C program compiled here with the system ``cc``, run under ``nl668-emu run --`` and under
:meth:`RunningModule.host_env`, with the real preload library built by emulator/modemctl/build.py.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from emulator.modemctl import build
from emulator.modemctl.build import BuildError, library_path
from emulator.modemctl.lines import HOST_ENV_PREFIX, merge_env
from emulator.runtime.running import RunningModule
from tests.frontends.helpers import TIMEOUT, exits_within, serving

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("cc") is None, reason="the preload library needs a C compiler"),
]

HOSTS = Path(__file__).with_name("modemctl_hosts")
PYSERIAL_HOST = HOSTS / "host_pyserial.py"
ALL_ON = {"cts": True, "dsr": True, "cd": True, "ri": False}
#: TIOCM_DTR|RTS (0x6) with CTS|CAR|DSR (0x160): a powered module's UART, as RFC 2217's front end says
BITS_ALL, BITS_MODULE_ONLY, BITS_RTS_ONLY = 0x166, 0x160, 0x164


def run_wrapper(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``nl668-emu run ARGS`` as a user types it (stdout is the host's; the banner goes to stderr)."""
    return subprocess.run(
        [sys.executable, "-bb", "-m", "emulator", "run", *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )


def run_host(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], capture_output=True, text=True, timeout=60, env=env, check=False)


def steps(stdout: str) -> dict[str, tuple[int, int, int]]:
    """host_tiocm's lines ``STEP rc=R errno=E bits=0xB`` -> {STEP: (R, E, B)}."""
    found = {}
    for line in stdout.splitlines():
        step, *fields = line.split()
        values = dict(f.split("=") for f in fields)
        found[step] = (int(values["rc"]), int(values["errno"]), int(values["bits"], 16))
    return found


@pytest.fixture(scope="module")
def c_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """host_tiocm.c, compiled as any C host is: nothing in it knows about the emulator."""
    binary = tmp_path_factory.mktemp("c-host") / "host_tiocm"
    subprocess.run(["cc", "-Wall", "-o", str(binary), str(HOSTS / "host_tiocm.c")], check=True, timeout=60)
    return binary


@pytest.fixture
def other_pty() -> Iterator[str]:
    """A PTY that is not the emulator's: the library must leave it alone."""
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def test_without_the_library_the_pty_refuses_modem_ioctls() -> None:
    """The defect as a host meets it: pyserial's setters raise ENOTTY on a bare PTY (the library's reason)."""
    with RunningModule() as running, running.open_serial() as port:
        with pytest.raises(OSError) as raised:
            port.dtr = False
        assert raised.value.errno == errno.ENOTTY


def test_pyserial_host_under_the_run_wrapper() -> None:
    done = run_wrapper("--profile", "M910", "--control", "127.0.0.1:0", "--", sys.executable, str(PYSERIAL_HOST))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["off"] == report["on"] == ALL_ON
    assert report["at"].endswith("\r\nOK\r\n")
    banner = done.stderr.splitlines()  # the whole banner, for the user, and only that
    assert banner[0].startswith("NL668 emulator (M910) on /dev/pts/")
    assert banner[1].startswith("NL668 control on 127.0.0.1:") and len(banner) == 2


def test_pyserial_host_under_running_module_env() -> None:
    with RunningModule("NL668_EU_00") as running:
        done = run_host(running.host_env(), sys.executable, str(PYSERIAL_HOST), running.device_path)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["off"] == report["on"] == ALL_ON
        assert report["at"] == "AT\r\r\nOK\r\n"
        lines = running.modem_lines
        assert lines is not None
        assert running.call(lambda: (lines.dtr, lines.rts)) == (True, True)  # what the host left


def test_c_host_toggles_the_lines_and_other_fds_are_untouched(c_host: Path, other_pty: str) -> None:
    with RunningModule() as running:
        done = run_host(running.host_env(), str(c_host), running.device_path, other_pty)
        assert done.returncode == 0, done.stderr
        got = steps(done.stdout)
        assert got["GET"] == (0, 0, BITS_ALL)
        assert got["BIC"][0] == 0 and got["GET-OFF"] == (0, 0, BITS_MODULE_ONLY)
        assert got["BIS"][0] == 0 and got["GET-ON"] == (0, 0, BITS_ALL)
        assert got["SET"][0] == 0 and got["GET-SET"] == (0, 0, BITS_RTS_ONLY)
        lines = running.modem_lines
        assert lines is not None
        assert running.call(lambda: (lines.dtr, lines.rts)) == (False, True)
        # Other ioctls on the emulator's PTY reach the kernel (FIONREAD: the boot URC is waiting) ...
        assert got["FIONREAD"][:2] == (0, 0) and got["FIONREAD"][2] > 0
        # ... and other descriptors keep their answer: ENOTTY on another PTY and on a pipe.
        assert got["OTHER"] == (-1, errno.ENOTTY, 0)
        assert got["PIPE"] == (-1, errno.ENOTTY, 0)


def test_c_host_without_the_library_gets_enotty(c_host: Path) -> None:
    """The baseline the library changes: the same binary, no preload."""
    with RunningModule() as running:
        got = steps(run_host(dict(os.environ), str(c_host), running.device_path).stdout)
        assert got["GET"] == got["BIC"] == (-1, errno.ENOTTY, 0)


def test_dtr_drop_power_cycles_under_the_wrapper() -> None:
    """``--dtr-drop power-cycle`` on the PTY as on RFC 2217: the module reboots and forgets its SSL settings."""
    done = run_wrapper("--dtr-drop", "power-cycle", "--", sys.executable, str(PYSERIAL_HOST), "", "drop-reboots")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "+SIM READY\r\n" in report["first boot"]  # the usual dtr=False/True after open reboots it too
    assert report["at"].endswith("\r\nOK\r\n") and report["set"].endswith("OK\r\n")
    assert "+SIM READY\r\n" in report["boot"]
    assert "+GTSSLMODE: 0\r\n" in report["after"]


def test_dtr_drop_power_cycles_a_running_module() -> None:
    with RunningModule(dtr_drop="power-cycle") as running:
        report = json.loads(
            run_host(running.host_env(), sys.executable, str(PYSERIAL_HOST), running.device_path, "drop-reboots").stdout
        )
    assert "+SIM READY\r\n" in report["boot"] and "+GTSSLMODE: 0\r\n" in report["after"]


def test_dtr_drop_is_ignored_by_default() -> None:
    with RunningModule() as running:
        done = run_host(running.host_env(), sys.executable, str(PYSERIAL_HOST), running.device_path, "drop-ignored")
    assert done.returncode == 0, done.stderr
    assert "+GTSSLMODE: 1\r\n" in json.loads(done.stdout)["after"]


def test_exit_status_of_the_host_is_the_wrappers() -> None:
    assert run_wrapper("--", sys.executable, "-c", "import sys; sys.exit(7)").returncode == 7
    assert run_wrapper("--", "sh", "-c", 'test -e "$NL668_DEVICE" && kill -TERM $$').returncode == 128 + 15
    missing = run_wrapper("--", "/nonexistent/host")
    assert missing.returncode == 127 and "command not found" in missing.stderr


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_the_emulator_dies_with_a_killed_wrapper() -> None:
    wrapper = subprocess.Popen([sys.executable, "-m", "emulator", "run", "--", "sh", "-c", "echo up; exec sleep 60"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert wrapper.stdout is not None
    children: list[int] = []
    try:
        assert wrapper.stdout.readline() == b"up\n"  # the host runs once the emulator serves its PTY
        children = _children(wrapper.pid)
        assert len(children) == 2  # the emulator and the host
        wrapper.kill()  # no chance to stop the emulator itself
        wrapper.wait(TIMEOUT)
        emulator = next(pid for pid in children if b"--print-host-env" in Path(f"/proc/{pid}/cmdline").read_bytes())
        assert exits_within(emulator), "the emulator outlived the wrapper"  # the kernel's SIGTERM (PR_SET_PDEATHSIG)
    finally:
        wrapper.kill()
        for pid in children:  # the host (sleep), orphaned by the kill, holds the pipe open
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wrapper.communicate(timeout=TIMEOUT)


def test_wrapper_usage_and_emulator_errors() -> None:
    assert run_wrapper("--profile", "M910").returncode == 2  # no --
    assert run_wrapper("--").returncode == 2  # no command
    refused = run_wrapper("--tcp", "127.0.0.1:0", "--", "true")
    assert refused.returncode == 2 and "--tcp cannot be used with run" in refused.stderr
    assert run_wrapper("--rfc", "127.0.0.1:0", "--", "true").returncode == 2  # argparse's prefix of --rfc2217
    bad = run_wrapper("--profile", "NO_SUCH", "--", "true")  # the emulator's own error and status
    assert bad.returncode == 2 and "NO_SUCH" in bad.stderr


def test_wrapper_appends_to_an_existing_preload_and_exports_the_device(tmp_path: Path) -> None:
    link = tmp_path / "ttyNL668"
    env = dict(os.environ, LD_PRELOAD=str(library_path()))  # any library already preloaded stays first
    script = 'echo "$LD_PRELOAD|$NL668_DEVICE|$NL668_MODEMCTL_DEVICE"'
    done = run_wrapper("--pty", str(link), "--", "sh", "-c", script, env=env)
    assert done.returncode == 0, done.stderr
    preload, device, pts = done.stdout.strip().split("|")
    assert preload == str(library_path())  # ours is not added twice
    assert device == str(link) and pts.startswith("/dev/pts/")
    assert merge_env({"LD_PRELOAD": "libfoo.so"}, {"LD_PRELOAD": "/x/lib.so"})["LD_PRELOAD"] == "libfoo.so:/x/lib.so"


def test_print_host_env_serves_a_host_started_elsewhere(c_host: Path) -> None:
    with serving("--print-host-env", lines=2) as (_, banner):
        assert banner[1].startswith(HOST_ENV_PREFIX)
        host_vars = dict(word.split("=", 1) for word in shlex.split(banner[1][len(HOST_ENV_PREFIX):]))
        device = banner[0].split(" on ")[1]
        assert host_vars["NL668_MODEMCTL_DEVICE"] == host_vars["NL668_DEVICE"] == device
        done = run_host(merge_env(os.environ, host_vars), str(c_host), device)
        assert steps(done.stdout)["GET-OFF"] == (0, 0, BITS_MODULE_ONLY)


def test_tiocmiwait_waits_until_the_emulator_stops(c_host: Path) -> None:
    """The module's lines never change, so TIOCMIWAIT blocks; when the emulator goes, EIO (a hung-up tty's)."""
    running = RunningModule()
    try:
        with subprocess.Popen(
            [str(c_host), running.device_path, "wait"], env=running.host_env(), stdout=subprocess.PIPE, text=True
        ) as host:
            assert host.stdout is not None
            assert host.stdout.readline() == "waiting\n"
            with selectors.DefaultSelector() as sel:
                sel.register(host.stdout, selectors.EVENT_READ)
                assert sel.select(0.3) == []  # still waiting (a bounded poll, not a synchronisation)
            running.close()
            out, _ = host.communicate(timeout=TIMEOUT)
        assert steps(out)["TIOCMIWAIT"] == (-1, errno.EIO, 0)
    finally:
        running.close()


def test_host_env_needs_a_pty() -> None:
    with RunningModule(front_end="tcp") as running, pytest.raises(TypeError):
        running.host_env()


def test_no_c_compiler_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = dict(os.environ, CC=str(tmp_path / "no-such-cc"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = run_wrapper("--", "true", env=env)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and "no C compiler" in done.stderr
    monkeypatch.setenv("CC", env["CC"])
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    with RunningModule() as running, pytest.raises(BuildError, match="no C compiler"):
        running.host_env()


def test_library_is_built_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = library_path()
    assert built.parent == tmp_path / "nl668-emulator" and built.is_file()
    stamp = built.stat().st_mtime_ns
    monkeypatch.setenv("CC", "false")  # a second use must not compile again
    assert library_path() == built and built.stat().st_mtime_ns == stamp
    assert [p.name for p in built.parent.iterdir()] == [built.name]  # no temporary left behind
    assert build.SOURCE.is_file()


def test_a_failing_compiler_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", "false")
    with pytest.raises(BuildError, match="failed"):
        library_path()
    assert list((tmp_path / "nl668-emulator").iterdir()) == []

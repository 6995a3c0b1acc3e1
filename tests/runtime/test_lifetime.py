"""die_with_parent (emulator/runtime/lifetime.py): a forked child whose parent already died ends itself, and one
whose parent is alive lives on, even where that parent is PID 1 (a container's entry point)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration

#: a child forked (multiprocessing's "fork", as --workers) from a parent that stays alive; prints how it ended
CHILD_OF_A_LIVE_PARENT = textwrap.dedent("""
    import multiprocessing, os
    from emulator.runtime.lifetime import die_with_parent

    def child(conn):
        die_with_parent()
        conn.send("alive")

    if __name__ == "__main__":
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=child, args=(send,))
        proc.start()
        send.close()
        said = receive.recv() if receive.poll(10) else None
        proc.join(10)
        print(os.getpid(), said, proc.exitcode)
""")

#: a child whose parent exits at once: it waits to be re-parented, then calls die_with_parent (the race the
#: check covers, made certain); "survived" on stdout means it was not ended
CHILD_OF_A_DEAD_PARENT = textwrap.dedent("""
    import os, sys, time
    from emulator.runtime.lifetime import die_with_parent

    parent = os.getpid()
    if os.fork() == 0:
        deadline = time.monotonic() + 10
        while os.getppid() == parent and time.monotonic() < deadline:  # deadline-bound: the parent's exit
            time.sleep(0.01)
        die_with_parent()  # a signal a process sends itself is delivered before kill() returns (POSIX)
        sys.stdout.write("survived")
        sys.stdout.flush()
        os._exit(0)
    os._exit(0)
""")


def run(args: list[str]) -> str:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout


def test_a_child_whose_parent_died_before_the_prctl_ends_itself() -> None:
    # stdout stays open until the re-parented child ends too, so this read waits for it
    assert run([sys.executable, "-c", CHILD_OF_A_DEAD_PARENT]) == ""


def test_a_child_of_a_live_parent_lives_on() -> None:
    pid, said, code = run([sys.executable, "-c", CHILD_OF_A_LIVE_PARENT]).split()
    assert (said, code) == ("alive", "0")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare(1)")
def test_a_child_of_pid_1_lives_on() -> None:
    # `docker run ... nl668-emu --workers 2`: the parent is PID 1 and alive. Before, a parent pid of 1 was
    # taken for "re-parented": every worker ended itself at start-up.
    pid, said, code = run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c",
                           CHILD_OF_A_LIVE_PARENT]).split()
    assert (pid, said, code) == ("1", "alive", "0")

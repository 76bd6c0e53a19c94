"""`stop_processes`: how the sandbox stops processes, as a machine shuts down (SIGTERM, a grace, SIGKILL)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from weatherballoon.sandbox.system import pid_alive, stop_process, stop_processes

TRAPS_TERM = "import signal, sys, time\n{handler}\nprint('ready', flush=True)\nwhile True: time.sleep(0.05)\n"


def started(handler: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", TRAPS_TERM.format(handler=handler)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def alive(*procs: subprocess.Popen[str]) -> list[int]:
    return [p.pid for p in procs if p.poll() is None]


def test_sigterm_comes_first_and_a_process_that_handles_it_finishes_its_work(tmp_path: Path) -> None:
    done = tmp_path / "done"
    proc = started(
        f"def bye(*_):\n    time.sleep(0.3)\n    open({str(done)!r}, 'w').write('outputs written')\n    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)"
    )
    started_at = time.monotonic()
    left = stop_processes(lambda: alive(proc), grace_s=5)
    assert left == []
    assert done.read_text() == "outputs written"
    assert proc.returncode == 0
    assert time.monotonic() - started_at < 3, "it returns as soon as the process is gone, not after the grace"


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    proc = started("signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    started_at = time.monotonic()
    assert stop_processes(lambda: alive(proc), grace_s=0.5) == []
    assert time.monotonic() - started_at >= 0.5
    assert proc.returncode == -9


def test_processes_that_keep_appearing_are_killed_until_none_is_left() -> None:
    spawned: list[subprocess.Popen[str]] = []

    def find() -> list[int]:  # a fork bomb in slow motion: every look finds one more, for the first ten looks
        if len(spawned) < 10:
            spawned.append(started("signal.signal(signal.SIGTERM, signal.SIG_IGN)"))
        return alive(*spawned)

    assert stop_processes(find, grace_s=0.2, kill_s=30) == []
    assert not alive(*spawned) and len(spawned) == 10


def test_stop_process_leaves_a_pid_whose_command_line_is_not_the_marker() -> None:
    proc = started("")
    try:
        stop_process(proc.pid, grace_s=0.1, marker="not-this-process")
        assert pid_alive(proc.pid)
        stop_process(proc.pid, grace_s=2, marker="ready")
        proc.wait(5)
        assert proc.returncode == -15
    finally:
        proc.kill()
        proc.wait()

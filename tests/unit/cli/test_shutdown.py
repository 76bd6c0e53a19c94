"""wb ends through its shutdown hooks, then flushed streams, then `os._exit` (no interpreter teardown)."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import atexit, sys
from weatherballoon.cli import shutdown
atexit.register(lambda: print("teardown ran"))
shutdown.on_exit(lambda: print("first registered, runs last"))
@shutdown.on_exit
def broken():
    raise RuntimeError("a hook that fails")
shutdown.on_exit(lambda: print("last registered, runs first"))
sys.stdout.write("buffered, not yet flushed")
shutdown.exit_now(7)
"""


def test_hooks_run_newest_first_a_failing_one_does_not_stop_the_rest_and_teardown_is_skipped() -> None:
    result = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60)
    assert result.returncode == 7, result.stderr
    assert result.stdout.splitlines() == [
        "buffered, not yet flushedlast registered, runs first",
        "first registered, runs last",
    ]
    assert "teardown ran" not in result.stdout and result.stderr == ""


def test_the_prefetch_module_gives_back_its_early_claim_through_a_hook() -> None:
    from weatherballoon.cli import shutdown
    from weatherballoon.cli.session import prefetch

    assert prefetch.release_unused in shutdown._hooks

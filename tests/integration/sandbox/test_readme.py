"""The README's first command, end to end through the sandbox: `wb sandbox up` with compressed times,
`eval "$(wb sandbox env)"`, then plain `wb run` launches an instance in moto, boots its host, runs the command
there and exits with its code. Afterwards supervision ends the instance by itself."""

from __future__ import annotations

from functools import partial

import pytest

from tests.integration.sandbox.support import Sandbox, instance_state
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(120)]


def test_wb_run_through_the_sandbox(sandbox: Sandbox) -> None:
    result = sandbox.wb("run", "--", "python3", "-c", "print('hello from the cloud')", exported=True, timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from the cloud\n"
    failing = sandbox.wb("run", "--", "sh", "-c", "echo to-stderr >&2; exit 7", exported=True, timeout=90)
    assert failing.returncode == 7 and failing.stdout == "" and "to-stderr\n" in failing.stderr

    ran_on = [h for h in sandbox.hosts()["live"] if h["state"] == "ready"]
    assert ran_on, sandbox.hosts()
    # idle 0.1 min and lease 0.2 min: the agent (or the reaper) ends each instance within seconds
    for host in ran_on:
        instance_id = str(host["instance_id"])
        wait_for(partial(terminated, sandbox, instance_id), 45, f"{instance_id} ends once idle")


def terminated(sandbox: Sandbox, instance_id: str) -> bool:
    return instance_state(sandbox, instance_id) == "terminated"

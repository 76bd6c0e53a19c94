"""Every agent command answers a malformed command line alike (remote/agent_io.py):
exit 2, nothing on stdout, and one line on stderr that names the command, the problem and the usage."""

from __future__ import annotations

import pytest

from .conftest import Agent

CASES = [
    (["run", "--job-id", "j", "--cwd", "/tmp", "--bogus", "--", "true"], "run", "unknown option --bogus"),
    (["run", "--job-id", "j", "--spec-stdin"], "run", "no job spec on stdin"),
    (["follow"], "follow", "expected ID"),
    (["follow", "j", "--no-wait=yes"], "follow", "--no-wait takes no value"),
    (["signal", "j"], "signal", "expected ID SIGNAME"),
    (["signal", "j", "NOSUCH"], "signal", "unknown signal"),
    (["list", "extra"], "list", "expected no arguments"),
    (["status"], "status", "expected ID"),
    (["sync-scan"], "sync-scan", "expected ROOT"),
    (["sync-scan", "a", "--protect"], "sync-scan", "--protect needs a value"),
    (["sync-apply", "a", "b"], "sync-apply", "expected ROOT"),
    (["sync-apply", "a", "--apply"], "sync-apply", "unknown option --apply"),
    (["outputs-pack", "root"], "outputs-pack", "expected ROOT GLOB..."),
    (["daemon"], "daemon", "give exactly one of --ensure, --foreground, --status"),
    (["daemon", "--ensure", "--status"], "daemon", "give exactly one"),
    (["claim", "not-a-token!"], "claim", "TOKEN must be letters and digits"),
    (["claim", "abc", "--margin", "-1"], "claim", "--margin wants seconds"),
    (["version", "extra"], "version", "expected no arguments"),
    (["no-such-command"], "agent", "unknown command 'no-such-command'"),
]


@pytest.mark.parametrize(("argv", "command", "problem"), CASES, ids=[" ".join(argv) for argv, _, _ in CASES])
def test_a_malformed_command_line_is_one_line_and_exit_2(agent: Agent, argv: list, command: str, problem: str) -> None:
    result = agent(*argv)
    said = result.stderr.decode()
    assert (result.returncode, result.stdout) == (2, b""), said
    assert said.startswith(f"wb-agent: {command}: {problem}") and said.count("\n") == 1, said
    assert f"; usage: agent {command if command != 'agent' else '{'}" in said

"""Which command lines the keeper runs inside `agent serve` (cli/keeper/remote_mux.py): exactly the agent's."""

from __future__ import annotations

from weatherballoon.cli.keeper.remote_mux import agent_line
from weatherballoon.cli.session.agent import RemoteAgent
from weatherballoon.cli.session.bundle import agent_bundle


def _agent(python: str = "python3") -> RemoteAgent:
    return RemoteAgent(session=None, python=python, bundle=agent_bundle())  # type: ignore[arg-type]


def test_an_agent_command_line_is_taken_apart_exactly() -> None:
    agent = _agent()
    args = ["run", "--job-id", "j 1", "--outputs", "out/*", "wb-hex:zz", "it's"]
    line = agent_line(agent.command_line(args))
    assert line is not None
    assert (line.python, line.flags) == ("python3", ("-I", "-S"))
    assert line.bundle == agent.path
    assert line.args[0] == "run" and line.args[2] == "j 1" and line.args[-1] == "it's"
    assert line.args[-2].startswith("wb-hex:")  # an argument that starts with the prefix travels escaped


def test_a_named_interpreter_keeps_its_own_flags() -> None:
    line = agent_line(_agent("/opt/py/bin/python3").command_line(["list"]))
    assert line is not None and (line.python, line.flags, line.args) == ("/opt/py/bin/python3", ("-I",), ("list",))


def test_the_installed_check_is_recognized_and_marked() -> None:
    agent = _agent()
    line = agent_line(agent.checked_command_line(["sync-scan", "~/wb/p"]))
    assert line is not None and line.checked and line.args == ("sync-scan", "~/wb/p")
    plain = agent_line(agent.command_line(["sync-scan", "~/wb/p"]))
    assert plain is not None and not plain.checked


def test_anything_else_gets_a_channel_of_its_own() -> None:
    agent = _agent()
    altered = agent.checked_command_line(["list"]).replace("exit 197", "exit 0")
    assert agent_line(altered) is None  # a check that is not exactly ours
    assert agent_line("echo hi") is None
    assert agent_line("exec python3 -c 'print(1)'") is None
    assert agent_line('exec python3 -I -c x "/tmp/elsewhere" list') is None
    assert agent_line('exec env X=1 python3 -I -c x "$HOME/.weatherballoon/agent/a" list') is None

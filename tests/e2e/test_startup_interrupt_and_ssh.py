"""Real processes for issue 9's misleading messages: a Ctrl-C while wb is still starting, `wb ssh HOST --
CMD` (the documented form), and a config cost cap the ssh provider cannot enforce."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.project import Project

# Installs an import hook that sends this process a real SIGINT when `module` is first imported, then runs
# the console script's entry point: a Ctrl-C at that exact moment of start-up.
HOOKED = """
import os, signal, sys
module = sys.argv.pop(1)
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, CtrlC())
from weatherballoon.cli.entry import main
main()
"""


@pytest.mark.parametrize(
    "module",
    [
        "weatherballoon.cli.session.prefetch",  # the first thing the entry point imports
        "click",  # the CLI framework, while it loads
        "weatherballoon.cli.main",
        "weatherballoon.cli.commands.run",  # the command itself
        "weatherballoon.cli.config.loader",
        "pydantic",  # validating the config
    ],
)
def test_ctrl_c_while_starting_is_a_quiet_130(project: Project, module: str) -> None:
    """A Ctrl-C in the first 50 ms printed a traceback."""
    result = subprocess.run(
        [sys.executable, "-c", HOOKED, module, "run", "--", "true"],
        cwd=project.root,
        env={**project.env(), "WB_PREFETCH": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr
    assert "wb: interrupted" in result.stderr


def test_wb_ssh_host_double_dash_command(project: Project) -> None:
    """The documented form failed with `bash: --: invalid option`."""
    assert project.host is not None
    result = project.wb("ssh", project.host.spec, "--", "echo", "a b", "$HOME")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"a b $HOME\n"  # several words are an argv, passed exactly
    result = project.wb("ssh", project.host.spec, "--", "exit 7")
    assert result.returncode == 7


def test_a_config_cost_cap_on_the_ssh_provider_is_warned_about(project: Project) -> None:
    """It was silently ignored (issue 10): the run goes on, and says the cap is not enforced."""
    project.extra_env["WB_MAX_COST_USD"] = "5"
    result = project.wb("run", "--", "echo", "ran")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ran\n"
    assert b"supervision.maxCostUsd is not enforced: the ssh provider cannot enforce a cost cap" in result.stderr
    quiet = project.wb("-q", "run", "--", "true")
    assert b"is not enforced" in quiet.stderr  # a warning, not a notice: --quiet keeps it

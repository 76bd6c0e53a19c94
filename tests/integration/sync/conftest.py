"""The real agent as a local subprocess, reached through the same `AgentRunner` protocol as over SSH.

The agent is the shipped zipapp (`agent_bundle()`), run by the oldest python3 >= 3.8 on this machine
(the floor the remote side promises) with `-I -S`, as `RemoteAgent` runs it. Its HOME is a separate
"remote home" per test, so `~/wb/<project>` and `~/.weatherballoon` never touch the client's files.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from weatherballoon.cli.session.bundle import agent_bundle


def remote_python() -> str:
    """$WB_TEST_REMOTE_PYTHON, else a real python3.8 (pyenv's, or the system's), else the system python3."""
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [
        os.environ.get("WB_TEST_REMOTE_PYTHON", ""),
        *sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.8*", "bin", "python3.8"))),
        "/usr/bin/python3.8",
        "/usr/bin/python3",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


@dataclass
class LocalAgentRunner:
    """Satisfies `cli.session.process.AgentRunner`: `runner(["sync-scan", root])` starts the agent."""

    agent: Path
    home: Path
    python: str = field(default_factory=remote_python)
    started: list[list[str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}

    def __call__(self, args: list[str]) -> subprocess.Popen[bytes]:
        self.started.append(list(args))
        return subprocess.Popen(
            [self.python, "-I", "-S", str(self.agent), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.home,
        )

    def run(self, *args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [self.python, "-I", "-S", str(self.agent), *args],
            input=input,
            capture_output=True,
            env=self.env,
            cwd=self.home,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="session")
def agent_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = agent_bundle()
    path = tmp_path_factory.mktemp("agent") / f"{bundle.name}.pyz"
    path.write_bytes(bundle.data)
    return path


@pytest.fixture
def remote_home(tmp_path: Path) -> Path:
    home = tmp_path / "remote-home"
    home.mkdir()
    return home


@pytest.fixture
def runner(agent_zip: Path, remote_home: Path) -> LocalAgentRunner:
    return LocalAgentRunner(agent_zip, remote_home)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty git repository (with git isolated from this machine's config) to sync from."""
    git_home = tmp_path / "git-home"
    git_home.mkdir()
    (git_home / "gitconfig").write_text("[user]\n\tname = wb test\n\temail = wb@example.invalid\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(git_home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    root = tmp_path / "proj"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root

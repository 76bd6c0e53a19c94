"""A user's project folder wired to a test sshd, and a way to run the real `wb` binary in it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.sshd import SshdHost

WB = str(Path(sys.executable).parent / "wb")


@dataclass
class Project:
    root: Path
    data_dir: Path
    host: SshdHost | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # The project's own keepers' folder (short: Unix socket paths are limited), so tests never share keepers.
    runtime_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="wbk-")))

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("WB_", "AWS_"))}
        env.update({"WB_DATA_DIR": str(self.data_dir), "SSH_AUTH_SOCK": "", "PYTHONUNBUFFERED": "1"})
        env["WB_RUNTIME_DIR"] = str(self.runtime_dir)
        # The connection keeper is off unless a test turns it on (or KEEPER_TEST_MINUTES turns it on for all).
        env["WB_KEEP_CONNECTION_MINUTES"] = os.environ.get("KEEPER_TEST_MINUTES", "0")
        env.update(self.extra_env)
        return env

    def keeper_pids(self) -> list[int]:
        return keeper_pids(self.runtime_dir)

    def imports_of(self, *argv: str) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
        """Run `python -X importtime ARGV...` here; the result and every module that process imported."""
        result = subprocess.run(
            [sys.executable, "-X", "importtime", *argv], cwd=self.root, env=self.env(), capture_output=True, timeout=60
        )
        lines = result.stderr.decode(errors="replace").splitlines()
        return result, {line.split("|")[-1].strip() for line in lines if line.startswith("import time:")}

    def keeper_log(self) -> Path:
        """The log of this project's one keeper (not the warm client's `warm.log`)."""
        (log,) = (path for path in (self.runtime_dir / "keepers").glob("*.log") if path.name != "warm.log")
        return log

    def warm_client_pids(self) -> list[int]:
        return warm_client_pids(self.runtime_dir)

    def stop_keepers(self) -> None:
        for pid in self.keeper_pids() + self.warm_client_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def wb(
        self,
        *args: str,
        input: bytes | None = None,
        timeout: float = 60,
        cwd: Path | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [WB, *args],
            cwd=cwd or self.root,
            env=self.env(),
            input=input if input is not None else b"",
            capture_output=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"wb {' '.join(args)} exited {result.returncode}: {result.stderr.decode()}")
        return result

    def popen(self, *args: str, start_new_session: bool = False) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [WB, *args],
            cwd=self.root,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=start_new_session,
        )

    def write_config(self, **provisioner: object) -> Path:
        assert self.host is not None
        config = {
            "provisioner": {
                "kind": "ssh",
                "hosts": [self.host.spec],
                "identityFile": str(self.host.identity),
                "knownHostsFile": str(self.host.known_hosts),
                **provisioner,
            },
            "sync": {"outputs": ["out/**"]},
        }
        path = self.root / ".weatherballoon.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True)

    @property
    def remote_root(self) -> Path:
        """The default remote root, `~/wb/<folder>-<id>`, as wb computes it with this project's data dir."""
        assert self.host is not None
        from weatherballoon.cli.sync.ownership import default_remote_root

        saved = os.environ.get("WB_DATA_DIR")
        os.environ["WB_DATA_DIR"] = str(self.data_dir)
        try:
            relative = default_remote_root(self.root).removeprefix("~/")
        finally:
            if saved is None:
                del os.environ["WB_DATA_DIR"]
            else:
                os.environ["WB_DATA_DIR"] = saved
        return self.host.user.home / relative


def make_project(tmp_path: Path, host: SshdHost | None, *, name: str | None = None, git: bool = True) -> Project:
    # The folder name starts the remote root's name (~/wb/<name>-<id>): unique per test, so tests sharing
    # a host never see each other's files.
    root = tmp_path / (name or f"proj-{tmp_path.name}")
    root.mkdir()
    data = tmp_path / "wb-data"
    project = Project(root=root, data_dir=data, host=host)
    if git:
        project.git("init", "-q")
        project.git("config", "user.email", "t@example.com")
        project.git("config", "user.name", "t")
    if host is not None:
        project.write_config()
    return project


def keeper_pids(runtime_dir: Path) -> list[int]:
    """The keepers started with WB_RUNTIME_DIR=`runtime_dir` that still run (their logs name them)."""
    pids = []
    for log in (runtime_dir / "keepers").glob("*.log"):
        for word in log.read_text().split():
            if word.startswith("keeper[") and word.endswith("]:"):
                pid = int(word[len("keeper[") : -2])
                if _alive(pid):
                    pids.append(pid)
    return sorted(set(pids))


def warm_client_pids(runtime_dir: Path) -> list[int]:
    """The warm clients (keeper/fork_server.py) started with WB_RUNTIME_DIR=`runtime_dir` that still run."""
    pids = []
    for log in (runtime_dir / "keepers").glob("warm.log"):
        for word in log.read_text().split():
            if word.startswith("warm-client[") and word.endswith("]:"):
                pid = int(word[len("warm-client[") : -2])
                if _alive(pid):
                    pids.append(pid)
    return sorted(set(pids))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][:1] not in ("Z", "X")
    except OSError:
        return False

"""The run's own `wb` clients: real `wb run` processes (`python -m weatherballoon.cli`, the installed wb), in a
project folder of the run's own, with a config file of their own and a data dir of their own (their SSH keys,
warm-machine notes and job index), so they neither read nor touch the user's project or wb state.

Each client's stdout and stderr are collected as they arrive and kept in the run's log folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# The user's WB_* settings would override the run's config file (the merge order puts the environment first);
# only these two, which change no setting, pass through.
PASSED_WB = ("WB_DEBUG", "WB_TRACE")
CONFIG_NAME = ".weatherballoon.json"


@dataclass(frozen=True)
class ClientSettings:
    """What the run's clients are configured with (written as their `.weatherballoon.json`)."""

    region: str
    stack: str
    instance_type: str
    connect: str
    username: str
    root_volume_gb: int
    lease_minutes: float
    idle_minutes: float
    max_hours: float
    ami: str | None = None
    cred: str | None = None  # an absolute path

    def document(self) -> dict[str, Any]:
        provisioner: dict[str, Any] = {
            "kind": "aws",
            "region": self.region,
            "stack": self.stack,
            "instanceType": self.instance_type,
            "spot": False,
            "connect": self.connect,
            "rootVolumeGb": self.root_volume_gb,
            "os": {"username": self.username, **({"ami": self.ami} if self.ami else {})},
        }
        if self.cred:
            provisioner["cred"] = self.cred
        return {
            "version": 1,
            "provisioner": provisioner,
            "tag": "wb-doctor",
            "supervision": {
                "leaseMinutes": self.lease_minutes,
                "idleMinutes": self.idle_minutes,
                "maxHours": self.max_hours,
            },
        }


class Client:
    """One `wb` process. Started in a session of its own, so a Ctrl-C meant for the doctor is not also
    forwarded by it to a remote job; the doctor ends it."""

    def __init__(self, args: tuple[str, ...], proc: subprocess.Popen[bytes], logs: tuple[IO[bytes], IO[bytes]]) -> None:
        self.args = args
        self.proc = proc
        self.started_at = time.time()
        self.ended_at: float | None = None
        self.out = bytearray()
        self.err = bytearray()
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._collect, args=(proc.stdout, self.out, logs[0]), daemon=True),
            threading.Thread(target=self._collect, args=(proc.stderr, self.err, logs[1]), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream: Any, into: bytearray, log: IO[bytes]) -> None:
        with log:
            while chunk := stream.read1(65536):
                into.extend(chunk)
                log.write(chunk)
                log.flush()

    @property
    def stdout(self) -> str:
        return self.out.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.decode(errors="replace")

    @property
    def returncode(self) -> int | None:
        code = self.proc.poll()
        if code is not None and self.ended_at is None:
            self.ended_at = time.time()
            for reader in self._readers:
                reader.join(10)
        return code

    def kill(self) -> float:
        """SIGKILL (TerminateProcess on Windows): the client dies at once, without a word to anyone."""
        at = time.time()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.returncode  # noqa: B018 -- records the end and drains the readers
        return at

    def describe(self) -> str:
        code = self.returncode
        state = "still running" if code is None else f"exit {code}"
        tail = self.stderr.strip().splitlines()[-3:]
        return f"`wb {' '.join(self.args)}` ({state}): " + " / ".join(tail)


class Workspace:
    """The run's project folder, config and data dir, under the run's log folder."""

    def __init__(self, root: Path, project_name: str, settings: ClientSettings) -> None:
        self.root = root
        self.project = root / "project" / project_name
        self.data_dir = root / "wb-data"
        self.logs = root / "clients"
        self.settings = settings
        self.clients: list[Client] = []

    @property
    def config_file(self) -> Path:
        return self.project / CONFIG_NAME

    def create(self) -> None:
        self.project.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(self.settings.document(), indent=2) + "\n")
        (self.project / "hello.txt").write_text("synced to the machine by wb doctor --live\n")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WB_") or k in PASSED_WB}
        env.update(WB_CONFIG=str(self.config_file), WB_DATA_DIR=str(self.data_dir), PYTHONUNBUFFERED="1")
        return env

    def start(self, label: str, *args: str) -> Client:
        """`wb ARGS` in the project folder; its streams go to `clients/<n>-<label>.stdout|stderr`."""
        stem = self.logs / f"{len(self.clients) + 1}-{label.replace(' ', '-')}"
        logs = (open(f"{stem}.stdout", "wb"), open(f"{stem}.stderr", "wb"))  # noqa: SIM115 -- closed by readers
        proc = subprocess.Popen(
            [sys.executable, "-m", "weatherballoon.cli", *args],
            cwd=self.project,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        client = Client(tuple(args), proc, logs)
        self.clients.append(client)
        return client

    def kill_clients(self) -> None:
        for client in self.clients:
            if client.returncode is None:
                client.kill()

    def remove_private_state(self) -> None:
        """The clients' data dir (their SSH keys) and the project folder; the logs stay."""
        for folder in (self.data_dir, self.project.parent):
            if folder.exists():
                shutil.rmtree(folder)

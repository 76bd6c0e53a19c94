"""The local index of jobs this user started: enough to find a job's machine again from anywhere."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import AmbiguousJob, JobNotFound, UsageError, WbError
from ..paths import private_dir
from ..providers.records import Instance, SshTarget

ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


@dataclass(frozen=True)
class GangNode:
    """One machine of a job run on several (`wb run --nodes N`), as the job's record keeps it."""

    instance_id: str
    target: SshTarget


@dataclass(frozen=True)
class LocalJob:
    id: str
    provider: str
    instance_id: str
    target: SshTarget
    remote_root: str
    command: tuple[str, ...]
    outputs: tuple[str, ...] = ()
    local_root: str = ""
    started_at: float = field(default_factory=time.time)
    # Every rank's machine, rank 0 (the one above) first, for a job on several machines; () for one.
    nodes: tuple[GangNode, ...] = ()

    def instance(self) -> Instance:
        return Instance(id=self.instance_id, provider=self.provider, target=self.target)

    def node_instance(self, rank: int) -> Instance:
        """Rank `rank`'s machine; rank 0 of a one-machine job is its machine."""
        if rank == 0 and not self.nodes:
            return self.instance()
        if not 0 <= rank < max(len(self.nodes), 1):
            ranks = f"0 to {len(self.nodes) - 1}" if self.nodes else "0 (it ran on one machine)"
            raise UsageError(f"job {self.id} has no node {rank}: its ranks are {ranks}")
        node = self.nodes[rank]
        return Instance(id=node.instance_id, provider=self.provider, target=node.target)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LocalJob:
        raw = json.loads(text)
        raw["target"] = SshTarget(**raw["target"])
        raw["command"] = tuple(raw["command"])
        raw["outputs"] = tuple(raw.get("outputs", ()))
        raw["nodes"] = tuple(
            GangNode(instance_id=node["instance_id"], target=SshTarget(**node["target"]))
            for node in raw.get("nodes", ())
        )
        return cls(**raw)


def new_job_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


def _index_dir() -> Path:
    return private_dir("jobs")


def save(record: LocalJob) -> None:
    folder = _index_dir()
    tmp = folder / f".{record.id}.tmp"
    tmp.write_text(record.to_json())
    os.replace(tmp, folder / f"{record.id}.json")


def forget(job_id: str) -> None:
    """Remove a record (of a job that never started)."""
    with contextlib.suppress(FileNotFoundError):
        (_index_dir() / f"{job_id}.json").unlink()


def load(job_id: str) -> LocalJob:
    """The job whose id is `job_id`, or the one job whose id starts with it. Ids are plain text: a `*` or a
    `[` is never a pattern."""
    if not job_id or not set(job_id) <= ID_CHARS:
        raise UsageError(
            f"{job_id!r} is not a job id: ids are letters, digits, '.', '_' and '-' (a unique prefix is enough)",
            hint="list jobs with: wb jobs",
        )
    folder = _index_dir()
    ids = sorted(name[: -len(".json")] for name in os.listdir(folder) if name.endswith(".json") and name[0] != ".")
    matches = [job_id] if job_id in ids else [known for known in ids if known.startswith(job_id)]
    if not matches:
        raise JobNotFound(job_id)
    if len(matches) > 1:
        raise AmbiguousJob(job_id, matches)
    path = folder / f"{matches[0]}.json"
    try:
        return LocalJob.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WbError(
            f"the local record of job {matches[0]} ({path}) cannot be read: {exc}",
            hint=f"the job itself is on its machine; remove the damaged record with: rm {path}",
        ) from None


def all_records() -> list[LocalJob]:
    records = []
    for path in _index_dir().glob("*.json"):
        try:
            records.append(LocalJob.from_json(path.read_text()))
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(records, key=lambda record: record.started_at, reverse=True)

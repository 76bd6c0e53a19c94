"""The local index of jobs this user started: enough to find a job's machine again from anywhere."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import JobNotFound
from ..paths import private_dir
from ..providers.records import Instance, SshTarget


@dataclass(frozen=True)
class JobRecord:
    id: str
    provider: str
    instance_id: str
    target: SshTarget
    remote_root: str
    command: tuple[str, ...]
    outputs: tuple[str, ...] = ()
    local_root: str = ""
    started_at: float = field(default_factory=time.time)

    def instance(self) -> Instance:
        return Instance(id=self.instance_id, provider=self.provider, target=self.target)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        raw = json.loads(text)
        raw["target"] = SshTarget(**raw["target"])
        raw["command"] = tuple(raw["command"])
        raw["outputs"] = tuple(raw.get("outputs", ()))
        return cls(**raw)


def new_job_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


def _index_dir() -> Path:
    return private_dir("jobs")


def save(record: JobRecord) -> None:
    folder = _index_dir()
    tmp = folder / f".{record.id}.tmp"
    tmp.write_text(record.to_json())
    os.replace(tmp, folder / f"{record.id}.json")


def load(job_id: str) -> JobRecord:
    path = _index_dir() / f"{job_id}.json"
    if "/" in job_id or not path.is_file():
        matches = [p for p in _index_dir().glob(f"{job_id}*.json")] if "/" not in job_id else []
        if len(matches) == 1:
            path = matches[0]
        else:
            raise JobNotFound(job_id)
    return JobRecord.from_json(path.read_text())


def all_records() -> list[JobRecord]:
    records = []
    for path in _index_dir().glob("*.json"):
        try:
            records.append(JobRecord.from_json(path.read_text()))
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(records, key=lambda record: record.started_at, reverse=True)

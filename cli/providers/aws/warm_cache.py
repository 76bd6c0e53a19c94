"""The machine this project's last run left warm, remembered so the next run reaches it without AWS calls.

A run that ends with its machine going back to the warm pool writes an entry here. The next `wb run` of the
same project, spec and AWS setup then skips STS, CloudFormation, DescribeInstances and the table: it
connects straight to the remembered address (the prefetch thread has already started that connection,
checking the host key against the fingerprint the instance registered in its row) and asks the machine's
daemon to claim its row (`agent claim`: the same conditional write as a client's own claim, so two runs
never share a machine). Anything that does not work out (the machine is gone, taken, or about to lapse)
falls back to the full lookup, and the entry is dropped. A machine reached through the stack's EC2 Instance
Connect Endpoint is remembered with that endpoint (its id and URL): the next run reaches it through it with
no CloudFormation or DescribeInstanceConnectEndpoints call, and with a warm connection keeper with no AWS call.

What an entry is keyed by: the config (cli/config/identity.py: the file and the WB_* variables), the
spec hash, and everything that decides which AWS account, region and endpoint boto3 would use (the AWS_*
variables it reads, and the mtimes of the shared config and credentials files). A change to any of them
means a full lookup. Nothing secret is kept: the address, the host key fingerprint and the row's key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from ..records import Instance, SshTarget

_FILE = "aws-warm.json"
_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@dataclass(frozen=True)
class WarmEntry:
    instance_id: str
    target: SshTarget
    owner: str
    instance_arn: str
    instance_type: str | None
    max_until: float
    idle_until: float  # when its warm window ends, as of the run that left it (the daemon may extend it)
    lease_minutes: float
    idle_minutes: float
    renew_interval_s: float
    # The Instance Connect Endpoint it was reached through (`TunnelEndpoint` fields: id, region, url); None
    # when it was reached directly. The next run reaches it the same way with no lookup.
    tunnel: dict[str, str] | None = None

    def instance(self) -> Instance:
        return Instance(
            id=self.instance_id,
            provider="aws",
            target=self.target,
            instance_type=self.instance_type,
            owner=self.owner,
            lease_until=self.idle_until,
        )

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> WarmEntry:
        fields = dict(raw)
        fields["target"] = SshTarget(**fields["target"])  # type: ignore[arg-type]
        return cls(**fields)  # type: ignore[arg-type]


def cache_key(config_identity: str, spec_hash: str, environ: Mapping[str, str]) -> str:
    """`config_identity`: see cli/config/identity.py."""
    home = Path(environ.get("HOME") or Path.home())
    shared = [
        Path(environ.get("AWS_CONFIG_FILE") or home / ".aws" / "config"),
        Path(environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials"),
    ]
    parts = [config_identity, spec_hash]
    parts += [f"{name}={environ.get(name, '')}" for name in _AWS_VARIABLES]
    parts += [f"{path}:{_mtime(path)}" for path in shared]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _path() -> Path:
    from ...paths import data_dir

    return data_dir() / _FILE


def _load() -> dict[str, dict[str, object]]:
    try:
        raw = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _save(entries: dict[str, dict[str, object]]) -> None:
    path = _path()
    tmp = path.with_name(f".{_FILE}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(entries))
        tmp.replace(path)
    except OSError:  # a cache: a full disk costs a full lookup next time, nothing more
        tmp.unlink(missing_ok=True)


def lookup(key: str) -> WarmEntry | None:
    raw = _load().get(key)
    if not isinstance(raw, dict):
        return None
    try:
        return WarmEntry.from_json(raw)
    except (TypeError, KeyError, ValueError):
        return None


MAX_ENTRIES = 64


def remember(key: str, entry: WarmEntry) -> None:
    """One entry per key; several projects may remember the same machine (each run claims it afresh). The
    file keeps the MAX_ENTRIES latest warm windows."""
    entries = _load()
    entries[key] = entry.to_json()
    if len(entries) > MAX_ENTRIES:
        latest = sorted(entries, key=lambda k: _idle_until(entries[k]), reverse=True)
        entries = {k: entries[k] for k in latest[:MAX_ENTRIES]}
    _save(entries)


def _idle_until(raw: dict[str, object]) -> float:
    value = raw.get("idle_until")
    return float(value) if isinstance(value, (int, float)) else 0.0


def forget(instance_id: str) -> None:
    entries = _load()
    kept = {k: v for k, v in entries.items() if v.get("instance_id") != instance_id}
    if kept != entries:
        _save(kept)

"""A job's outputs from S3, for when its machine is gone.

The agent pushes them to `s3://<bucket>/<owner>/<instance-arn>/<job_id>/<path>` (the instance role may
write only under its own ARN). An object's `wb-mode` (octal) and `wb-mtime-ns` metadata, when the agent
sets them, are restored; otherwise files get 0644 and the object's LastModified. Files are written by the
same `TreeWriter` as a pull from the machine: atomically, never outside the destination.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from weatherballoon.remote.sync.globs import GlobSet
from weatherballoon.remote.sync.writer import FatalWriteError, TreeWriter

from ...aws_account.errors import translated
from ...errors import SyncError
from ...sync.records import PullSummary

CHUNK = 1 << 20


def job_prefix(owner: str, instance_arn: str, job_id: str) -> str:
    return f"{owner}/{instance_arn}/{job_id}/"


def _chunks(body: Any) -> Iterator[memoryview]:
    try:
        while True:
            block = body.read(CHUNK)
            if not block:
                return
            yield memoryview(block)
    finally:
        body.close()


def _stamp(obj: dict[str, Any], metadata: dict[str, str]) -> tuple[int, int]:
    try:
        mode = int(metadata.get("wb-mode", "644"), 8)
    except ValueError:
        mode = 0o644
    try:
        mtime_ns = int(metadata["wb-mtime-ns"])
    except (KeyError, ValueError):
        mtime_ns = int(obj["LastModified"].timestamp()) * 1_000_000_000
    return mode, mtime_ns


def _same(local: Path, size: int, mtime_ns: int | None) -> bool:
    try:
        st = local.lstat()
    except OSError:
        return False
    return st.st_size == size and (mtime_ns is None or st.st_mtime_ns == mtime_ns)


def pull(s3: Any, bucket: str, prefix: str, globs: Sequence[str], destination: Path) -> PullSummary:
    """Download the objects under `prefix` whose relative path the globs cover; skip ones already here."""
    started = time.perf_counter()
    wanted = GlobSet(list(globs))
    root = Path(destination).absolute()
    root.mkdir(parents=True, exist_ok=True)
    writer = TreeWriter(os.fspath(root))
    unchanged = 0
    with translated(denied_hint=f"you need s3:ListBucket and s3:GetObject under s3://{bucket}/{prefix}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(prefix) :]
                if not relative or relative.endswith("/") or not wanted.covers(relative):
                    continue
                local = root / relative
                if _unchanged(s3, bucket, obj, local):
                    unchanged += 1
                    continue
                answer = s3.get_object(Bucket=bucket, Key=obj["Key"])
                mode, mtime_ns = _stamp(obj, answer.get("Metadata", {}))
                try:
                    writer.write_file(relative, mode, mtime_ns, _chunks(answer["Body"]))
                except FatalWriteError as exc:
                    raise SyncError(f"cannot write output {root / exc.path}: {exc.reason}") from None
    if writer.summary.errors:
        raise SyncError(
            f"{len(writer.summary.errors)} outputs could not be written: " + "; ".join(writer.summary.errors[:5]),
            hint="remove what is in their way locally, then: wb pull JOB",
        )
    return PullSummary(
        files=writer.summary.written,
        bytes=writer.summary.bytes,
        unchanged=unchanged,
        seconds=time.perf_counter() - started,
    )


def _unchanged(s3: Any, bucket: str, obj: dict[str, Any], local: Path) -> bool:
    """The local file has the object's size and the mtime a download would give it."""
    if not _same(local, int(obj["Size"]), None):
        return False
    head = s3.head_object(Bucket=bucket, Key=obj["Key"])
    _, mtime_ns = _stamp(obj, head.get("Metadata", {}))
    return _same(local, int(obj["Size"]), mtime_ns)

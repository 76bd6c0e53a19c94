"""`s3push.OutputPusher` against the moto server: which files, which keys, and nothing sent twice."""

from __future__ import annotations

import os
from pathlib import Path

from weatherballoon.remote.s3push import MTIME_KEY, JobOutputs, OutputPusher

from .conftest import BUCKET, Machine


def make_tree(root: Path) -> None:
    (root / "out" / "deep").mkdir(parents=True)
    (root / "out" / "a.txt").write_text("aaa")
    (root / "out" / "deep" / "b.bin").write_bytes(b"\0" * 1000)
    (root / "logs").mkdir()
    (root / "logs" / "run.log").write_text("log")
    (root / "src.py").write_text("print()")
    os.symlink("a.txt", root / "out" / "link")


def test_pushes_covered_files_under_the_job_prefix_once(machine: Machine) -> None:
    make_tree(machine.work)
    pusher = OutputPusher(lambda: machine.s3, BUCKET, machine.prefix)
    job = JobOutputs("j7", str(machine.work), ["out", "logs/*.log"])

    first = pusher.push(job)
    second = pusher.push(job)

    assert (first.uploaded, first.skipped, first.bytes, first.errors) == (3, 0, 1006, [])
    assert machine.objects() == {
        f"{machine.prefix}j7/out/a.txt": 3,
        f"{machine.prefix}j7/out/deep/b.bin": 1000,
        f"{machine.prefix}j7/logs/run.log": 3,
    }
    assert (second.uploaded, second.skipped) == (0, 3)
    head = machine.s3.head_object(Bucket=BUCKET, Key=f"{machine.prefix}j7/out/a.txt")
    assert head["Metadata"][MTIME_KEY] == str((machine.work / "out" / "a.txt").stat().st_mtime_ns)


def test_a_rewritten_file_of_the_same_size_is_sent_again(machine: Machine) -> None:
    make_tree(machine.work)
    pusher = OutputPusher(lambda: machine.s3, BUCKET, machine.prefix)
    job = JobOutputs("j8", str(machine.work), ["out/a.txt"])
    pusher.push(job)
    path = machine.work / "out" / "a.txt"
    path.write_text("bbb")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))

    again = pusher.push(job)

    assert (again.uploaded, again.skipped) == (1, 0)
    body = machine.s3.get_object(Bucket=BUCKET, Key=f"{machine.prefix}j8/out/a.txt")["Body"].read()
    assert body == b"bbb"


def test_a_failing_bucket_is_reported_per_file_not_raised(machine: Machine) -> None:
    make_tree(machine.work)
    pusher = OutputPusher(lambda: machine.s3, "no-such-bucket", machine.prefix)

    result = pusher.push(JobOutputs("j9", str(machine.work), ["out"]))

    assert result.uploaded == 0 and len(result.errors) == 2 and not result.ok
    assert "failed" in result.describe()

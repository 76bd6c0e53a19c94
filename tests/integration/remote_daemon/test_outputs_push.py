"""`s3push.OutputPusher` against the moto server: which files, which keys, and nothing sent twice."""

from __future__ import annotations

import json
import os
from pathlib import Path

from weatherballoon.remote.daemon.s3push import MTIME_KEY, JobOutputs, OutputPusher

from .conftest import BUCKET, Machine, wait_for


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


def test_a_push_the_bucket_refuses_is_on_the_job_and_its_row_not_only_in_the_log(machine: Machine) -> None:
    """sync.dirStorage naming a bucket the instance cannot write: the failure reaches `status` (so `wb run`,
    `wb jobs`) through push.json, and the job's row (so `wb pull` after the machine is gone)."""
    machine.create_row(lease_s=3.0)
    assert machine.boot(WB_BUCKET="wb-not-granted").returncode == 0
    machine.put_job_row("j1")
    machine.start_job("j1", "mkdir -p out && echo result > out/a.txt", "--outputs", "out")
    machine.ensure_daemon()

    note = wait_for(lambda: json.loads(machine.agent("status", "j1").stdout)["push"], 5, "the push note", machine)
    assert note["ok"] is False and note["failed"] == 1 and note["uploaded"] == 0
    assert "out/a.txt" in note["errors"][0] and note["where"] == f"s3://wb-not-granted/{machine.prefix}j1/"
    listed = {job["id"]: job for job in json.loads(machine.agent("list").stdout)}
    assert listed["j1"]["push"] == note
    row = wait_for(lambda: machine.job_row("j1").push_error and machine.job_row("j1"), 5, "the row", machine)
    assert row.pushed_at is not None and "out/a.txt" in (row.push_error or "")
    assert machine.objects() == {}

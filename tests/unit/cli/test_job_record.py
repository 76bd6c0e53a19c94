"""The agent's job JSON (`agent list` / `agent status`) is read once, into `Job`, field for field."""

from __future__ import annotations

import dataclasses
import json

import pytest
from weatherballoon.cli.providers.records import Job, PushNote, job_from_json, jobs_from_json
from weatherballoon.remote.jobs.state import SUMMARY_FIELDS, summary
from weatherballoon.remote.jobs.store import dumps


def test_the_record_has_exactly_the_fields_the_agent_prints() -> None:
    assert {field.name for field in dataclasses.fields(Job)} == set(SUMMARY_FIELDS)


def test_what_the_agent_prints_reads_back_typed() -> None:
    meta = {"command": ["python", "train.py"], "cwd": "/home/u/wb/p", "started_at": 10.5, "pid": 4242}
    status = {"exit_code": 124, "signal": 9, "stop_reason": "max-time", "ended_at": 70}
    push = {"at": 71.0, "ok": False, "failed": 1, "errors": ["out/a: denied"], "where": "s3://b/p/j1/"}
    text = dumps([summary("j1", meta, status, False, push), summary("j2", meta, None, True)]).encode()
    stopped, running = jobs_from_json(text)
    assert stopped == Job(
        id="j1", state="stopped", command=("python", "train.py"), cwd="/home/u/wb/p", exit_code=124, signal=9,
        stop_reason="max-time", started_at=10.5, ended_at=70.0, pid=4242,
        push=PushNote(at=71.0, ok=False, failed=1, errors=("out/a: denied",), where="s3://b/p/j1/"),
    )  # fmt: skip
    assert running.running and running.exit_code is None and running.push is None
    assert stopped.push is not None and stopped.push.failure == "not uploaded to s3://b/p/j1/ (1 failed): out/a: denied"
    assert job_from_json(json.dumps({"id": "j3", "state": "lost"}).encode()).state == "lost"


@pytest.mark.parametrize("text", [b"{}", b"[1]", b'[{"state": "running"}]', b"not json"])
def test_anything_else_is_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        jobs_from_json(text)

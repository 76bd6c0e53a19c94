"""Job ids, record encoding and atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from weatherballoon.remote.jobs.store import (
    JobIdError,
    JobPaths,
    dumps,
    read_json,
    state_dir,
    validate_job_id,
    write_json_atomic,
)


@pytest.mark.parametrize("job_id", ["20261124-013000-ab12cd", "a", "A.b_c-9", "x" * 64, "..a", "a.."])
def test_valid_job_ids(job_id: str) -> None:
    assert validate_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", ["", ".", "..", "../x", "a/b", "/abs", "x" * 65, "a b", "a\0b", "é", "a\nb"])
def test_job_ids_that_could_leave_the_jobs_dir_or_confuse_a_shell_are_refused(job_id: str) -> None:
    with pytest.raises(JobIdError):
        validate_job_id(job_id)


def test_job_paths_stay_inside_the_root(tmp_path: Path) -> None:
    paths = JobPaths("job-1", str(tmp_path))
    assert Path(paths.dir).parent == tmp_path
    for name in ("meta", "status", "stdout", "stderr", "stdin"):
        assert Path(getattr(paths, name)).parent == Path(paths.dir)


def test_state_dir_prefers_wb_agent_home() -> None:
    assert state_dir({"WB_AGENT_HOME": "/srv/wb"}) == "/srv/wb"
    assert state_dir({}).endswith("/.weatherballoon")


@pytest.mark.parametrize(
    "value",
    [
        {"s": "plain", "n": 3, "f": 1795479164.2120895, "neg": -1.5, "none": None, "t": True, "no": False},
        {"command": ["sh", "-c", 'echo "$X" \\ \t\n\x00\x1f'], "unicode": "é✓😀"},
        {"surrogate-escaped argv byte": b"\xff\xfe".decode("utf-8", "surrogateescape")},
        {"nested": {"list": [1, [2, {"k": None}]]}, "empty": [], "empty-obj": {}},
    ],
)
def test_dumps_is_json_that_reads_back_equal(value: dict) -> None:
    text = dumps(value)
    assert text.isascii()
    assert json.loads(text) == value


def test_dumps_refuses_what_it_does_not_know() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})


def test_atomic_write_leaves_only_the_record(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    write_json_atomic(str(path), {"exit_code": 1})
    write_json_atomic(str(path), {"exit_code": 2})
    assert os.listdir(tmp_path) == ["status.json"]
    assert read_json(str(path)) == {"exit_code": 2}


def test_read_json_of_missing_torn_or_foreign_files_is_none(tmp_path: Path) -> None:
    assert read_json(str(tmp_path / "missing.json")) is None
    (tmp_path / "torn.json").write_text('{"exit_code": ')
    assert read_json(str(tmp_path / "torn.json")) is None
    (tmp_path / "list.json").write_text("[1]")
    assert read_json(str(tmp_path / "list.json")) is None

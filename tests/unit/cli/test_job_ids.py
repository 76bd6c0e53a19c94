"""Job ids on the command line are text, never globs; a prefix finds one job, or says it is ambiguous and
lists the candidates (issue 9 item 10)."""

from __future__ import annotations

import pytest
from weatherballoon.cli.errors import AmbiguousJob, JobNotFound, UsageError, WbError
from weatherballoon.cli.jobs import index
from weatherballoon.cli.main import run_cli
from weatherballoon.cli.paths import private_dir
from weatherballoon.cli.providers.records import SshTarget


def save(job_id: str) -> None:
    target = SshTarget(host="127.0.0.1", port=22, username="u")
    index.save(index.LocalJob(id=job_id, provider="ssh", instance_id="u@127.0.0.1:22", target=target,
                               remote_root="~/wb/p", command=("true",)))  # fmt: skip


def test_exact_id_and_unique_prefix() -> None:
    save("20260101-000000-aaaaaa")
    save("20260101-000000-bbbbbb")
    assert index.load("20260101-000000-aaaaaa").id == "20260101-000000-aaaaaa"
    assert index.load("20260101-000000-b").id == "20260101-000000-bbbbbb"


def test_an_id_that_is_a_prefix_of_another_is_still_itself() -> None:
    save("job-1")
    save("job-10")
    assert index.load("job-1").id == "job-1"


def test_an_ambiguous_prefix_says_so_and_lists_the_candidates() -> None:
    for n in range(12):
        save(f"20260101-0000{n:02d}-cccccc")
    with pytest.raises(AmbiguousJob) as caught:
        index.load("2026")
    message = caught.value.message
    assert "job id '2026' is ambiguous: 12 jobs start with it" in message
    assert "20260101-000000-cccccc" in message and "and 2 more" in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("text", ["*", "2026*", "[0-9]*", "?", "", "a/b", "../x", "a b"])
def test_globs_and_other_characters_are_not_ids(text: str) -> None:
    save("20260101-000000-dddddd")
    with pytest.raises(UsageError, match="is not a job id"):
        index.load(text)


def test_no_match_is_no_job() -> None:
    with pytest.raises(JobNotFound, match="no job 'zzz'"):
        index.load("zzz")


def test_a_damaged_record_is_named() -> None:
    (private_dir("jobs") / "broken.json").write_text("{not json")
    with pytest.raises(WbError, match=r"the local record of job broken \(.*broken\.json\) cannot be read") as caught:
        index.load("broken")
    assert "rm " in (caught.value.hint or "")


@pytest.mark.parametrize("command", [["logs", "*"], ["logs", "-f", "*"], ["pull", "*"], ["pull", "2026*"]])
def test_commands_refuse_a_glob_with_exit_2(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    save("20260101-000000-eeeeee")
    assert run_cli(command) == 2
    err = capsys.readouterr().err
    assert "is not a job id" in err and "internal error" not in err


def test_jobs_limit_zero_is_a_usage_error_and_an_empty_list_prints_a_header(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli(["jobs", "-n", "0"]) == 2
    assert "'-n' / '--limit': 0 is not in the range x>=1" in capsys.readouterr().err
    assert run_cli(["jobs"]) == 0
    assert capsys.readouterr().out.split() == ["JOB", "INSTANCE", "STATE", "EXIT", "STARTED", "DURATION", "COMMAND"]

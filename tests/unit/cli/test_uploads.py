"""What the client makes of the agent's push notes (`push` in `status`/`list`): `wb run`, `wb jobs`, `wb pull`."""

from __future__ import annotations

import json
from typing import Any

from weatherballoon.cli.errors import WbError
from weatherballoon.cli.jobs.listing import JobLine
from weatherballoon.cli.jobs.uploads import await_push
from weatherballoon.cli.providers.records import PushNote


def push_failure(raw: object) -> str | None:
    note = PushNote.from_json(raw)
    return note.failure if note is not None else None


FAILED = {
    "at": 20.0, "ok": False, "uploaded": 1, "skipped": 0, "bytes": 3, "failed": 2,
    "errors": ["out/b.pt: ClientError: AccessDenied", "out/c.pt: ClientError: AccessDenied"],
    "where": "s3://team-results/AIDA/arn/j1/",
}  # fmt: skip
WENT_THROUGH = {**FAILED, "ok": True, "failed": 0, "errors": []}


class Agent:
    """Answers `status` with each summary in turn (the last one for ever); `None` raises like a dead link."""

    def __init__(self, *summaries: dict[str, Any] | None) -> None:
        self.summaries = list(summaries)
        self.calls = 0

    def run(self, argv: list[str]) -> tuple[int, bytes, bytes]:
        assert argv[0] == "status"
        summary = self.summaries[min(self.calls, len(self.summaries) - 1)]
        self.calls += 1
        if summary is None:
            raise WbError("connection lost")
        return 0, json.dumps({"id": "j1", "state": "exited", **summary}).encode(), b""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def wait(agent: Agent, wait_s: float = 5.0) -> tuple[str, str | None]:
    clock = Clock()
    return await_push(agent, "j1", wait_s, clock=clock, sleep=clock.sleep)


def test_a_failed_push_reads_as_one_line_with_where_how_many_and_the_first_reason() -> None:
    assert push_failure(FAILED) == (
        "not uploaded to s3://team-results/AIDA/arn/j1/ (2 failed): out/b.pt: ClientError: AccessDenied"
    )
    assert push_failure(WENT_THROUGH) is None and push_failure(None) is None and push_failure("junk") is None


def test_run_waits_for_the_push_of_the_ended_job_and_names_a_failure() -> None:
    ended = {"id": "j1", "ended_at": 10.0}
    agent = Agent({**ended, "push": None}, {**ended, "push": {**FAILED, "at": 5.0}}, {**ended, "push": FAILED})
    state, failure = wait(agent)
    assert state == "failed" and failure is not None and "AccessDenied" in failure
    assert agent.calls == 3  # a push from before the job ended (a spot notice's) does not count


def test_run_says_ok_pending_or_unknown() -> None:
    assert wait(Agent({"ended_at": 10.0, "push": WENT_THROUGH})) == ("ok", None)
    slow = Agent({"ended_at": 10.0, "push": None})
    assert wait(slow, wait_s=2.0) == ("pending", None) and slow.calls == 5
    assert wait(Agent(None)) == ("unknown", None)


def test_jobs_marks_a_row_whose_upload_failed() -> None:
    row = JobLine("j1", "i-1", "exited", 0, 1.0, 2.0, "python train.py", upload_error=push_failure(FAILED))
    assert row.cells()[2] == "exited, upload failed"
    assert JobLine("j2", "i-1", "exited", 0, 1.0, 2.0, "x").cells()[2] == "exited"


class App:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.said: list[str] = []

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def say(self, text: str) -> None:
        self.said.append(text)


def test_run_warns_after_the_job_when_its_outputs_did_not_reach_storage(monkeypatch: Any) -> None:
    from weatherballoon.cli.jobs import run_job, uploads
    from weatherballoon.cli.jobs.index import LocalJob

    record = LocalJob(id="j1", provider="aws", instance_id="i-1", target="t", remote_root="~/wb/p",
                       command=("x",), outputs=("out/**",), local_root="/tmp/p")  # fmt: skip
    monkeypatch.setattr(uploads, "UPLOAD_WAIT_S", 0.0)
    monkeypatch.setattr(uploads.await_push, "__defaults__", (0.0,))
    app = App()
    run_job.report_upload(app, Agent({"ended_at": 10.0, "push": FAILED}), record)  # type: ignore[arg-type]
    assert len(app.warnings) == 1 and app.warnings[0].startswith("job j1: outputs not uploaded to s3://team-results/")
    assert "once it ends, `wb pull` cannot find them" in app.warnings[0]
    app = App()
    run_job.report_upload(app, Agent({"ended_at": 10.0, "push": WENT_THROUGH}), record)  # type: ignore[arg-type]
    assert app.warnings == [] and app.said == []
    app = App()
    run_job.report_upload(app, Agent({"ended_at": 10.0, "push": None}), record)  # type: ignore[arg-type]
    assert app.warnings == []
    assert app.said == ["job j1: outputs still uploading to storage; `wb jobs` says if that fails"]

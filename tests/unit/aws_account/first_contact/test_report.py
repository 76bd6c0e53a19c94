"""The report: each step, each fault's overspend against its bound, the cost, and what is left by hand."""

from __future__ import annotations

import json
from pathlib import Path

from weatherballoon.cli.aws_account.first_contact.meter import Machine
from weatherballoon.cli.aws_account.first_contact.plan import Rate, Timing, make_plan
from weatherballoon.cli.aws_account.first_contact.report import Fault, Report, StepResult

PLAN = make_plan(Timing(lease_s=6, idle_s=30), Rate("t3.micro", 0.0104, 8, False), cap_usd=0.1)


def report(tmp_path: Path, *steps: StepResult, leftovers: tuple[str, ...] = ()) -> Report:
    machines = [Machine("i-0abc", "t3.micro", 100.0, "terminated", 160.5)]
    return Report("us-east-2", "123456789012", "wb-doctor-abc123", tmp_path, PLAN, list(steps), machines, 0.0051,
                  list(leftovers))  # fmt: skip


def test_a_run_passes_only_when_every_step_passed_and_nothing_is_left(tmp_path: Path) -> None:
    fault = Fault("i-0abc", "its last lease", should_stop_at=150.0, ended_at=151.5, bound_s=67.0,
                  ended_by="the reaper (lease-expired)", fault_at=120.0)  # fmt: skip
    ok = [StepResult("bootstrap", "ok", 2.0, "created"), StepResult("client killed", "ok", 31.0, "ended", fault)]
    passed = report(tmp_path, *ok)
    assert passed.passed
    text = "\n".join(passed.lines())
    assert "+1.5 s past its last lease (within the bound of 67.0 s)" in text and "31.5 s after the fault" in text
    assert "estimated cost: $0.0051" in text and "billed 60 s" in text and text.endswith("PASSED (2/2 steps ok)")

    assert not report(tmp_path, *ok, StepResult("budget", "FAIL", 3.0, "no")).passed
    left = report(tmp_path, *ok, leftovers=("stack: DELETE_FAILED\n    aws cloudformation delete-stack ...",))
    assert not left.passed
    assert "NOT REMOVED, remove by hand:" in "\n".join(left.lines())


def test_an_overspend_past_its_bound_is_flagged_and_saved_as_json(tmp_path: Path) -> None:
    late = Fault("i-0abc", "the moment the budget ran out", 100.0, 200.0, 67.0, "the reaper (owner-budget)", 100.0)
    assert late.overspend_s == 100.0 and not late.within_bound
    saved = report(tmp_path, StepResult("budget", "FAIL", 100.0, "late", late))
    saved.save()
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["passed"] is False and data["steps"][0]["fault"]["overspend_s"] == 100.0
    assert data["worst_usd"] == PLAN.worst_usd and data["cap_usd"] == 0.1
    assert "OVER the bound" in (tmp_path / "report.txt").read_text()

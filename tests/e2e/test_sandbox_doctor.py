"""`wb doctor --live` end to end, through a sandbox with no wb stack (`wb sandbox up --no-stack`), as a user with
a brand-new account runs it: the real `wb` binary, the sandbox's exported settings, nothing else.

The sandbox provides only what it provides any client: AWS_ENDPOINT_URL and `connect: private-ip` (plus the
VPC its hosts live in, `WB_VPC_ID`). The sandbox's timer plays EventBridge for the run's own stack, every
second; leases are compressed through the doctor's own flags (a 6 s lease, a 30 s warm window).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from weatherballoon.cli.aws_account.first_contact.plan import SERVICES_USD

from tests.e2e.sandbox_support import ScenarioError, sandbox_up, up_args
from tests.integration.sandbox.conftest import sandbox_unavailable
from tests.integration.sandbox.support import Sandbox
from tests.support.requirements import unavailable

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(420)]

REAPER_PERIOD_S = 1.0
LEASE_MINUTES = 0.1
IDLE_MINUTES = 0.5  # reuse needs the second run to claim within half of it, even on a loaded machine
LIVE = ("doctor", "--live", "--lease-minutes", f"{LEASE_MINUTES:g}", "--idle-minutes", f"{IDLE_MINUTES:g}")
POLL_S = 0.3  # the doctor's poll at a 6 s lease (`Timing.poll_s`)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    why = sandbox_unavailable()
    if why:
        unavailable(f"sandbox: {why}")
    data, cwd = tmp_path_factory.mktemp("doctor-sandbox"), tmp_path_factory.mktemp("doctor-cwd")
    args = [*up_args(REAPER_PERIOD_S, LEASE_MINUTES, IDLE_MINUTES), "--no-stack"]
    with sandbox_up(data, cwd, args) as sandbox:
        yield sandbox


def wb(box: Sandbox, *args: str, timeout: float = 300) -> Any:
    return box.wb(*args, timeout=timeout, exported=True)


def stacks(box: Sandbox) -> list[str]:
    return [s["StackName"] for s in box.client("cloudformation").describe_stacks()["Stacks"]]


def buckets(box: Sandbox) -> list[str]:
    return [b["Name"] for b in box.client("s3").list_buckets().get("Buckets", [])]


def live_instances(box: Sandbox) -> list[str]:
    pages = box.client("ec2").get_paginator("describe_instances").paginate()
    return [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] != "terminated"]  # fmt: skip


def test_a_cap_below_the_worst_case_is_refused_before_anything_is_made(box: Sandbox) -> None:
    refused = wb(box, *LIVE, "--spend-up-to", "0.01")
    assert refused.returncode == 2, refused.stderr
    assert "the worst case of this run is $0.0" in refused.stderr and "above --spend-up-to $0.01" in refused.stderr
    assert "t3.micro" in refused.stderr and "client killed" in refused.stderr  # the plan, step by step
    assert stacks(box) == [] and buckets(box) == [] and live_instances(box) == []


def test_the_first_contact_run_passes_measures_each_fault_and_leaves_nothing(box: Sandbox) -> None:
    run = wb(box, *LIVE, "--spend-up-to", "0.10")
    print(run.stdout)  # the report, for `pytest -s`
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr[-4000:]}"
    assert "result: PASSED (7/7 steps ok)" in run.stdout
    log_dir = Path(next(line for line in run.stdout.splitlines() if line.startswith("logs: "))[6:])
    report = json.loads((log_dir / "report.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == ["preflight", "bootstrap", "first run", "reuse", "client killed", "budget", "destroy"]
    assert all(s["status"] == "ok" for s in steps.values()), report["steps"]

    # Faults, against the sandbox's real period (1 s) rather than the stack's 60 s schedule.
    tight = LEASE_MINUTES * 60 + REAPER_PERIOD_S + 3.0 + POLL_S  # + a reaper run and moto on a loaded machine
    killed, budget = steps["client killed"]["fault"], steps["budget"]["fault"]
    assert killed["basis"] == "its last lease" and -POLL_S <= killed["overspend_s"] <= tight, killed
    assert budget["ended_by"] == "the reaper (owner-budget)" and 0 <= budget["overspend_s"] <= tight, budget
    assert "exited 124 naming owner-budget" in steps["budget"]["detail"]
    assert "reused" in steps["reuse"]["detail"] and "launched" in steps["first run"]["detail"]

    # Two machines (first run + reuse + killed client; budget), both terminated; the cost is what they ran for.
    machines = report["machines"]
    assert len(machines) == 2 and {m["state"] for m in machines} == {"terminated"}
    assert {m["instance_type"] for m in machines} == {"t3.micro"}
    assert SERVICES_USD < report["cost_usd"] <= report["worst_usd"] < report["cap_usd"] == 0.10

    # Everything it made is gone: the stack, its three buckets, the instances, the clients' keys; logs stay.
    assert stacks(box) == [] and buckets(box) == [] and live_instances(box) == []
    assert report["leftovers"] == [] and not (log_dir / "wb-data").exists() and not (log_dir / "project").exists()
    assert (log_dir / "report.txt").read_text().strip() == run.stdout.strip()
    assert sorted(p.name for p in (log_dir / "clients").iterdir())[:2] == ["1-first-run.stderr", "1-first-run.stdout"]


def test_the_spending_cap_stops_a_run_and_it_still_tears_down(box: Sandbox, tmp_path: Path) -> None:
    """In process, past the up-front refusal: a cap that the first machine's first minute passes. The run stops
    at the first tick that sees the machine, and the teardown removes all."""
    from weatherballoon.cli.aws_account.first_contact.preflight import Options, run_preflight
    from weatherballoon.cli.aws_account.first_contact.run import first_contact
    from weatherballoon.cli.aws_account.progress import StackProgress
    from weatherballoon.cli.aws_account.session import AwsSession, AwsSettings
    from weatherballoon.cli.config.model import OsConfig, ProvisionerConfig, WbConfig

    exported = box.exported
    saved = dict(os.environ)
    os.environ.update({**exported, "WB_DATA_DIR": str(box.data_dir)})
    try:
        aws = AwsSession(AwsSettings(region=exported["AWS_REGION"]))
        user = WbConfig(ProvisionerConfig("aws", connect="private-ip", os=OsConfig(username=exported["WB_USERNAME"])))
        options = Options(0.10, LEASE_MINUTES, IDLE_MINUTES, vpc_id=exported["WB_VPC_ID"])
        preflight = run_preflight(aws, options, user)
        cap = SERVICES_USD + preflight.plan.rate.cost(90)  # less than a machine's 60 s minimum + 60 s to end it
        tight = replace(preflight, plan=replace(preflight.plan, cap_usd=cap))
        report = first_contact(aws, tight, tmp_path, lambda text: None, StackProgress(quiet=True))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    statuses = [(s.name, s.status) for s in report.steps]
    assert statuses == [("preflight", "ok"), ("bootstrap", "ok"), ("spending cap", "FAIL"), ("destroy", "ok")]
    assert "stopped before passing the spending cap" in report.steps[2].detail
    assert not report.passed and report.leftovers == [] and report.cost_usd <= cap
    assert stacks(box) == [] and buckets(box) == [] and live_instances(box) == []
    assert report.machines and all(m.state == "terminated" for m in report.machines)


def test_a_region_that_has_a_wb_stack_is_refused(box: Sandbox) -> None:
    """A team's stack in the region: the run refuses (its reaper and theirs would fight), naming the stack."""
    deployed = wb(box, "bootstrap", "--vpc-id", box.exported["WB_VPC_ID"], timeout=120)
    if deployed.returncode != 0:
        raise ScenarioError(f"wb bootstrap: {deployed.stderr[-2000:]}")
    try:
        refused = wb(box, *LIVE, "--spend-up-to", "0.10")
        assert refused.returncode == 2, refused.stderr
        assert "already has a wb stack: weatherballoon (CREATE_COMPLETE)" in refused.stderr
        assert "--region" in refused.stderr and stacks(box) == ["weatherballoon"]
    finally:
        wb(box, "bootstrap", "--destroy", "--yes", timeout=120)

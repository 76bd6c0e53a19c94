"""End-to-end and fault tests through `wb sandbox` (issue 4), with compressed times: lease 0.2 min (12 s),
idle 0.1 min (6 s), reaper every 2 s.

Three sandboxes are brought up side by side, each in its own data dir, and always taken down: one with the
reaper every 2 s, one where the reaper is disabled (a one-hour period: its timer runs once at start), and one
for the budget scenario alone (see `SANDBOXES`). Then every scenario of `tests/e2e/sandbox_support.py` runs
at once, each as its own IAM user (its own wb owner, data dir and project), and each test checks one
scenario's result. For each instance that ends, the **overspend** (seconds from the moment spending should
stop to the moment EC2 shows it ended) is asserted within the bound of docs/supervision.md: L + P + R
(leaseMinutes, the reaper's period, the reaper run's own time, read from its log); the issue's target L + P
(14 s here) is printed beside it, and `bench/overspend.py` reports both.

Run with `-s` to see the measured numbers; `bench/overspend.py` repeats the same scenarios for the table in
docs/supervision.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.e2e.sandbox_support import (
    IDLE_MINUTES,
    LEASE_MINUTES,
    SANDBOXES,
    Lab,
    Outcome,
    Result,
    bound_s,
    sandbox_up,
    start_scenarios,
    up_args,
)
from tests.integration.sandbox.conftest import sandbox_unavailable
from tests.integration.sandbox.support import Sandbox
from tests.support.requirements import unavailable

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(360)]

# Every scenario but the kernel-timer one (a dead agent with no reaper: over two minutes, bench only).
SCENARIOS = [
    "happy", "client-killed", "agent-killed", "net-cut", "budget", "concurrent", "spot", "reuse-compressed",
    "back-to-back", "no-reaper", "net-cut-no-reaper", "reaped-outputs",
]  # fmt: skip
WAIT_S = 300
BOUND_S = bound_s()


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Lab]]:
    why = sandbox_unavailable()
    if why:
        unavailable(f"sandbox: {why}")
    periods = SANDBOXES
    with contextlib.ExitStack() as stack:
        # made here, not in the threads: pytest's temp root is created on first use, and not thread-safely
        folders = {where: (tmp_path_factory.mktemp(f"sandbox-{where}"), tmp_path_factory.mktemp(f"cwd-{where}"))
                   for where in periods}  # fmt: skip

        def bring_up(where: str) -> tuple[str, contextlib.AbstractContextManager[Sandbox], Sandbox]:
            manager = sandbox_up(*folders[where], up_args(periods[where], LEASE_MINUTES, IDLE_MINUTES))
            return where, manager, manager.__enter__()

        with ThreadPoolExecutor(len(periods)) as pool:
            futures = [pool.submit(bring_up, where) for where in periods]
        boxes = {}
        failures = []
        for future in futures:
            try:
                where, manager, box = future.result()
            except BaseException as exc:  # that sandbox took itself down; the other is taken down below
                failures.append(exc)
                continue
            stack.push(manager.__exit__)
            boxes[where] = box
        if failures:
            raise failures[0]
        found = {}
        for where, box in boxes.items():
            lab = Lab(box, tmp_path_factory.mktemp(f"projects-{where}"), reaper_period_s=periods[where])
            stack.callback(lab.close)
            found[where] = lab
        yield found


@pytest.fixture(scope="module")
def results(labs: dict[str, Lab]) -> Iterator[dict[str, Future[Result]]]:
    pool = ThreadPoolExecutor(len(SCENARIOS), thread_name_prefix="scenario")
    futures = start_scenarios(labs, SCENARIOS, pool)
    try:
        yield futures
    finally:
        pool.shutdown(wait=True)  # every wait in a scenario has its own timeout
        print(f"\nmeasured overspend (target: leaseMinutes + one reaper period = {BOUND_S:g} s; bound: + R)")
        for name, future in futures.items():
            if future.done() and future.exception() is None:
                print("  " + future.result().report().replace("\n", "\n  "))
            else:
                print(f"  {name}: {future.exception() if future.done() else 'not finished'}")


def result_of(results: dict[str, Future[Result]], name: str) -> Result:
    result = results[name].result(timeout=WAIT_S)
    print("\n" + result.report())
    return result


def check_bound(outcome: Outcome) -> None:
    """docs/supervision.md's bound, L + P + R: with the reaper's period compressed to 2 s, the time of its own
    run (R, measured from its log) is no longer small beside P on a loaded machine; `-s` shows the target."""
    assert outcome.within_bound, outcome.line()
    # Nothing ends an instance early either: never before spending should stop (the watch's 0.25 s aside).
    assert outcome.overspend_s > -1.0, outcome.line()


# --- 1. happy path --------------------------------------------------------------------------------------


def test_happy_path_with_reuse_then_ends_after_its_idle_window(results: dict[str, Future[Result]]) -> None:
    result = result_of(results, "happy")
    first, second = result.facts["first"], result.facts["second"]
    assert first.stdout == "hello one\n" and "to-stderr\n" in first.stderr
    assert second.returncode == 3 and second.stdout == "hello two\n"
    assert result.facts["reused"] == result.facts["instance"], second.stderr
    assert result.facts["instances_of_owner"] == 1
    assert [job.exit_code for job in sorted(result.facts["jobs"], key=lambda j: j.started_at)] == [0, 3]
    [outcome] = result.outcomes
    check_bound(outcome)
    assert outcome.stopped_by.startswith(("agent (lease-expired)", "reaper (lease-expired")), outcome.line()


def test_reuse_with_the_sandboxes_own_compressed_idle_window(results: dict[str, Future[Result]]) -> None:
    result = result_of(results, "reuse-compressed")
    assert result.facts["reused"] == result.facts["first"], result.facts


def test_back_to_back_runs_reuse_the_same_instance(results: dict[str, Future[Result]]) -> None:
    result = result_of(results, "back-to-back")
    first = result.facts["instances"][0]
    assert result.facts["instances"] == [first, first, first], result.facts


# --- 2. the client killed -------------------------------------------------------------------------------


def test_client_killed_job_finishes_then_idle_lease_lapses_and_outputs_come_from_s3(
    results: dict[str, Future[Result]],
) -> None:
    result = result_of(results, "client-killed")
    job = result.facts["job_row"]
    assert job is not None and job.state == "exited" and job.exit_code == 0, job
    [outcome] = result.outcomes
    check_bound(outcome)
    assert outcome.stopped_by.startswith(("agent (lease-expired)", "reaper (lease-expired")), outcome.line()
    # the instance is gone: the outputs come from S3, where the agent pushed them when the job ended
    assert result.facts["pull"].returncode == 0, result.facts["pull"].stderr
    assert result.facts["output"] == f"result of {result.facts['job_id']}\n"


# --- 3. the reaper disabled and the client gone ---------------------------------------------------------


def test_reaper_disabled_client_gone_agent_powers_off_after_its_lease(results: dict[str, Future[Result]]) -> None:
    [outcome] = result_of(results, "no-reaper").outcomes
    check_bound(outcome)
    assert outcome.stopped_by == "agent (lease-expired)", outcome.line()


# --- 4. the agent killed --------------------------------------------------------------------------------


def test_agent_killed_reaper_ends_it_when_the_lease_lapses(results: dict[str, Future[Result]]) -> None:
    [outcome] = result_of(results, "agent-killed").outcomes
    check_bound(outcome)
    # the dead-man timer the agent armed is a minute past the lease: the reaper comes first
    assert outcome.stopped_by.startswith(("reaper (lease-expired", "dead-man timer")), outcome.line()
    assert outcome.facts["kernel_deadline"] is not None, "the dead-man timer was never armed"


# --- 5. the network cut ---------------------------------------------------------------------------------


def test_network_cut_lease_lapses_and_the_instance_ends(results: dict[str, Future[Result]]) -> None:
    [outcome] = result_of(results, "net-cut").outcomes
    check_bound(outcome)
    assert outcome.stopped_by.startswith(("agent (control-plane-lost)", "reaper (lease-expired")), outcome.line()


def test_network_cut_without_reaper_agent_powers_off_after_lease_minutes(
    results: dict[str, Future[Result]],
) -> None:
    [outcome] = result_of(results, "net-cut-no-reaper").outcomes
    check_bound(outcome)
    assert outcome.stopped_by == "agent (control-plane-lost)", outcome.line()
    assert outcome.after_failure_s is not None and outcome.after_failure_s <= LEASE_MINUTES * 60 + BOUND_S


# --- 6. an owner over budget ----------------------------------------------------------------------------


def test_owner_over_budget_instances_end_run_exits_124_status_says_why(results: dict[str, Future[Result]]) -> None:
    result = result_of(results, "budget")
    assert result.facts["budget"].returncode == 0
    assert len(result.outcomes) == 2
    for outcome in result.outcomes:
        check_bound(outcome)
        assert outcome.stopped_by.startswith("reaper (owner-budget"), outcome.line()
    run = result.facts["run"]
    assert run.returncode == 124, run.stderr
    assert "owner-budget" in run.stderr and "budget" in run.stderr.split("error:")[-1], run.stderr
    status = result.facts["status"]
    for instance_id in result.facts["instances"]:
        line = next(line for line in status.stdout.splitlines() if line.startswith(instance_id))
        assert "owner-budget" in line, status.stdout


def test_owner_over_budget_new_run_is_refused_before_it_launches(results: dict[str, Future[Result]]) -> None:
    again = result_of(results, "budget").facts["again"]
    assert again.returncode == 124 and "budget" in again.stderr, again.stderr
    assert again.launched() is None, again.stderr


# --- 7. two concurrent runs -----------------------------------------------------------------------------


def test_two_concurrent_runs_never_share_a_claim(results: dict[str, Future[Result]]) -> None:
    """Two instances, or one reused safely: the second run may take the warm machine only once the first is
    done with it (its claim is exclusive while the first one's job runs), so their jobs never overlap there."""
    facts = result_of(results, "concurrent").facts
    print(facts["instances"], facts["reused"])
    job_a, job_b = facts["job_ids"]
    if facts["placed"][job_a] == facts["placed"][job_b]:
        (start_a, end_a), (start_b, end_b) = facts["intervals"][job_a], facts["intervals"][job_b]
        assert end_a is not None and end_b is not None, facts
        assert end_a <= start_b or end_b <= start_a, facts
        assert any("cannot be taken" in run.stderr for run in facts["runs"]), facts
    else:
        assert facts["instances"][0] != facts["instances"][1], facts


# --- 8. spot capacity -----------------------------------------------------------------------------------


def test_spot_capacity_error_falls_back_to_on_demand_and_says_so(results: dict[str, Future[Result]]) -> None:
    result = result_of(results, "spot")
    run = result.facts["run"]
    assert run.stdout == "on demand after all\n"
    assert "falling back to on-demand" in run.stderr, run.stderr
    calls = result.facts["calls"]
    assert calls and all(c.answered == "InsufficientInstanceCapacity" for c in calls if c.market == "spot")
    assert [c.market for c in calls if c.answered is None] == ["on-demand"], calls
    assert result.facts["lifecycle"] == "on-demand" and result.facts["row_market"] == "on-demand"
    [outcome] = result.outcomes
    check_bound(outcome)


# --- 9. the outputs of a reaped job ---------------------------------------------------------------------


def test_outputs_of_a_job_ended_mid_run_are_pulled_from_s3(results: dict[str, Future[Result]]) -> None:
    result = result_of(results, "reaped-outputs")
    [outcome] = result.outcomes
    check_bound(outcome)
    assert outcome.stopped_by == "agent (max-lifetime)", outcome.line()
    pull = result.facts["pull"]
    assert pull.returncode == 0, pull.stderr
    assert result.facts["output"] == f"written by {result.facts['job_id']} before the end\n", pull.stderr


# --- the sandbox's EC2 ------------------------------------------------------------------------------------


def test_sandbox_terminates_an_already_terminated_instance_as_ec2_does(
    results: dict[str, Future[Result]], labs: dict[str, Lab]
) -> None:
    [outcome] = result_of(results, "spot").outcomes
    answer = labs["reaper"].ec2.terminate_instances(InstanceIds=[outcome.instance_id])
    assert answer["TerminatingInstances"][0]["CurrentState"]["Name"] == "terminated"

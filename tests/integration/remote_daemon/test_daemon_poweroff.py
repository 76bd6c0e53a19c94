"""Power-off: a marked row, the instance's lifetime, and a control plane that stops answering."""

from __future__ import annotations

import time

from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.records import InstanceState

from tests.support.delay_proxy import DelayProxy

from .conftest import LEASE_MIN, OWNER, Machine, record_overspend


def test_a_marked_row_powers_off_mid_job_after_pushing_its_outputs(machine: Machine) -> None:
    machine.create_row()
    assert machine.boot().returncode == 0
    machine.put_job_row("j1")
    machine.start_job("j1", "mkdir -p out && echo partial > out/ckpt.bin && sleep 30", "--outputs", "out/*.bin")
    machine.ensure_daemon()
    machine.wait_renewed()

    marked_at = time.time()
    machine.store.mark_instance(OWNER, machine.arn, "down by AIDAOWNER")
    reason, at = machine.wait_power_off()

    assert reason == "marked"
    record_overspend("row marked (wb down)", at - marked_at, "power-off minus the moment the mark was written")
    assert at - marked_at < 1.0
    # The running job's declared outputs were pushed before the power-off command ran.
    assert machine.objects() == {f"{machine.prefix}j1/out/ckpt.bin": 8}
    log = machine.log()
    assert log.index('push why="before power-off"') < log.index("power-off reason=marked")
    assert machine.row().lease_until < marked_at + LEASE_MIN * 60 + 0.5  # no renewal after the mark


def test_the_lifetime_cap_bounds_renewals_and_powers_off_at_max_until(machine: Machine) -> None:
    launched = machine.create_row(max_s=4.0)
    max_until = launched + 4.0
    assert machine.boot().returncode == 0
    machine.start_job("j1", "sleep 30")
    machine.ensure_daemon()

    reason, at = machine.wait_power_off(timeout=10)

    assert reason == "max-lifetime"
    record_overspend("lifetime (maxHours) over", at - max_until, "power-off minus the row's max_until")
    assert 0 <= at - max_until < 1.0
    assert machine.row().lease_until <= max_until  # renewals never went past the lifetime


def test_an_unreachable_control_plane_powers_off_after_lease_minutes(machine: Machine) -> None:
    machine.create_row()
    host, port = machine.endpoint.removeprefix("http://").split(":")
    proxy = DelayProxy((host.replace("localhost", "127.0.0.1"), int(port)), up_ms=0, down_ms=0).start()
    assert machine.boot(AWS_ENDPOINT_URL=f"http://localhost:{proxy.port}").returncode == 0
    machine.start_job("j1", "sleep 30")
    machine.ensure_daemon()
    machine.wait_renewed(2)  # renewals get through the proxy: the lease has moved since boot

    proxy.close()  # from here the table (and S3) refuse every connection
    cut_at = time.time()
    reason, at = machine.wait_power_off(timeout=LEASE_MIN * 60 + 10)

    assert reason == "control-plane-lost"
    lease_until = machine.row().lease_until  # the last renewal that got through
    record_overspend("control plane unreachable", at - lease_until, "power-off minus the last renewed lease_until")
    assert at - cut_at <= LEASE_MIN * 60 + 2.0
    # Early by up to a pass when the last renewal landed but its answer was cut: the agent never saw it.
    assert -1.0 <= at - lease_until < 2.0
    assert "table-unreachable" in machine.log()


def test_a_missing_row_or_a_closed_one_powers_off(machine: Machine) -> None:
    machine.create_row()
    assert machine.boot().returncode == 0
    machine.ensure_daemon()
    machine.wait_first_pass()

    closed_at = time.time()
    DynamoStore.close_instance(machine.store, machine.row(), "lease-expired", closed_at, None)
    reason, at = machine.wait_power_off()

    assert reason == "closed"
    assert machine.row().state is InstanceState.CLOSED
    record_overspend("row closed by the reaper", at - closed_at, "power-off minus the close")

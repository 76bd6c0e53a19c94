"""From EC2 facts and rows to what `wb status` shows: state, address, cost, and why a machine went."""

from __future__ import annotations

from weatherballoon.cli.providers.aws.instances import Ec2Instance
from weatherballoon.cli.providers.aws.listing import estimated_cost, explain, reap_reason, to_instance
from weatherballoon.lambdas.meter import MeterRecord, Price, PriceSource
from weatherballoon.lambdas.records import InstanceRecord, InstanceState
from weatherballoon.lambdas.schema import instance_arn

NOW = 1_800_000_000.0


def ec2(state: str = "running", reason: str | None = None) -> Ec2Instance:
    return Ec2Instance(
        instance_id="i-1",
        state=state,
        instance_type="g5.xlarge",
        zone="us-west-2a",
        launched_at=NOW - 3600,
        public_ip="203.0.113.7",
        private_ip="10.0.0.7",
        state_reason=reason,
        labels={"wb:owner": "AIDAME"},
    )


def row(**changes: object) -> InstanceRecord:
    values: dict[str, object] = {
        "owner": "AIDAME",
        "instance_arn": instance_arn("us-west-2", "123456789012", "i-1"),
        "instance_type": "g5.xlarge",
        "launched_at": NOW - 3600,
        "lease_until": NOW + 120,
        "max_until": NOW + 7200,
        "price_usd_hour": 2.0,
        "state": InstanceState.BUSY,
        "host_key_fingerprint": "SHA256:abc",
        "accrued_until": NOW - 1800,
        "accrued_usd": 1.0,
    }
    values.update(changes)
    return InstanceRecord(**values)


def test_reasons_in_order_reaper_then_mark_then_row_state_then_ec2() -> None:
    assert reap_reason(ec2(), row(reap_reason="owner-budget", mark="x")) == explain("owner-budget")
    assert explain("owner-budget") == "owner-budget: the owner's monthly budget is used up (see: wb costs)"
    assert reap_reason(ec2(), row(mark="down by AIDAME")) == "marked: down by AIDAME"
    assert reap_reason(ec2(), row(state=InstanceState.TERMINATING)) == "supervision row is terminating"
    assert reap_reason(ec2("terminated", "Client.UserInitiatedShutdown"), None) == (
        "instance terminated (Client.UserInitiatedShutdown)"
    )
    assert reap_reason(ec2(), row()) is None
    assert explain("something-new") == "something-new"


def meter(**changes: object) -> MeterRecord:
    base = MeterRecord(
        instance_arn=instance_arn("us-west-2", "123456789012", "i-1"), owner="AIDAME", team="ml",
        instance_type="g5.xlarge", spot=False, price=Price(2.0, PriceSource.TABLE), lifetime_start=NOW - 3600,
        first_seen=NOW - 3540, accrued_until=NOW - 1800, accrued_usd=1.0,
    )  # fmt: skip
    return base.replace(**changes)


def test_cost_is_what_the_reaper_charged_plus_the_time_since_at_its_price() -> None:
    forged = row(price_usd_hour=0.0, accrued_usd=0.0)  # the row's numbers are the member's, not the bill
    assert estimated_cost(ec2(), forged, NOW, meter()) == 1.0 + 0.5 * 2.0
    assert estimated_cost(ec2("terminated"), forged, NOW, meter()) == 1.0
    assert estimated_cost(ec2(), row(), NOW) == 1.0 * 2.0  # before the reaper's first run: launch price since launch
    assert estimated_cost(ec2(), None, NOW) is None


def test_an_unpriced_machine_says_so() -> None:
    unpriced = meter(instance_type="zz.huge", price=Price(98.32, PriceSource.FALLBACK))
    shown = to_instance(ec2(), row(), connect="public-ip", username="ubuntu", now=NOW, meter=unpriced)
    assert shown.cost_note == "unpriced: zz.huge is charged a fallback $98.32/h"
    assert to_instance(ec2(), row(), connect="public-ip", username="ubuntu", now=NOW, meter=meter()).cost_note is None


def test_instance_record_uses_the_connect_setting_and_the_rows_state_and_fingerprint() -> None:
    shown = to_instance(ec2(), row(), connect="private-ip", username="ubuntu", now=NOW, running_jobs=("j1",))
    assert (shown.target.host, shown.target.port, shown.target.username) == ("10.0.0.7", 22, "ubuntu")
    assert shown.target.host_key_fingerprint == "SHA256:abc"
    assert shown.state == "busy" and shown.owner == "AIDAME" and shown.lease_until == NOW + 120
    assert shown.running_jobs == ("j1",)
    public = to_instance(ec2(), row(), connect="public-ip", username="ubuntu", now=NOW)
    assert public.target.host == "203.0.113.7"
    gone = to_instance(ec2("terminated"), row(), connect="public-ip", username="ubuntu", now=NOW)
    assert gone.state == "terminated" and gone.lease_until is None

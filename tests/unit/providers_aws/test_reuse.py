"""Which warm instances qualify for reuse, in which order, and what the spec hash covers (pure)."""

from __future__ import annotations

from pathlib import Path

from weatherballoon.cli.config.loader import load_config
from weatherballoon.cli.providers.aws.instances import Ec2Instance
from weatherballoon.cli.providers.aws.reuse import SPEC_HASH, Candidate, choose, spec_hash
from weatherballoon.cli.providers.records import InstanceSpec
from weatherballoon.lambdas.records import InstanceRecord, InstanceState
from weatherballoon.lambdas.schema import instance_arn

NOW = 1_800_000_000.0


def candidate(instance_id: str = "i-1", ec2_state: str = "running", **row: object) -> Candidate:
    values: dict[str, object] = {
        "owner": "AIDAME",
        "instance_arn": instance_arn("us-west-2", "123456789012", instance_id),
        "instance_type": "g5.xlarge",
        "launched_at": NOW - 600,
        "lease_until": NOW + 300,
        "max_until": NOW + 3600,
        "price_usd_hour": 1.0,
        "state": InstanceState.IDLE,
        "host_key_fingerprint": "SHA256:abc",
        "extra": {SPEC_HASH: "h1"},
    }
    values.update(row)
    ec2 = Ec2Instance(
        instance_id=instance_id, state=ec2_state, instance_type="g5.xlarge", zone="a", launched_at=NOW - 600
    )
    return Candidate(ec2, InstanceRecord(**values))


def ids(found: list[Candidate]) -> list[str]:
    return [c.ec2.instance_id for c in found]


def test_only_idle_unmarked_matching_registered_running_ones_with_lease_left_qualify() -> None:
    good = candidate("i-good")
    bad = [
        candidate("i-busy", state=InstanceState.BUSY),
        candidate("i-launching", state=InstanceState.LAUNCHING),
        candidate("i-marked", mark="down by AIDAME"),
        candidate("i-other-spec", extra={SPEC_HASH: "h2"}),
        candidate("i-no-key", host_key_fingerprint=None),
        candidate("i-lease-ending", lease_until=NOW + 10),
        candidate("i-lifetime-ending", max_until=NOW + 10),
        candidate("i-stopping", ec2_state="stopping"),
    ]
    assert ids(choose([*bad, good], "h1", NOW, lambda c: True)) == ["i-good"]
    assert choose([good], "h1", NOW, lambda c: False) == []  # no key on this machine


def test_the_longest_lease_goes_first() -> None:
    found = choose([candidate("i-a", lease_until=NOW + 100), candidate("i-b", lease_until=NOW + 500)], "h1", NOW, bool)
    assert ids(found) == ["i-b", "i-a"]


def test_spec_hash_changes_with_what_shapes_the_machine(tmp_path: Path) -> None:
    (tmp_path / ".weatherballoon.json").write_text('{"provisioner": {"kind": "aws"}}')
    config = load_config(cwd=tmp_path).config
    base = spec_hash(config, InstanceSpec(instance_type="g5.xlarge"))
    assert base == spec_hash(config, InstanceSpec(instance_type="g5.xlarge", fresh=True, max_time_s=60))
    assert base != spec_hash(config, InstanceSpec(instance_type="g5.2xlarge"))
    assert base != spec_hash(config, InstanceSpec(instance_type="g5.xlarge", spot=True))
    (tmp_path / ".weatherballoon.json").write_text('{"provisioner": {"kind": "aws", "rootVolumeGb": 200}}')
    other = load_config(cwd=tmp_path).config
    assert base != spec_hash(other, InstanceSpec(instance_type="g5.xlarge"))


def test_an_idle_row_with_an_old_claim_token_qualifies_again() -> None:
    assert ids(choose([candidate(claim="old-token")], "h1", NOW, bool)) == ["i-1"]

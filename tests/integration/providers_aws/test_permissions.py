"""Every AWS call the provider makes, over launch, reuse, renewal, jobs, status, down and pull, is one
`permissions.OPERATION_ACTIONS` lists (and so one the member policy grants)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from weatherballoon.cli.jobs.index import LocalJob
from weatherballoon.cli.providers.aws import AwsProvider, permissions
from weatherballoon.cli.providers.records import InstanceSpec

from tests.integration.providers_aws.conftest import BootEmulator, World
from tests.integration.providers_aws.test_reuse import go_idle


def counted(provider: AwsProvider, calls: Counter[str]) -> AwsProvider:
    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    provider.plane.aws.boto.events.register("before-call", count)
    return provider


def test_the_provider_calls_only_what_it_declares(world: World, booting: BootEmulator) -> None:
    calls: Counter[str] = Counter()
    spec = InstanceSpec(instance_type="g5.xlarge", spot=True, max_cost_usd=2.0)
    loaded = world.project(supervision={"leaseMinutes": 0.03})
    first = counted(world.provider(loaded), calls)
    instance = first.acquire(spec).instance
    go_idle(world, instance)
    again = counted(world.provider(loaded), calls)
    held = again.acquire(spec)
    reused = held.instance
    record = LocalJob(id="20261124-000000-abc123", provider="aws", instance_id=reused.id, target=reused.target,
                       remote_root="~/wb/proj", command=("true",), outputs=("out/**",))  # fmt: skip
    with again.attached(reused):
        again.job_started(held, record)
        time.sleep(0.8)
    again.list_instances(everyone=True)
    again.job_stopped_reason(reused)
    again.terminate([again.resolve(reused.id)])
    again.pull_from_storage(record, ["out/**"], world.tmp / "pulled")
    unknown = sorted(op for op in calls if op not in permissions.OPERATION_ACTIONS)
    assert unknown == []
    assert {"RunInstances", "BatchGetItem", "UpdateItem", "PutItem", "TerminateInstances", "ListObjectsV2"} <= set(
        calls
    )

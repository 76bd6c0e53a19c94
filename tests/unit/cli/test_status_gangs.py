"""`wb status`'s gang lines (cli/render/gangs.py): one line per gang at its first machine's place."""

from __future__ import annotations

from weatherballoon.cli.providers.records import Instance, SshTarget
from weatherballoon.cli.render import gangs


def machine(instance_id: str, *, gang: str | None = None, rank: int | None = None, size: int | None = None,
            owner: str = "alice", state: str = "busy", cost: float | None = 1.0, lease: float | None = 100.0,
            reason: str | None = None) -> Instance:  # fmt: skip
    return Instance(
        instance_id, "aws", SshTarget("10.0.0.1"), state=state, owner=owner, est_cost_usd=cost, lease_until=lease,
        launched_at=10.0, reap_reason=reason, gang=gang, gang_rank=rank, gang_size=size,
    )  # fmt: skip


LISTING = [
    machine("i-solo"),
    machine("i-b", gang="g1", rank=1, size=3, lease=50.0),
    machine("i-a", gang="g1", rank=0, size=3),
    machine("i-bob", gang="g1", rank=0, size=2, owner="bob"),  # Bob's gang with the same id is another gang
    machine("i-c", gang="g1", rank=2, size=3, state="terminating", reason="gang-member-ended", cost=None),
]


def test_a_gang_is_one_line_at_its_first_machine() -> None:
    found = gangs.lines(LISTING)
    assert [line.instance.id if line.instance else [m.id for m in line.members] for line in found] == [
        "i-solo", ["i-a", "i-b", "i-c"], ["i-bob"],
    ]  # fmt: skip
    alice = found[1].members
    assert gangs.gang_label(alice) == "gang g1 (x3)"
    assert gangs.gang_state(alice) == "busy x2, terminating x1"
    assert gangs.total_cost(alice) == 2.0 and gangs.shortest_lease(alice) == 50.0
    assert gangs.first_reason(alice) == "i-c: gang-member-ended"
    assert gangs.gang_label(found[2].members) == "gang g1 (1 of 2)"


def test_expand_lists_each_machine_under_its_gang_by_rank() -> None:
    found = gangs.lines(LISTING, expand=True)
    members = [line.instance.id for line in found if line.member_of == "g1" and line.instance]
    assert members == ["i-a", "i-b", "i-c", "i-bob"]
    assert found[1].is_gang and [line.instance.id for line in found[2:5] if line.instance] == ["i-a", "i-b", "i-c"]

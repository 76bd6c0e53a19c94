"""wb status [--all] [--json] [--expand]"""

from __future__ import annotations

import time

import click

from ..app import App


@click.command()
@click.option("--all", "everyone", is_flag=True, help="Everyone's machines, not only mine.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--expand", is_flag=True, help="Show each machine of a gang (wb run --nodes) under its line.")
@click.pass_obj
def command(app: App, everyone: bool, as_json: bool, expand: bool) -> int:
    """Machines: id, owner, type, state, uptime, est. cost, lease left, running jobs, reason if reaped. A gang
    (wb run --nodes N) is one line, with its machines' summed cost and shortest lease; --expand lists them."""
    from dataclasses import asdict

    from ..durations import format_duration
    from ..render.money import format_usd_or
    from ..render.table import print_json, print_table

    provider = app.provider()
    try:
        instances = provider.list_instances(everyone=everyone)
    finally:
        provider.close()
    if as_json:
        print_json([asdict(instance) for instance in instances])
        return 0
    from ..render import gangs

    now = time.time()
    rows = []
    for line in gangs.lines(instances, expand=expand):
        if line.is_gang:
            members = line.members
            started, until = gangs.first_start(members), gangs.shortest_lease(members)
            uptime = format_duration(now - started) if started else None
            lease = format_duration(max(0.0, until - now)) if until else None
            cost = format_usd_or(gangs.total_cost(members), None)
            running = str(sum(len(m.running_jobs) for m in members))
            first = members[0]
            state, reason = gangs.gang_state(members), gangs.first_reason(members)
            rows.append([gangs.gang_label(members), first.owner, first.instance_type, state, uptime, cost, lease,
                         running, reason])  # fmt: skip
            continue
        item = line.instance
        assert item is not None
        uptime = format_duration(now - item.launched_at) if item.launched_at else None
        lease = format_duration(max(0.0, item.lease_until - now)) if item.lease_until else None
        cost = format_usd_or(item.est_cost_usd, None)
        if item.cost_note:  # the supervisor cannot price this type: it charges a conservative fallback
            cost = f"{cost or '-'} (unpriced)"
        jobs = f"{len(item.running_jobs)}" + (f" ({', '.join(item.running_jobs[:3])})" if item.running_jobs else "")
        name = f"  rank {item.gang_rank}: {item.id}" if line.member_of else item.id
        rows.append([name, item.owner, item.instance_type, item.state, uptime, cost, lease, jobs, item.reap_reason])
    print_table(["INSTANCE", "OWNER", "TYPE", "STATE", "UPTIME", "EST. COST", "LEASE LEFT", "JOBS", "REASON"], rows)
    for item in instances:
        if item.cost_note:
            click.echo(f"note: {item.id}: {item.cost_note} (ask the admin to refresh the price table)", err=True)
    return 0

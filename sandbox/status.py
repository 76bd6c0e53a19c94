"""`wb sandbox status`: the sandbox, its reaper and its hosts, from the files the daemon keeps."""

from __future__ import annotations

import sys
import time

from weatherballoon.cli.render.table import print_table

from .layout import Layout
from .records import HostTable, ReaperStatus, SandboxState


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def summary_lines(state: SandboxState, alive: bool, reaper: ReaperStatus | None, layout: Layout) -> list[str]:
    now = time.time()
    options = state.options
    health = state.phase if alive else f"daemon gone (was {state.phase}): run `wb sandbox down` to clean up"
    lines = [
        f"sandbox   {state.sandbox_id}: {health}, daemon pid {state.daemon_pid}, up {ago(now - state.started_at)}",
        f"endpoint  {state.endpoint if state.port else '-'} (region {options.region}; "
        f"hosts reach it at {state.host_endpoint if state.port else '-'})",
        f"hosts     login {state.account or '-'}; private IPs in {state.network or '-'}, reached by route from here",
        f"leases    lease {options.lease_minutes:g} min, idle {options.idle_minutes:g} min; "
        f"agents renew every {options.renew_seconds:g} s",
        f"stack     {'table ' + state.table_name if state.table_name else 'none yet (--no-stack)'}; "
        f"VPC {state.vpc_id or '-'}",
    ]
    if state.phase == "failed" and state.message:
        lines.append(f"failure   {state.message}")
    if state.phase == "starting":
        lines.append(f"starting  {state.step}")
    if reaper is None or reaper.last_run_at is None:
        lines.append(f"reaper    every {options.reaper_period_s:g} s; not run yet")
    else:
        verdict = "ok" if reaper.last_ok else f"FAILED: {reaper.last_error}"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(reaper.last_counts.items()) if v) or "nothing to do"
        lines.append(
            f"reaper    every {reaper.period_s:g} s; last run {ago(now - reaper.last_run_at)} ago: {verdict} "
            f"({counts}); {reaper.runs} runs, {len(reaper.terminated)} instances terminated"
        )
    lines += [f'settings  eval "$(wb sandbox env)" (also in {layout.config_file})', f"logs      {layout.logs}"]
    return lines


def show(state: SandboxState, alive: bool, reaper: ReaperStatus | None, table: HostTable, layout: Layout) -> None:
    now = time.time()
    sys.stdout.write("\n".join(summary_lines(state, alive, reaper, layout)) + "\n\n")
    rows = [
        [
            h.instance_id, h.namespace, h.private_ip, h.user, h.state,
            f"in {ago(h.deadline - now)}" if h.deadline else None, h.fingerprint, h.reason,
        ]
        for h in table.live
    ]  # fmt: skip
    if rows:
        headers = ["INSTANCE", "NAMESPACE", "PRIVATE IP", "USER", "STATE", "POWER-OFF", "HOST KEY", "NOTE"]
        print_table(headers, rows, title="hosts")
    else:
        sys.stdout.write("hosts: none (each instance moto launches with wb's tags gets one)\n")
    if table.ended:
        sys.stdout.write("\n")
        ended = [[h.instance_id, h.state, f"{ago(now - (h.ended_at or now))} ago", h.reason] for h in table.ended]
        print_table(["INSTANCE", "ENDED AS", "WHEN", "WHY"], ended[-10:], title="ended hosts")

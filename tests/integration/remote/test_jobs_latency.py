"""How long a warm `run --follow -- true` takes; printed, never asserted (benchmarks live in bench/)."""

from __future__ import annotations

import statistics
import time

from .conftest import Agent

RUNS = 20


def test_warm_run_follow_true_latency(agent: Agent) -> None:
    agent.follow_job("true")  # warm the page cache
    for label, options in (("", ()), (" --stdin", ("--stdin",))):
        samples = []
        for _ in range(RUNS):
            started = time.perf_counter()
            _, result = agent.follow_job("true", *options)
            samples.append((time.perf_counter() - started) * 1000)
            assert result.returncode == 0
        print(f"\nrun --follow{label} -- true: median {statistics.median(samples):.1f} ms of {RUNS}"
              f" (min {min(samples):.1f}, max {max(samples):.1f}), {agent.python} -I -S agent.pyz")

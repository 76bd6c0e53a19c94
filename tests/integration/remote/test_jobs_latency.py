"""How long a warm `run --follow -- true` takes; printed, never asserted (benchmarks live in bench/)."""

from __future__ import annotations

import statistics
import subprocess
import time

from .conftest import Agent

RUNS = 20
STDIN_RUNS = 10


def test_warm_run_follow_true_latency(agent: Agent) -> None:
    agent.follow_job("true")  # warm the page cache
    for label, options, runs in (("", (), RUNS), (" --stdin", ("--stdin",), STDIN_RUNS)):
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            _, result = agent.follow_job("true", *options)
            samples.append((time.perf_counter() - started) * 1000)
            assert result.returncode == 0
        print(
            f"\nrun --follow{label} -- true: median {statistics.median(samples):.1f} ms of {runs}"
            f" (min {min(samples):.1f}, max {max(samples):.1f}), {agent.python} -I -S agent.pyz"
        )


# Each costs milliseconds at startup (`re` alone several); the hot path is written to do without them.
HEAVY_MODULES = {"json", "re", "enum", "signal", "typing", "subprocess", "argparse", "dataclasses", "threading"}


def test_the_run_path_imports_nothing_heavy(agent: Agent) -> None:
    job_id = agent.new_id()
    result = subprocess.run(
        [
            agent.python,
            "-I",
            "-S",
            "-X",
            "importtime",
            str(agent.zip_path),
            *agent.run_args(job_id, "--follow"),
            "--",
            "true",
        ],
        capture_output=True,
        env=agent.env,
        check=True,
    )
    imported = {
        line.split("|")[-1].strip() for line in result.stderr.decode().splitlines() if line.startswith("import time:")
    }
    assert "weatherballoon.remote.jobs.run" in imported
    assert not imported & HEAVY_MODULES, sorted(imported & HEAVY_MODULES)

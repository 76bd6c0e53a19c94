"""Small statistics and reporting helpers shared by the benchmarks."""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
from importlib.metadata import PackageNotFoundError, version


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `fraction` of samples at or below it."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(samples: list[float]) -> dict[str, float]:
    """Median, p90, min and max of samples given in seconds, in milliseconds."""
    return {
        "median": statistics.median(samples) * 1000,
        "p90": percentile(samples, 0.9) * 1000,
        "min": min(samples) * 1000,
        "max": max(samples) * 1000,
        "n": len(samples),
    }


def machine() -> dict[str, str]:
    """What the numbers were measured on, for the record."""
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False).stderr.strip()

    def pkg(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "absent"

    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=False)
    return {
        "commit": commit.stdout.strip() or "unknown",
        "cpus": str(os.cpu_count()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "openssh": ssh,
        "paramiko": pkg("paramiko"),
        "load average (1, 5, 15 min)": load,
    }


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)

"""`WB_TRACE=1` prints a timeline of a command's phases to stderr (ms since the interpreter started)."""

from __future__ import annotations

import os
import sys
import time

ENABLED = os.environ.get("WB_TRACE") == "1"


def mark(label: str) -> None:
    if ENABLED:
        elapsed = (time.perf_counter() - _START) * 1000
        sys.stderr.write(f"wb-trace {elapsed:8.1f} ms  {label}\n")


def _process_start() -> float:
    # Interpreter start, measured from the process's own CPU-clock-independent age where /proc allows it.
    try:
        with open("/proc/self/stat") as handle:
            start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        age = uptime - start_ticks / os.sysconf("SC_CLK_TCK")
        return time.perf_counter() - max(0.0, age)
    except (OSError, ValueError, IndexError):
        return time.perf_counter()


_START = _process_start()


def started_at() -> float:
    """When this process started, as wall-clock time (handed to a warm client's child: one timeline)."""
    return time.time() - (time.perf_counter() - _START)


def restart(started: float | None = None) -> None:
    """In a warm client's child: read WB_TRACE of the command it became, and count from when that command's
    process started (`started`, wall-clock), or from now."""
    global ENABLED, _START
    ENABLED = os.environ.get("WB_TRACE") == "1"
    _START = time.perf_counter() - (time.time() - started if started else 0.0)

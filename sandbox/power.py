"""What the host manager does for one host's power, playing PID 1, logind and the hypervisor: it acts on
the requests the host's emulated `systemctl` and `shutdown` leave (systemd_emulation.py).

- `poweroff`: the host powers off now (its reason is the `systemctl --message`, e.g. the agent's).
- `shutdown.json`, logind's schedule: /run/nologin appears five minutes before the deadline (the command
  itself writes it when the deadline is closer), and the host powers off at the deadline.
- `timers/<unit>.json`: each started timer's service command runs in the host, as root, `OnActiveSec` after
  the start and `OnUnitActiveSec` after each run began; a run still going is not started twice.

`deadline()` is the next power-off this host is known to face, for `wb sandbox status`: logind's schedule,
or the dead-man deadline wb-power keeps in /run/wb-power/deadline (seconds of uptime).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import systemd_emulation
from .hostfs import HostFs

Spawn = Callable[[Sequence[str]], "subprocess.Popen[bytes]"]


@dataclass
class TimerRun:
    activated_at: float
    last_start: float | None = None
    process: subprocess.Popen[bytes] | None = None


def _json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None


def uptime_s() -> float:
    with open("/proc/uptime") as handle:
        return float(handle.read().split()[0])


class HostPower:
    def __init__(self, fs: HostFs, spawn: Spawn) -> None:
        self.fs = fs
        self.spawn = spawn
        self.timers: dict[str, TimerRun] = {}

    def tick(self, now: float) -> str | None:
        """Why the host powers off now, or None (after running what is due)."""
        request = self.fs.poweroff_request()
        if request is not None:
            return f"powered itself off ({request})"
        schedule = _json(self.fs.run_dir / "shutdown.json")
        if schedule is not None:
            if now >= float(schedule["deadline"]):
                return "its scheduled shutdown (shutdown -h) came"
            if now >= float(schedule["nologin_at"]) and not self.fs.nologin().exists():
                self._logind_nologin()
        self._run_timers(now)
        return None

    def _logind_nologin(self) -> None:
        self.fs.nologin().write_text(systemd_emulation.NOLOGIN_TEXT)
        (self.fs.run_dir / "nologin-by-logind").write_text(f"{time.time():.3f}\n")

    def _run_timers(self, now: float) -> None:
        found = {path.name[: -len(".json")]: _json(path) for path in (self.fs.run_dir / "timers").glob("*.json")}
        for unit in [u for u in self.timers if u not in found]:
            del self.timers[unit]  # stopped
        for unit, timer in found.items():
            if timer is None:
                continue
            run = self.timers.get(unit)
            if run is None or run.activated_at != timer["activated_at"]:
                run = self.timers[unit] = TimerRun(float(timer["activated_at"]))
            if run.process is not None and run.process.poll() is None:
                continue  # a oneshot still running is not started again
            due = self._due(run, timer)
            if due is not None and now >= due:
                run.last_start = now
                run.process = self.spawn(shlex.split(str(timer["exec_start"])))

    @staticmethod
    def _due(run: TimerRun, timer: dict[str, Any]) -> float | None:
        if run.last_start is None:
            first = timer.get("on_active_s")
            if first is None:
                first = timer.get("on_unit_active_s")
            return None if first is None else run.activated_at + float(first)
        every = timer.get("on_unit_active_s")
        return None if every is None else run.last_start + float(every)

    def deadline(self, now: float) -> float | None:
        schedule = _json(self.fs.run_dir / "shutdown.json")
        if schedule is not None:
            return float(schedule["deadline"])
        try:
            left = float((self.fs.host_run / "wb-power" / "deadline").read_text().split()[0]) - uptime_s()
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return now + left

    def stop(self) -> None:
        for run in self.timers.values():
            if run.process is not None and run.process.poll() is None:
                run.process.kill()
                run.process.wait(timeout=5)

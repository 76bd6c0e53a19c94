"""The reaper on a timer: moto never fires EventBridge schedules and never runs Lambda code, so the sandbox
calls the real handler (`weatherballoon.lambdas.reaper.handler`) itself, every period, in its own process,
with the environment the stack gave the function (TABLE_NAME, MODE, budgets, ...)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from .records import ReaperStatus, write_json

log = logging.getLogger("wb.sandbox.reaper")
KEEP_TERMINATED = 500


@dataclass(frozen=True)
class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = "wb-sandbox"


class ReaperTimer:
    def __init__(
        self, period_s: float, environment: Mapping[str, str], context: LambdaContext, status_file: Path
    ) -> None:
        self.period_s = period_s
        self.environment = dict(environment)
        self.context = context
        self.status_file = status_file
        self.status = ReaperStatus(period_s=period_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ReaperTimer:
        # As Lambda does: the function's environment is the process environment of the handler.
        os.environ.update(self.environment)
        write_json(self.status_file, self.status)
        self._thread = threading.Thread(target=self._loop, name="reaper-timer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.run_once()
            self._stop.wait(max(0.0, self.period_s - (time.monotonic() - began)))

    def run_once(self) -> ReaperStatus:
        from weatherballoon.lambdas import reaper

        at = time.time()
        try:
            summary = reaper.handler({"source": "wb.sandbox", "detail-type": "Scheduled Event"}, self.context)
        except Exception as exc:  # a failed run is recorded, and the next period tries again, as on Lambda
            log.warning("reaper run failed: %s: %s", type(exc).__name__, exc)
            self.status = replace(
                self.status, runs=self.status.runs + 1, last_run_at=at, last_ok=False, last_error=str(exc)[:500]
            )
        else:
            terminated = {**self.status.terminated, **summary.get("terminated", {})}
            if terminated != self.status.terminated:
                log.info("reaper terminated %s", summary.get("terminated"))
            self.status = replace(
                self.status,
                runs=self.status.runs + 1,
                last_run_at=at,
                last_ok=True,
                last_error=None,
                last_counts={k: int(v) for k, v in summary.get("counts", {}).items()},
                terminated=dict(list(terminated.items())[-KEEP_TERMINATED:]),
            )
        write_json(self.status_file, self.status)
        return self.status

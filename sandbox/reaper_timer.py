"""The reaper on a timer: moto never fires EventBridge schedules and never runs Lambda code, so the sandbox
plays EventBridge's part. Every period it lists the functions in moto, and for each wb reaper function (its
handler is `weatherballoon.lambdas.reaper.handler`) it calls the real handler once, in its own process, with
the environment that function's stack gave it (TABLE_NAME, MODE, budgets, ...), as Lambda would.

So every wb stack deployed into the sandbox is supervised: the sandbox's own, and any other one, such as the
throwaway stack of `wb doctor --live`. A function whose stack is deleted drops out at the next period.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .records import ReaperStatus, write_json

log = logging.getLogger("wb.sandbox.reaper")
KEEP_TERMINATED = 500
HANDLER = "weatherballoon.lambdas.reaper.handler"


@dataclass(frozen=True)
class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = "wb-sandbox"


@dataclass(frozen=True)
class ReaperFunction:
    """A deployed wb reaper: its name and ARN, and the environment its stack configured."""

    name: str
    arn: str
    environment: Mapping[str, str]

    @property
    def context(self) -> LambdaContext:
        return LambdaContext(function_name=self.name, invoked_function_arn=self.arn)


def reaper_functions(lambda_client: Any) -> list[ReaperFunction]:
    """Every function in the sandbox's region whose handler is wb's reaper, by name."""
    found: list[ReaperFunction] = []
    for page in lambda_client.get_paginator("list_functions").paginate():
        for function in page.get("Functions", []):
            if function.get("Handler") != HANDLER:
                continue
            variables = (function.get("Environment") or {}).get("Variables") or {}
            environment = {key: str(value) for key, value in variables.items()}
            found.append(ReaperFunction(function["FunctionName"], function["FunctionArn"], environment))
    return sorted(found, key=lambda f: f.name)


class ReaperTimer:
    def __init__(self, period_s: float, functions: Callable[[], list[ReaperFunction]], status_file: Path) -> None:
        self.period_s = period_s
        self.functions = functions
        self.status_file = status_file
        self.status = ReaperStatus(period_s=period_s)
        self._reapers: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}  # one warm "container" each
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ReaperTimer:
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
        """One schedule tick: each reaper function runs once; a failed one is recorded, the next tick retries."""
        at = time.time()
        try:
            functions = self.functions()
        except Exception as exc:  # moto busy: the next tick lists them again
            log.warning("listing the reaper functions failed: %s: %s", type(exc).__name__, exc)
            return self._record(at, [f"listing functions: {exc}"], {}, {})
        live = {(f.name, tuple(sorted(f.environment.items()))) for f in functions}
        self._reapers = {key: value for key, value in self._reapers.items() if key in live}
        errors: list[str] = []
        counts: dict[str, int] = {}
        terminated: dict[str, str] = {}
        for function in functions:
            try:
                summary = self._invoke(function)
            except Exception as exc:  # as on Lambda: the run counts as an error, the schedule goes on
                log.warning("reaper run of %s failed: %s: %s", function.name, type(exc).__name__, exc)
                errors.append(f"{function.name}: {str(exc)[:400]}")
                continue
            for key, value in summary.get("counts", {}).items():
                counts[key] = counts.get(key, 0) + int(value)
            terminated.update(summary.get("terminated", {}))
        if terminated:
            log.info("reaper terminated %s", terminated)
        return self._record(at, errors, counts, terminated, ran=bool(functions))

    def _invoke(self, function: ReaperFunction) -> dict[str, Any]:
        from weatherballoon.lambdas import reaper
        from weatherballoon.lambdas.config import ReaperSettings

        # As Lambda does: the function's environment is the process environment of its handler.
        os.environ.update(function.environment)
        key = (function.name, tuple(sorted(function.environment.items())))
        if key not in self._reapers:
            self._reapers[key] = reaper.build_reaper(ReaperSettings.from_env(function.environment))
        reaper.set_reaper(self._reapers[key])
        summary: dict[str, Any] = reaper.handler({"source": "wb.sandbox", "detail-type": "Scheduled Event"},
                                                 function.context)  # fmt: skip
        return summary

    def _record(
        self,
        at: float,
        errors: list[str],
        counts: dict[str, int],
        terminated: dict[str, str],
        *,
        ran: bool = True,
    ) -> ReaperStatus:
        if not ran and not errors:
            return self.status  # no wb stack deployed yet: nothing ran
        merged = {**self.status.terminated, **terminated}
        self.status = replace(
            self.status,
            runs=self.status.runs + 1,
            last_run_at=at,
            last_ok=not errors,
            last_error="; ".join(errors)[:500] or None,
            last_counts=counts,
            terminated=dict(list(merged.items())[-KEEP_TERMINATED:]),
        )
        write_json(self.status_file, self.status)
        return self.status

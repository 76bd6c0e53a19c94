"""When the daemon pushes outputs to S3: a job's at its end (on the push thread, so renewals never wait),
everyone's at once on a spot interruption notice, and everyone's not yet in S3 before power-off and when
the system stops the daemon (synchronously, within WB_PUSH_DEADLINE_S). What gets pushed: `daemon.s3push`.

Runs on python3 >= 3.8 with boto3 (aws instances only).
"""

from __future__ import annotations

import time

from ..jobs.store import JobPaths, write_json_atomic
from .s3push import PushWorker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .local_jobs import LocalJob
    from .protocols import Clock, Metadata
    from .s3push import OutputPusher, PushResult
    from .state import DaemonLog, DaemonState

PUSH_RETRY_S = 60.0  # a failed push is tried again after this, not every pass
IMDS_RETRY_S = 300.0  # an unreachable IMDS is asked again after this
SPOT_ACTION = "meta-data/spot/instance-action"


def push_error(result: PushResult) -> str:
    """One line for the job's row and the client: how many files failed, and the first reason."""
    first = result.errors[0] if result.errors else "failed"
    more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
    return f"{first}{more}"[:400]


class OutputDuty:
    def __init__(
        self, pusher: OutputPusher | None, state: DaemonState, log: DaemonLog, clock: Clock, deadline_s: float,
        imds: Metadata | None = None, jobs_root: str | None = None,
    ) -> None:  # fmt: skip
        self.pusher, self.state, self.log, self.clock = pusher, state, log, clock
        self.deadline_s = deadline_s
        self.imds = imds
        self.jobs_root = jobs_root
        self.worker: PushWorker | None = None
        self.failed: dict[str, float] = {}  # job id -> when its last push failed
        self.inflight: dict[str, bool] = {}  # job id -> whether it had ended when its push was requested
        # job id -> (at, error or None): the last push, not yet on the job's row
        self.unrecorded: dict[str, tuple[float, str | None]] = {}
        self.imds_retry_at = 0.0

    def start(self) -> None:
        """Start the push thread (after the daemon blocked its signals: the thread inherits the mask)."""
        if self.pusher is not None and self.worker is None:
            self.worker = PushWorker(self.pusher, on_result=self.note)

    def note(self, result: PushResult) -> None:
        """Keep the push's outcome in the job's `push.json` (on the push thread, as soon as it ends), where
        `list`/`status` (so `wb run`, `wb jobs`, `wb pull`) find it; a failure is never only in the log."""
        if self.pusher is None:
            return
        record = result.note(self.pusher.bucket, self.pusher.prefix, self.clock())
        try:
            write_json_atomic(JobPaths(result.job_id, self.jobs_root).push, record)
        except (OSError, ValueError) as exc:  # the job's folder is gone (or never was): the log still says it
            self.log.write("push-note-unwritten", job=result.job_id, error=str(exc)[:200])

    def _settled(self, result: PushResult, **fields: object) -> None:
        """A push ended: log it, and queue its outcome for the job's row (the daemon writes it)."""
        self.log.write("push", **fields, result=result.describe())
        error = None if result.ok else push_error(result)
        self.unrecorded[result.job_id] = (self.clock(), error)

    def request(self, jobs: list[LocalJob], now: float) -> None:
        """Queue a push of each job's outputs, unless one is under way or failed a moment ago."""
        if self.worker is None:
            return
        for job in jobs:
            request = job.push_request()
            if request is None:
                if job.ended and job.job_id not in self.state.pushed:
                    self.state.pushed.append(job.job_id)  # nothing declared: nothing to push
                continue
            if job.job_id in self.inflight or now - self.failed.get(job.job_id, -1e18) < PUSH_RETRY_S:
                continue
            self.inflight[job.job_id] = job.ended
            self.worker.request(request)

    def collect(self) -> None:
        """Log finished pushes; an ended job whose push went through is done for good."""
        if self.worker is None:
            return
        for result in self.worker.results():
            had_ended = self.inflight.pop(result.job_id, False)
            self._settled(result)
            if not result.ok:
                self.failed[result.job_id] = self.clock()
            elif had_ended and result.job_id not in self.state.pushed:
                self.state.pushed.append(result.job_id)

    def push_all(self, jobs: list[LocalJob], why: str) -> None:
        """Now, on this thread: every job not known to be in S3 (running ones too), within the deadline."""
        if self.pusher is None:
            return
        deadline = time.monotonic() + self.deadline_s
        if self.worker is not None:
            self.worker.wait_idle(deadline - time.monotonic())
            self.collect()
        for job in jobs:
            request = job.push_request()
            if request is not None and (job.running or job.job_id not in self.state.pushed):
                result = self.pusher.push(request, deadline)
                self.note(result)
                self._settled(result, why=why)

    def check_spot(self, jobs: list[LocalJob], now: float) -> str | None:
        """On EC2's spot interruption notice (IMDS), push every job once; the notice, the first time seen."""
        if self.imds is None or self.state.spot_notice or now < self.imds_retry_at:
            return None
        try:
            notice = self.imds.get(SPOT_ACTION)
        except OSError as exc:
            self.imds_retry_at = now + IMDS_RETRY_S
            self.log.write("imds-unreachable", error=str(exc)[:200], retry_in=f"{IMDS_RETRY_S:g}s")
            return None
        if not notice:
            return None
        text = notice.strip()[:500]
        self.state.spot_notice = {"at": now, "notice": text}
        self.log.write("spot-interruption", notice=text)
        self.failed.clear()
        self.request([job for job in jobs if job.running or job.job_id not in self.state.pushed], now)
        return text

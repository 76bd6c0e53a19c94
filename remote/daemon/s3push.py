"""Push a job's declared outputs to S3: `s3://WB_BUCKET/WB_S3_PREFIX<job_id>/<path relative to the job's cwd>`.

Which files: the regular files the job's `outputs` globs cover under its cwd (`outputs.find_outputs`, the
same walk `outputs-pack` makes; symlinks are not followed into S3). Idempotent: each object carries the
file's mtime in its metadata (`wb-mtime-ns`), and a file whose object has the same size and mtime is not
sent again. The instance role may HeadObject/GetObject/PutObject under its own prefix but not list it, so a
missing object answers 403 or 404 alike: both mean "send it".

`PushWorker` runs pushes on a thread so a large upload never delays a lease renewal.
Runs on python3 >= 3.8 with boto3 (aws instances only).
"""

from __future__ import annotations

import contextlib
import os
import queue
import stat
import threading
import time

from ..sync.outputs import find_outputs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .protocols import ObjectStore

MTIME_KEY = "wb-mtime-ns"
_ABSENT = frozenset({"404", "403", "NoSuchKey", "NotFound", "AccessDenied", "Forbidden"})


class JobOutputs:
    """One job's push request: where its files are and which globs it declared."""

    __slots__ = ("cwd", "job_id", "patterns")

    def __init__(self, job_id: str, cwd: str, patterns: list) -> None:
        self.job_id = job_id
        self.cwd = cwd
        self.patterns = [str(p) for p in patterns]


class PushResult:
    __slots__ = ("bytes", "errors", "job_id", "seconds", "skipped", "uploaded")

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.uploaded = 0
        self.skipped = 0
        self.bytes = 0
        self.errors: list[str] = []
        self.seconds = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def note(self, bucket: str, prefix: str, at: float) -> dict:
        """What `push.json` keeps of this push, for `list`/`status` and the client (`wb run`, `wb jobs`, `wb pull`)."""
        return {
            "at": at,
            "ok": self.ok,
            "uploaded": self.uploaded,
            "skipped": self.skipped,
            "bytes": self.bytes,
            "failed": len(self.errors),
            "errors": self.errors[:3],
            "where": f"s3://{bucket}/{prefix}{self.job_id}/",
        }

    def describe(self) -> str:
        text = (
            f"outputs of job {self.job_id}: {self.uploaded} uploaded ({self.bytes} bytes), "
            f"{self.skipped} already there, {self.seconds:.2f}s"
        )
        if self.errors:
            text += f"; {len(self.errors)} failed: " + "; ".join(self.errors[:3])
        return text


def unreachable(exc: BaseException) -> bool:
    """botocore could not reach the endpoint at all (refused, timed out, no route)."""
    try:
        from botocore.exceptions import ConnectionError as NoConnection
    except ImportError:
        return False
    return isinstance(exc, NoConnection)


def object_key(prefix: str, job_id: str, rel: str) -> str:
    return f"{prefix}{job_id}/{rel}"


def planned(job: JobOutputs) -> list:
    """[(relative path, size, mtime_ns)] of the regular files to push, in walk order."""
    if not job.patterns or not os.path.isdir(job.cwd):
        return []
    return [
        (rel, st.st_size, st.st_mtime_ns) for rel, st in find_outputs(job.cwd, job.patterns) if stat.S_ISREG(st.st_mode)
    ]


class OutputPusher:
    """Uploads through one S3 client (built on first use by `client_factory`)."""

    def __init__(self, client_factory: Callable[[], ObjectStore], bucket: str, prefix: str) -> None:
        self._factory = client_factory
        self._client: ObjectStore | None = None
        self.bucket = bucket
        self.prefix = prefix

    @property
    def client(self) -> ObjectStore:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def _already_there(self, key: str, size: int, mtime_ns: int) -> bool:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # botocore's ClientError; boto3 is not imported at module level
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in _ABSENT:
                return False
            raise
        return int(head.get("ContentLength", -1)) == size and head.get("Metadata", {}).get(MTIME_KEY) == str(mtime_ns)

    def push(self, job: JobOutputs, deadline: float | None = None) -> PushResult:
        """Push what is missing; stops early (an error per file left) once monotonic `deadline` passes."""
        result = PushResult(job.job_id)
        started = time.monotonic()
        for rel, size, mtime_ns in planned(job):
            if deadline is not None and time.monotonic() > deadline:
                result.errors.append(f"{rel}: out of time")
                continue
            key = object_key(self.prefix, job.job_id, rel)
            try:
                if self._already_there(key, size, mtime_ns):
                    result.skipped += 1
                    continue
                self.client.upload_file(
                    os.path.join(job.cwd, rel), self.bucket, key, ExtraArgs={"Metadata": {MTIME_KEY: str(mtime_ns)}}
                )
            except Exception as exc:  # one file failing must not stop the others (permissions, vanished)...
                result.errors.append(f"{rel}: {type(exc).__name__}: {exc}"[:300])
                if unreachable(exc):  # ...but no endpoint means none of them gets through: stop trying
                    result.errors.append("S3 unreachable: the other files were not tried")
                    break
                continue
            result.uploaded += 1
            result.bytes += size
        result.seconds = time.monotonic() - started
        return result


class PushWorker:
    """A thread that pushes the jobs it is handed, one at a time; results are collected by the daemon."""

    def __init__(self, pusher: OutputPusher, on_result: Callable[[PushResult], None] | None = None) -> None:
        self.pusher = pusher
        self.on_result = on_result  # called on the push thread as each push ends (the job's push.json)
        self._requests: queue.Queue[JobOutputs | None] = queue.Queue()
        self._results: queue.Queue[PushResult] = queue.Queue()
        self._pending = 0
        self._done = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="wb-push", daemon=True)
        self._thread.start()

    def request(self, job: JobOutputs) -> None:
        with self._done:
            self._pending += 1
        self._requests.put(job)

    def _run(self) -> None:
        while True:
            job = self._requests.get()
            if job is None:
                return
            try:
                result = self.pusher.push(job)
            except Exception as exc:  # never let the thread die: later pushes still matter
                result = PushResult(job.job_id)
                result.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            if self.on_result is not None:
                with contextlib.suppress(Exception):  # a note that cannot be written must not lose the result
                    self.on_result(result)
            self._results.put(result)
            with self._done:
                self._pending -= 1
                self._done.notify_all()

    def results(self) -> list[PushResult]:
        found = []
        while True:
            try:
                found.append(self._results.get_nowait())
            except queue.Empty:
                return found

    def wait_idle(self, timeout: float) -> bool:
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, max(0.0, timeout))

    def stop(self) -> None:
        self._requests.put(None)

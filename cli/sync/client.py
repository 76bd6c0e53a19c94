"""`sync_up`: make the remote root mirror the local upload set, in one manifest round trip and one stream.

    local scan (thread; start_scan) ──┐
    agent sync-scan --apply ── prestat ┴─ manifest out, differences back ─ diff ─ one stream, or EOF

One agent process on one channel does the whole sync: it stats what it recorded while the client
scans, answers the manifest, then reads the stream from the same stdin. With nothing to change, the
client closes stdin and the agent exits without touching anything. Local
files under an output glob (`protect`) are never uploaded: outputs flow down, not up, so a pulled
checkpoint can never overwrite a newer one the job wrote.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SyncError
from ..session.process import AgentRunner
from .agent_call import AgentCall
from .diff import diff, settle
from .local_scan import local_digest, scan
from .manifest import exchange
from .prepare import PendingScan, PreparedUpload, prepare_upload, start_scan
from .records import SyncPlan, SyncProgress, SyncSummary

if TYPE_CHECKING:
    from .pull import pull_outputs
    from .send import StreamTotals

__all__ = ["default_remote_root", "pull_outputs", "scan", "start_scan", "sync_up"]


def __getattr__(name: str) -> Any:
    # `pull_outputs` lives in .pull, imported only when asked for: a sync up never needs it.
    if name == "pull_outputs":
        from .pull import pull_outputs

        return pull_outputs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


EXIT_DISK = 3
EXIT_STREAM = 4


def _protect_args(protect: Sequence[str]) -> list[str]:
    return [arg for glob in protect for arg in ("--protect", glob)]


def sync_up(
    runner: AgentRunner,
    local_root: Path,
    remote_root: str,
    *,
    excludes: Sequence[str] = (),
    protect: Sequence[str] = (),
    progress: Callable[[SyncProgress], None] | None = None,
    compress_level: int = 1,
    scanned: PendingScan | None = None,
) -> SyncSummary:
    """Sync `local_root` to `remote_root` on the machine `runner` reaches; raise SyncError on failure.

    `scanned`: a `start_scan(...)` begun earlier with the same root, excludes and protect globs.
    """
    started = time.perf_counter()
    root = Path(local_root).absolute()
    local = scanned if scanned is not None else start_scan(root, excludes=excludes, protect=protect)
    call = AgentCall(runner(["sync-scan", remote_root, "--apply", *_protect_args(protect)]), "sync")
    try:
        prepared = local.result()
        if not prepared.matches(root, excludes, protect):
            prepared = prepare_upload(root, excludes, protect)
        manifest = exchange(call, prepared.request, remote_root)
        plan = settle(diff(prepared.uploads, manifest), partial(local_digest, root))
        if plan.is_noop:
            call.cancel()
            return _summary(started, manifest.root, prepared, plan, None, {})
        totals, remote = _apply(call, root, plan, remote_root, progress, compress_level)
        return _summary(started, manifest.root, prepared, plan, totals, remote)
    except BaseException:
        call.cancel()
        raise


def _apply(
    call: AgentCall,
    root: Path,
    plan: SyncPlan,
    remote_root: str,
    progress: Callable[[SyncProgress], None] | None,
    level: int,
) -> tuple[StreamTotals | None, dict]:
    from .send import AgentStoppedReading, stream_plan  # only when something changed

    totals: StreamTotals | None = None
    try:
        totals = stream_plan(call.proc.stdin.write, root, plan, progress=progress, level=level)
    except AgentStoppedReading:
        pass  # its exit status and stderr below say why
    except OSError as exc:
        call.cancel()
        raise SyncError(
            f"cannot read {exc.filename or 'a local file'}: {exc.strerror or exc}",
            hint="check the file's permissions, or exclude it with sync.fileExcludes",
        ) from None
    call.close_stdin()
    remote = _summary_line(call)
    if remote.get("status") == 0 and totals is not None:
        call.cancel()  # the agent said it is done: reap it in the background, do not wait for its exit
        return totals, remote
    raise _apply_failure(call, call.finish(), remote_root)


def _summary_line(call: AgentCall) -> dict:
    """The agent's last word: one JSON line, `status` its exit code to be. {} when it died first."""
    try:
        line = call.proc.stdout.readline()
        value = json.loads(line.decode(errors="replace")) if line.strip() else {}
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _apply_failure(call: AgentCall, status: int, remote_root: str) -> SyncError:
    what = f"sync to {remote_root} failed"
    if status == EXIT_DISK:
        return call.failure(
            what,
            hint=f"free space on the machine (df -h {remote_root}), "
            "or keep large files out of the upload with sync.fileExcludes",
        )
    if status == EXIT_STREAM:
        return call.failure(what, hint="the stream was cut short; run again, a sync resumes where it stopped")
    if status == 1:
        return call.failure(
            what + " for some paths",
            hint="remove what is in the way of those paths on the machine (or exclude them), then sync again",
        )
    return call.failure(what)


def _summary(
    started: float,
    remote_root: str,
    prepared: PreparedUpload,
    plan: SyncPlan,
    totals: StreamTotals | None,
    remote: dict,
) -> SyncSummary:
    written = int(remote.get("written", 0)) + int(remote.get("links", 0))
    return SyncSummary(
        files_sent=written,
        bytes_sent=totals.content_bytes if totals else 0,
        wire_bytes=totals.wire_bytes if totals else 0,
        deleted=int(remote.get("deleted", 0)),
        unchanged=len(prepared.uploads) - len(plan.send),
        touched=int(remote.get("touched", 0)),
        protected=prepared.protected,
        remote_root=remote_root,
        seconds=time.perf_counter() - started,
    )


def default_remote_root(local_root: Path) -> str:
    """`~/wb/<project>`, project being the local root's folder name (DESIGN §4, `sync.adirServer`)."""
    return f"~/wb/{os.path.basename(os.fspath(Path(local_root).absolute()))}"

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

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from weatherballoon.remote.agent_io import SYNC_DISK_EXIT, SYNC_PARTIAL_EXIT, SYNC_STREAM_EXIT

from ..errors import SyncError, SyncRefused, WbError
from ..session.process import AgentRunner, RemoteProcess
from ..trace import mark
from .agent_call import AgentCall
from .diff import diff, settle, unrecorded_overwrites
from .local_scan import local_digest, scan
from .manifest import exchange
from .ownership import ProjectIdentity, default_remote_root
from .prepare import PendingScan, PreparedUpload, prepare_upload, start_scan
from .records import RemoteManifest, SyncPlan, SyncProgress, SyncSummary

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


OVERWRITE_HINT = "run again with --sync-overwrite (or set sync.overwrite / WB_SYNC_OVERWRITE=1)"
# A local scan still running after this long gets a word on stderr, so a huge root is not a silent wait.
SCAN_NOTICE_S = 2.0
LARGE_UPLOAD_FILES = 100_000
LARGE_UPLOAD_BYTES = 20 << 30


@dataclass
class ThenRun:
    """A job the agent starts itself once the sync is done (`agent sync-run`): no round trip between them.

    `run_args`: the job's `agent run` arguments (`--spec-stdin` among them); `spec`: its spec. Once `sync_up`
    returns, `proc` is the agent process the job's stream comes on (its stream header first), and
    `held_stderr` the job's stderr already read."""

    run_args: list[str]
    spec: bytes
    proc: RemoteProcess | None = None
    held_stderr: bytes = b""


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
    owner: ProjectIdentity | None = None,
    overwrite: bool = False,
    legacy_root: str | None = None,
    notice: Callable[[str], None] | None = None,
    then_run: ThenRun | None = None,
) -> SyncSummary:
    """Sync `local_root` to `remote_root` on the machine `runner` reaches; raise SyncError on failure.

    `scanned`: a `start_scan(...)` begun earlier with the same root, excludes and protect globs.
    `owner`: the project's identity (`ownership`); a root another project owns is refused, and so is a sync
    that would replace files no sync of this project recorded, unless `overwrite`. `legacy_root`: where older
    versions of wb put this project (the agent says it is left alone). `notice`: called with lines for the
    user (a long scan, a wait for another sync of this root). `then_run`: start this job right after the sync,
    in the same agent process (see ThenRun); a sync that fails or is refused starts nothing.
    """
    started = time.perf_counter()
    root = Path(local_root).absolute()
    local = scanned if scanned is not None else start_scan(root, excludes=excludes, protect=protect)
    args = ["sync-run" if then_run else "sync-scan", remote_root, "--apply", *_protect_args(protect)]
    if owner is not None:
        args += owner.agent_args()
    if overwrite:
        args.append("--overwrite")
    if legacy_root:
        args += ["--legacy-root", legacy_root]
    if then_run is not None:
        args += ["--then-run", *then_run.run_args]
    call = AgentCall(runner(args), "sync", notice=notice, handover=then_run is not None)
    try:
        prepared = _scanned(local, root, notice)
        if not prepared.matches(root, excludes, protect):
            prepared = prepare_upload(root, excludes, protect)
        _warn_if_large(prepared, notice)
        mark("sync: local scan done")
        manifest = exchange(call, prepared.request + (then_run.spec if then_run else b""), remote_root)
        mark("sync: the machine's answer")
        plan = settle(diff(prepared.uploads, manifest), partial(local_digest, root))
        if not overwrite:
            _refuse_unrecorded_overwrites(plan, manifest, remote_root)
        if then_run is not None:
            return _sync_then_run(call, then_run, started, root, manifest, prepared, plan, progress, compress_level)
        if plan.is_noop:
            call.cancel()
            return _summary(started, manifest.root, prepared, plan, None, {})
        totals, remote = _apply(call, root, plan, remote_root, progress, compress_level)
        return _summary(started, manifest.root, prepared, plan, totals, remote)
    except BaseException:
        call.cancel()
        raise


def _sync_then_run(
    call: AgentCall,
    then_run: ThenRun,
    started: float,
    root: Path,
    manifest: RemoteManifest,
    prepared: PreparedUpload,
    plan: SyncPlan,
    progress: Callable[[SyncProgress], None] | None,
    level: int,
) -> SyncSummary:
    """The sync's end under `sync-run`: nothing to send when the agent listed nothing (it has started the
    job already); else the stream, even an empty one (the agent waits for it), then the job."""
    totals: StreamTotals | None = None
    remote: dict = {}
    if manifest.entries:
        totals, remote = _apply(call, root, plan, manifest.root, progress, level, then_run=True)
        mark("sync: applied")
    held = call.handover()
    if held is None:
        raise call.failure(f"the job after the sync to {manifest.root} did not start")
    then_run.proc, then_run.held_stderr = call.proc, held
    return _summary(started, manifest.root, prepared, plan, totals, remote)


def _scanned(local: PendingScan, root: Path, notice: Callable[[str], None] | None) -> PreparedUpload:
    if notice is not None and not local.wait(SCAN_NOTICE_S):
        notice(f"still listing the files under {root} to upload; if that is not the project's folder, stop (Ctrl-C)"
               " and set sync.adirLocal, or move .weatherballoon.json into the project")  # fmt: skip
    return local.result()


def _warn_if_large(prepared: PreparedUpload, notice: Callable[[str], None] | None) -> None:
    files = len(prepared.uploads)
    size = sum(entry.size for entry in prepared.uploads)
    if notice is not None and (files > LARGE_UPLOAD_FILES or size > LARGE_UPLOAD_BYTES):
        notice(
            f"the upload set of {prepared.root} is {files} files ({size / (1 << 30):.1f} GiB); keep what the"
            " job does not need out of it with .gitignore or sync.fileExcludes"
        )


def _refuse_unrecorded_overwrites(plan: SyncPlan, manifest: RemoteManifest, remote_root: str) -> None:
    foreign = unrecorded_overwrites(plan, manifest)
    if not foreign:
        return
    shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    raise SyncRefused(
        f"the sync to {manifest.root or remote_root} would replace {len(foreign)} file(s) that no sync of this"
        f" project put there: {shown}",
        hint="point sync.adirServer at a folder of this project's own; or, if those files may be replaced, "
        + OVERWRITE_HINT,
    )


def _apply(
    call: AgentCall,
    root: Path,
    plan: SyncPlan,
    remote_root: str,
    progress: Callable[[SyncProgress], None] | None,
    level: int,
    *,
    then_run: bool = False,
) -> tuple[StreamTotals | None, dict]:
    """Send the plan's stream and read the agent's summary. `then_run`: stdin stays open (the job's) and
    the summary is read exactly (the job's stream follows it on stdout)."""
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
    if then_run:
        with contextlib.suppress(OSError, ValueError):
            call.proc.stdin.flush()
        remote = _summary_line(call, exact=True)
        if remote.get("status") == 0 and totals is not None:
            return totals, remote
        call.close_stdin()
        raise _apply_failure(call, call.finish(), remote_root)
    call.close_stdin()
    remote = _summary_line(call)
    if remote.get("status") == 0 and totals is not None:
        call.cancel()  # the agent said it is done: reap it in the background, do not wait for its exit
        return totals, remote
    raise _apply_failure(call, call.finish(), remote_root)


def _summary_line(call: AgentCall, *, exact: bool = False) -> dict:
    """The agent's last word: one JSON line, `status` its exit code to be. {} when it died first. `exact`:
    read byte by byte, so that nothing after the line is taken from the stream."""
    try:
        line = _read_line_exactly(call.proc.stdout) if exact else call.proc.stdout.readline()
        value = json.loads(line.decode(errors="replace")) if line.strip() else {}
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _read_line_exactly(stream: IO[bytes], limit: int = 1 << 16) -> bytes:
    line = bytearray()
    while len(line) < limit:
        byte = stream.read(1)
        if not byte:
            break
        line += byte
        if byte == b"\n":
            break
    return bytes(line)


def _apply_failure(call: AgentCall, status: int, remote_root: str) -> WbError:
    what = f"sync to {remote_root} failed"
    if status == SYNC_DISK_EXIT:
        from ..jobs.agent_status import storage_hint

        said = call.stderr_text.lower()
        hint = (
            storage_hint(said)
            if "read-only" in said or "quota" in said
            else f"free space on the machine (df -h {remote_root}), or keep large files out of the upload with"
            " sync.fileExcludes"
        )
        return call.failure(what, hint=hint)
    if status == SYNC_STREAM_EXIT:
        return call.failure(what, hint="the stream was cut short; run again, a sync resumes where it stopped")
    if status == SYNC_PARTIAL_EXIT:
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

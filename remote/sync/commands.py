"""Agent commands for the receiving end of a sync.

    agent sync-scan ROOT [--apply] [--protect GLOB]... [OWNERSHIP]
        manifest in, differences out (`sync.scan`); with --apply, the same stdin then carries the
        sync stream, applied as `sync-apply` would: one process and one channel for a whole sync
    agent sync-apply ROOT [--protect GLOB]... [OWNERSHIP]
        sync stream in on stdin (`sync.wire`), JSON summary out (`sync.apply`)

    OWNERSHIP: --owner ID --label TEXT [--overwrite] [--legacy-root PATH]
        ID is the project's identity, TEXT names it for people. A root whose record another project owns is
        refused (exit 7), unless --overwrite: then this project takes it over with a record of its own (the
        other project's files are never deleted by it). A root without an owner is claimed. --overwrite also
        lets the sync replace files that no sync of this project recorded (`sync.writer`). --legacy-root:
        where older clients put this project by default; a note says it is left alone on the first sync.

A leading `~` in ROOT is expanded here, on the machine, not by a shell. Stdin closed where a request or
a stream would start means "nothing to do": the command exits 0 and touches nothing. Lines on stderr that
start with `wb-agent: note: ` are for the user (the client shows them); the others explain a failure.

Exit codes (`agent_io`'s SYNC codes): 0 done; 1 some paths failed (listed on stderr, the rest applied); 2
usage; 3 the disk refused (full, quota, read-only), with the old file intact; 4 the request or stream was
corrupt or cut short; 5 ROOT exists and is not a directory; 6 ROOT may never be a sync root (`/`, the home
folder or above it, wb's state); 7 ROOT belongs to another project. Python >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import sys

from weatherballoon.remote.agent_io import (
    SYNC_DISK_EXIT,
    SYNC_FOREIGN_ROOT_EXIT,
    SYNC_NOT_A_DIR_EXIT,
    SYNC_PARTIAL_EXIT,
    SYNC_REFUSED_ROOT_EXIT,
    SYNC_STREAM_EXIT,
    UsageError,
    note,
    operands,
    say,
    usage_error,
)
from weatherballoon.remote.sync.state import (
    Record,
    RecordLock,
    read_record,
    resolve_root,
    root_refusal,
    save_record,
)

TYPE_CHECKING = False  # typing is not imported at run time: it costs the agent's start-up
if TYPE_CHECKING:
    from weatherballoon.remote.sync.wire import ByteSource

OWNERSHIP = "[--owner ID --label TEXT [--overwrite] [--legacy-root PATH]]"
SYNOPSES = {
    "sync-scan": f"sync-scan ROOT [--apply] [--protect GLOB]... {OWNERSHIP} < request",
    "sync-apply": f"sync-apply ROOT [--protect GLOB]... {OWNERSHIP} < stream",
}


class Options:
    """One sync command's arguments; UsageError when they are not right."""

    def __init__(self, argv: list, flags: tuple) -> None:
        options, (root,) = operands(
            argv, ("ROOT",), flags=flags, valued=("owner", "label", "legacy-root"), repeated=("protect",)
        )
        self.root: str = root
        self.protect: list = options.get("protect", [])
        self.owner: str = options.get("owner", "")
        self.label: str = options.get("label", "")
        self.legacy_root: str = options.get("legacy-root", "")
        self.apply = bool(options.get("apply"))
        self.overwrite = bool(options.get("overwrite"))


def _root_check(root: str, command: str) -> int:
    refusal = root_refusal(root)
    if refusal:
        say(f"refusing to sync into {root}: {refusal}", command)
        return SYNC_REFUSED_ROOT_EXIT
    if os.path.lexists(root) and not os.path.isdir(root):
        say(f"{root} exists and is not a directory", command)
        return SYNC_NOT_A_DIR_EXIT
    return 0


class ForeignRoot(Exception):
    """Another project owns the root (its message says which), and --overwrite was not given."""


def take_ownership(root: str, options: Options) -> tuple:
    """(the root's record as this sync may use it, the record to save before anything is written, or None):
    ForeignRoot when another project owns the root and --overwrite was not given. An unowned root, and one
    taken over, is claimed (saved) once the client has asked for something."""
    record = read_record(root)
    if not options.owner or (record is not None and record.owner == options.owner):
        return record, None
    if record is not None and record.owner:
        if not options.overwrite:
            raise ForeignRoot(
                f"{root} belongs to another project: it was last synced from {record.label or 'elsewhere'}"
            )
        note(f"{root} was synced from {record.label or 'another project'}; this project takes it over (--overwrite)")
        record = Record(set())  # the other project's files are not this one's to delete
    claimed = Record(record.paths if record is not None else set(), options.owner, options.label)
    return (record if record is None else claimed), claimed


def _save_claim(root: str, claimed: Record | None) -> None:
    if claimed is None:
        return
    try:  # noqa: SIM105 (contextlib would be the agent's only reason to import collections and functools)
        save_record(root, claimed.paths, claimed.owner, claimed.label)
    except OSError:
        pass  # a read-only or full home: the sync itself reports it


def _legacy_note(root: str, legacy_arg: str) -> None:
    legacy = resolve_root(legacy_arg)
    if legacy != root and read_record(legacy) is not None:
        note(
            f"this project now syncs to {root}, a folder of its own; {legacy}, where earlier versions of wb put"
            " it, is left as it was: remove it once no job needs it"
        )


class Synced:
    """What `scan_apply` did, for a command that goes on after it (`jobs/sync_run.py`)."""

    def __init__(self) -> None:
        self.complete = False  # the remote root now mirrors the client's upload set (nothing was cancelled)


def scan_main(argv: list) -> int:
    return scan_apply(argv, "sync-scan")


def scan_apply(argv: list, command: str, after_request=None, synced: Synced | None = None) -> int:
    """`sync-scan`; with `after_request` (called once the request is read, before the answer) and `synced`
    (told whether the sync completed), the first half of `sync-run`. The root's lock is released on return."""
    try:
        options = Options(argv, ("apply", "overwrite"))
    except UsageError as exc:
        return usage_error(command, exc, SYNOPSES["sync-scan"])
    root = resolve_root(options.root)
    failed = _root_check(root, command)
    if failed:
        return failed
    if not options.apply:
        return _scan(root, read_record(root), options, None)
    # The whole sync holds the lock: a second sync to this root waits, then compares with what this one wrote.
    with RecordLock(root, on_wait=lambda: note(f"waiting for another sync to {root} to finish")):
        try:
            record, claimed = take_ownership(root, options)
        except ForeignRoot as exc:
            say(str(exc), command)
            return SYNC_FOREIGN_ROOT_EXIT
        if record is None and options.legacy_root:
            _legacy_note(root, options.legacy_root)
        from weatherballoon.remote.sync.scan import FdReader

        return _scan(root, record, options, FdReader(sys.stdin.fileno()), claimed, after_request, synced)


def _scan(
    root: str,
    record: Record | None,
    options: Options,
    stdin: ByteSource | None,
    claimed: Record | None = None,
    after_request=None,
    synced: Synced | None = None,
) -> int:
    from weatherballoon.remote.sync import scan

    view = scan.RemoteView(root, None if record is None else record.paths)
    view.prestat()
    source = stdin if stdin is not None else scan.FdReader(sys.stdin.fileno())
    try:
        request = scan.read_request(source)
        if request is not None and after_request is not None:
            after_request()
    except (ValueError, KeyError) as exc:
        say(f"bad request: {exc}", "sync-scan")
        return SYNC_STREAM_EXIT
    if request is None:
        return 0
    _save_claim(root, claimed)
    response = view.compare(request)
    scan.write_response(sys.stdout.buffer, response)
    if stdin is None:
        return 0
    if synced is not None and not response.paths:
        # Nothing differs: the client sends no stream (sync-run), and nothing waits for one.
        synced.complete = True
        return 0
    return _apply(root, options, stdin, locked=True, synced=synced)


def apply_main(argv: list) -> int:
    try:
        options = Options(argv, ("overwrite",))
    except UsageError as exc:
        return usage_error("sync-apply", exc, SYNOPSES["sync-apply"])
    from weatherballoon.remote.sync.wire import FdReader

    root = resolve_root(options.root)
    failed = _root_check(root, "sync-apply")
    if failed:
        return failed
    return _apply(root, options, FdReader(sys.stdin.fileno()), locked=False)


def _apply(root: str, options: Options, stdin: ByteSource, *, locked: bool, synced: Synced | None = None) -> int:
    from weatherballoon.remote.sync import apply, wire
    from weatherballoon.remote.sync.codec import json_line
    from weatherballoon.remote.sync.writer import FatalWriteError

    try:
        if not wire.read_magic(stdin):
            return 0
    except wire.StreamError as exc:
        say(str(exc), "sync-apply")
        return SYNC_STREAM_EXIT
    failed = _root_check(root, "sync-apply")
    if failed:
        return failed
    if locked:
        writer, failure = apply.apply_stream(stdin, root, options.protect, owner=options.owner,
                                                  label=options.label, overwrite=options.overwrite)  # fmt: skip
    else:
        with RecordLock(root):
            try:
                _save_claim(root, take_ownership(root, options)[1])
            except ForeignRoot as exc:
                say(str(exc), "sync-apply")
                return SYNC_FOREIGN_ROOT_EXIT
            writer, failure = apply.apply_stream(stdin, root, options.protect, owner=options.owner,
                                                      label=options.label, overwrite=options.overwrite)  # fmt: skip
    code = 0
    if isinstance(failure, FatalWriteError):
        where = os.path.join(root, failure.path)
        intact = "nothing was replaced: any earlier version is intact"
        say(f"{where}: {failure.reason} ({intact})", "sync-apply")
        code = SYNC_DISK_EXIT
    elif failure is not None:
        say(str(failure), "sync-apply")
        code = SYNC_STREAM_EXIT
    for error in writer.summary.errors[:50]:
        say(str(error), "sync-apply")
    if writer.summary.errors and not code:
        code = SYNC_PARTIAL_EXIT
    summary = {"root": root, "status": code}
    summary.update(writer.summary.as_dict())
    sys.stdout.write(json_line(summary) + "\n")
    sys.stdout.flush()
    if synced is not None:
        synced.complete = code == 0
    return code

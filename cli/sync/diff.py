"""Decide what one sync does, from the local tree and the remote's answer. Pure: no I/O.

The check is rsync's default "quick check" plus a little:
- same kind, size, mtime_ns and mode, already recorded: nothing (the remote did not even list it);
- same kind, size and mtime_ns, another mode: a metadata update (`touch`), no content;
- identical but not yet recorded (put there by hand, or pulled back as an output): `adopt` it;
- same size, another mtime (a `git checkout`, a `touch`): when the remote sent its sha256, the local
  file is hashed too (`settle`) and only a differing file travels; an empty file never does;
- anything else (new, resized, another kind or link target): the content travels (`send`);
- recorded by an earlier sync but gone locally: `delete` (the receiver still refuses anything
  unrecorded or under an output glob).

A send that would replace a file, link or other non-directory no sync of this project recorded is an
`unrecorded_overwrites` entry: the client refuses the sync before anything travels unless the user allows it
(identical content is only recorded, never rewritten, so it is not one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from .records import LocalEntry, RemoteEntry, RemoteManifest, SyncPlan


def _decide(entry: LocalEntry, remote: RemoteEntry) -> str:
    if remote.kind != entry.kind:
        return "send"
    if entry.kind == "l":
        return "send" if remote.target != entry.target else "adopt"
    if remote.size != entry.size:
        return "send"
    if remote.mtime_ns == entry.mtime_ns:
        return "touch" if remote.mode != entry.mode else "adopt"
    if entry.size == 0:
        return "touch"
    return "verify" if remote.digest else "send"


def diff(local: Sequence[LocalEntry], manifest: RemoteManifest) -> SyncPlan:
    remote = {entry.path: entry for entry in manifest.entries}
    send: list[LocalEntry] = []
    touch: list[LocalEntry] = []
    adopt: list[str] = []
    verify: list[tuple[LocalEntry, str]] = []
    local_paths = set()
    for entry in local:
        local_paths.add(entry.path)
        state = remote.get(entry.path)
        if state is None:
            continue  # identical and recorded
        decision = _decide(entry, state)
        if decision == "send":
            send.append(entry)
        elif decision == "touch":
            touch.append(entry)
        elif decision == "verify":
            verify.append((entry, state.digest or ""))
        elif not state.tracked:
            adopt.append(entry.path)
    delete = tuple(sorted(e.path for e in manifest.entries if e.tracked and e.path not in local_paths))
    return SyncPlan(send=tuple(send), touch=tuple(touch), adopt=tuple(adopt), delete=delete, verify=tuple(verify))


def settle(plan: SyncPlan, local_digest: Callable[[LocalEntry], str | None]) -> SyncPlan:
    """Resolve `verify`: equal hashes become a metadata update, different ones a send."""
    if not plan.verify:
        return plan
    send = list(plan.send)
    touch = list(plan.touch)
    for entry, remote_digest in plan.verify:
        (touch if local_digest(entry) == remote_digest else send).append(entry)
    return SyncPlan(send=_by_path(send), touch=_by_path(touch), adopt=plan.adopt, delete=plan.delete, verify=())


def _by_path(entries: Iterable[LocalEntry]) -> tuple[LocalEntry, ...]:
    return tuple(sorted(entries, key=lambda entry: entry.path))


def unrecorded_overwrites(plan: SyncPlan, manifest: RemoteManifest) -> list[str]:
    """The paths `plan` would replace although no sync of this project put them there (sorted)."""
    remote = {entry.path: entry for entry in manifest.entries}
    found = []
    for entry in plan.send:
        state = remote.get(entry.path)
        if state is not None and state.kind in ("f", "l", "o") and not state.tracked:
            found.append(entry.path)
    return sorted(found)

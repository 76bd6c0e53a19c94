"""Gang-internal ssh for one job (`wb run --nodes N --gang-ssh`): while the job runs, rank 0 may log in to the
other ranks, so that `mpirun --hostfile $WB_HOSTFILE` (and any launcher that starts processes over ssh) works.

The client makes a fresh ed25519 key pair for each run and hands it out in the job specs' environment, which
`run` takes out before the job starts (ENV):

- every other rank adds the public half to its login user's `~/.ssh/authorized_keys` as one line,
  `restrict,from="<rank 0's address>" ssh-ed25519 AAAA... wb-gang-<job id>` (`restrict`: no forwarding, no
  pty, no agent; `from`: only rank 0's address may use it), and takes that line out again when its job ends.
  A line whose job has ended, is gone, or lost its supervisor (killed before it could clean up) is taken
  out the next time a gang job adds its own line on that machine;
- rank 0 writes the private half, a `known_hosts` that pins each other rank's ed25519 host key at its
  address (as that rank's agent reported it over the client's own verified connection), and an `ssh_config`
  naming both (`StrictHostKeyChecking yes`, `BatchMode yes`) into a `gang-ssh` folder of the job's folder.
  The job gets WB_GANG_SSH_CONFIG, and Open MPI's OMPI_MCA_plm_rsh_agent (`ssh -F <that config>`) and
  OMPI_MCA_plm_rsh_no_tree_spawn=1 (only rank 0 starts processes over ssh: no other rank holds the key).
  The folder is removed when the job ends.

Stdlib only (the agent runs on Python 3.8).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket

from ..procinfo import job_is_live
from .store import JobPaths, read_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

ENV = ("WB_GANG_SSH_KEY", "WB_GANG_SSH_PUB", "WB_GANG_SSH_FROM", "WB_GANG_SSH_KNOWN_HOSTS")
TAG = "wb-gang-"
_TAGGED = re.compile(r"\s" + TAG + r"([A-Za-z0-9_.-]+)\s*$")
_PUBLIC = re.compile(r"^ssh-ed25519 [A-Za-z0-9+/=]+$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.:_-]+$")


class GangSsh:
    """The job's share of the gang's key: rank 0 gets `key` and `known_hosts`; the others `public` and
    `allow_from` (rank 0's address)."""

    __slots__ = ("allow_from", "key", "known_hosts", "public")

    def __init__(self, key: str, public: str, allow_from: str, known_hosts: str) -> None:
        self.key = key
        self.public = public
        self.allow_from = allow_from
        self.known_hosts = known_hosts


def take_from(env: dict) -> GangSsh | None:
    """The gang-ssh values of a job spec's environment, removed from it (they are not the job's to see)."""
    values = [env.pop(name, "") for name in ENV]
    if not any(values):
        return None
    key, public, allow_from, known_hosts = values
    if public and (not _PUBLIC.match(public.strip()) or not _ADDRESS.match(allow_from)):
        raise ValueError("WB_GANG_SSH_PUB must be one ssh-ed25519 key and WB_GANG_SSH_FROM an address")
    return GangSsh(key, public.strip(), allow_from, known_hosts)


def authorized_line(ssh: GangSsh, job_id: str, addresses: list) -> str:
    return f'restrict,from="{",".join(addresses)}" {ssh.public} {TAG}{job_id}'


def addresses_of(name: str) -> list:
    """The addresses `name` (rank 0 as the client names it: an IP, or a host name on the ssh provider) has
    here: sshd matches `from=` against the peer's address, and against names only with UseDNS."""
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return [name]
    return sorted({info[4][0] for info in found}) or [name]


def authorized_keys_path() -> str:
    return os.path.join(os.path.expanduser("~"), ".ssh", "authorized_keys")


def open_for_job(ssh: GangSsh, rank: int, job_id: str, job_dir: str, env: dict) -> None:
    """Set this rank up: rank 0's key, known_hosts and ssh_config (and the job's environment naming them), or
    another rank's authorized_keys line. `close_for_job` undoes it."""
    if rank == 0:
        if not ssh.key:
            raise ValueError("rank 0 needs WB_GANG_SSH_KEY")
        folder = os.path.join(job_dir, "gang-ssh")
        os.mkdir(folder, 0o700)
        key = os.path.join(folder, "id_ed25519")
        known = os.path.join(folder, "known_hosts")
        config = os.path.join(folder, "ssh_config")
        _write(key, ssh.key if ssh.key.endswith("\n") else ssh.key + "\n")
        _write(known, ssh.known_hosts)
        _write(config, _config_text(key, known))
        env["WB_GANG_SSH_CONFIG"] = config
        env["OMPI_MCA_plm_rsh_agent"] = f"ssh -F {config}"
        env["OMPI_MCA_plm_rsh_no_tree_spawn"] = "1"
        return
    if not ssh.public or not ssh.allow_from:
        raise ValueError("a rank other than 0 needs WB_GANG_SSH_PUB and WB_GANG_SSH_FROM")
    line = authorized_line(ssh, job_id, addresses_of(ssh.allow_from))
    _edit_authorized_keys(lambda lines: [*(item for item in lines if not _stale(item, job_id)), line])


def close_for_job(rank: int, job_id: str, job_dir: str) -> None:
    """Idempotent: rank 0's gang-ssh folder goes, or this rank's line for the job leaves authorized_keys."""
    if rank == 0:
        shutil.rmtree(os.path.join(job_dir, "gang-ssh"), ignore_errors=True)
        return
    with contextlib.suppress(OSError):
        _edit_authorized_keys(lambda lines: [item for item in lines if _job_of(item) != job_id])


def _config_text(key: str, known: str) -> str:
    return (
        "Host *\n"
        f"    IdentityFile {key}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {known}\n"
        "    GlobalKnownHostsFile /dev/null\n"
        "    StrictHostKeyChecking yes\n"
        "    BatchMode yes\n"
        "    ForwardAgent no\n"
        "    ForwardX11 no\n"
    )


def _job_of(line: str) -> str | None:
    found = _TAGGED.search(line)
    return found.group(1) if found else None


def _stale(line: str, job_id: str) -> bool:
    """A gang line of this job (added again), or of a job that has ended, is gone, or whose process and
    supervisor are both dead (killed before it could clean up) on this machine."""
    other = _job_of(line)
    if other is None:
        return False
    if other == job_id:
        return True
    try:
        paths = JobPaths(other)
    except ValueError:
        return True
    if not paths.exists() or paths.has_ended():
        return True
    meta = read_json(paths.meta)  # None until its job has started: a gang job being set up right now
    return meta is not None and not job_is_live(meta)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _edit_authorized_keys(change: Callable[[list], list]) -> None:
    """Rewrite authorized_keys through `change`, atomically (a new file renamed over it, its mode kept), under
    a lock on the ~/.ssh folder so that two jobs of this user never lose each other's lines."""
    path = authorized_keys_path()
    folder = os.path.dirname(path)
    os.makedirs(folder, 0o700, exist_ok=True)
    lock = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path) as current:
                lines = current.read().splitlines()
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            lines, mode = [], 0o600
        changed = change(lines)
        if changed == lines:
            return
        temporary = f"{path}.wb-gang-new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w") as out:
            out.write("".join(item + "\n" for item in changed))
        os.replace(temporary, path)
    finally:
        os.close(lock)  # and the lock with it

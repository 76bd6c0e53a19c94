"""What the daemon remembers between passes and restarts (`daemon.json`), and its log (`daemon.log`).

`daemon.json` is replaced atomically after every pass; `daemon --status` prints it. It carries what a
restarted daemon must not forget: when the table last answered (so a restart loop cannot postpone the
control-plane limit), whether a job was running (so the idle lease still follows the last job), and which
ended jobs have had their rows closed and their outputs pushed.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

from ...lambdas.clock import iso
from .. import procinfo
from ..jobs.store import read_json, state_dir, write_json_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .protocols import Clock

STATE_FILE = "daemon.json"
LOG_FILE = "daemon.log"
PID_FILE = "daemon.pid"
LOCK_FILE = "daemon.lock"
LOG_MAX_BYTES = 5 * 1024 * 1024


def path_of(name: str, environ: dict | None = None) -> str:
    return os.path.join(state_dir(environ), name)


@dataclass
class DaemonState:
    pid: int = 0
    boot_id: str | None = None
    started_at: float = 0.0
    last_pass_at: float = 0.0
    last_contact: float = 0.0  # the table last answered (any call)
    contact_ok: bool = False  # ...on the last pass
    busy: bool = False  # a job was running when the lease was last written
    running: list = field(default_factory=list)
    finished: list = field(default_factory=list)  # ended jobs whose row is closed (or has none)
    pushed: list = field(default_factory=list)  # ended jobs whose outputs are all in S3
    row: dict = field(default_factory=dict)  # lease_until, max_until, state, mark of the last read
    last_renewal: dict = field(default_factory=dict)  # at, lease_until, state, why
    armed: dict = field(default_factory=dict)  # at, seconds, lease_until, ok
    last_decision: dict = field(default_factory=dict)  # at, action, reason, detail
    stopped_jobs: dict = field(default_factory=dict)  # job id -> {reason, at, reached_at, cost_usd, cap_usd}
    spot_notice: dict = field(default_factory=dict)
    power_off: dict = field(default_factory=dict)  # at, reason, detail, ok

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def load(cls, path: str) -> DaemonState:
        """The saved state, or a fresh one; what a previous boot saved about contact is not carried over."""
        data = read_json(path) or {}
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        try:
            state = cls(**known)
        except TypeError:
            state = cls()
        if state.boot_id != procinfo.boot_id():
            state.last_contact = 0.0
        return state

    def save(self, path: str) -> None:
        write_json_atomic(path, self.to_dict())


class DaemonLog:
    """Appends `<iso time> <event> key=value ...` lines; keeps one rotated file (`daemon.log.1`)."""

    def __init__(self, path: str, clock: Clock = time.time) -> None:
        self.path = path
        self.clock = clock

    def write(self, event: str, **fields: object) -> None:
        parts = [iso(self.clock()), event]
        for key, value in fields.items():
            text = value if isinstance(value, str) else repr(value)
            parts.append(f"{key}={text}" if " " not in text else f'{key}="{text}"')
        line = " ".join(parts) + "\n"
        try:
            if os.path.getsize(self.path) > LOG_MAX_BYTES:
                os.replace(self.path, self.path + ".1")
        except OSError:
            pass
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode("utf-8", "replace"))
            finally:
                os.close(fd)
        except OSError:
            pass  # a full disk must not stop the dead-man switch

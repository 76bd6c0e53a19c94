"""One job on N machines that ends together: the link each rank's supervisor keeps with the others.

Rank 0's supervisor is the hub: it listens on the gang port (chosen free by the client, `gang_probe`); the
supervisor of every other rank connects to it, says `hello TOKEN RANK`, and from then on both ends send
`beat` every BEAT_S. A member reports `end CODE` when its job ends. The gang fails at the first of:

- a rank's job ends with a code other than 0 (its own code; rank 0's too);
- a member's connection closes before it said `end` (its supervisor died), or nothing came from it for
  DEAD_AFTER_S (its machine or its network is gone), or it never joined within HUB_JOIN_WINDOW_S of the
  hub's start: code 255.

The hub then sends `stop RANK CODE REASON` to every member still running and stops its own job; a member
stops its job on `stop`, or when the hub is silent for DEAD_AFTER_S or its connection closes (rank 0 is
gone: code 255). A rank stopped this way records the failing rank's code, stop reason "gang", and one
`wb-agent: gang: ...` line on its stderr naming the rank and the reason. The hub outlives its own job until
every member has ended or is given up on, so rank 0's recorded exit code is the gang's: the first failing
rank's code, or 0.

The bound: a failure is seen by the hub at once (an exit, a closed connection) or after DEAD_AFTER_S
(silence); a `stop` reaches the members at once, or they see the hub silent after DEAD_AFTER_S; each stopped
job then gets SIGTERM and, after the supervisor's GRACE_S, SIGKILL. So no rank outlives a failure by more
than DEAD_AFTER_S + BEAT_S + GRACE_S + a poll (docs/multinode.md, "Exit code and gang semantics").

The token is a per-run secret the client makes; it only guards this control port. Stdlib only.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import socket
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .gang_ssh import GangSsh

BEAT_S = 1.0
DEAD_AFTER_S = 5.0
JOIN_WINDOW_S = 60.0  # how long a member keeps trying to reach rank 0 (started last, by the client)
# How long the hub waits for a member that has not joined: the members were started before rank 0 and retry
# every 0.2 s, so a live one joins within moments of the hub listening; one that has not is gone.
HUB_JOIN_WINDOW_S = 10.0
LOST_CODE = 255
# How long the hub waits, after it sent `stop`, for members to report their end before it gives up on them.
STOP_WAIT_S = DEAD_AFTER_S + 7.0
# After rank 0's job exits 0, how long the other ranks have to end by themselves before they are stopped (with
# code 0: rank 0 finishing is the gang finishing, as with `mpirun` on rank 0 and idle ranks beside it).
RANK0_DONE_GRACE_S = 30.0


class GangSpec:
    """What `run --gang-rank K --gang-nodes N --gang-hub HOST:PORT` (token in WB_GANG_TOKEN) asks for."""

    __slots__ = ("hub_host", "hub_port", "nodes", "rank", "ssh", "token")

    def __init__(
        self, rank: int, nodes: int, hub_host: str, hub_port: int, token: str, ssh: GangSsh | None = None
    ) -> None:
        self.rank = rank
        self.nodes = nodes
        self.hub_host = hub_host
        self.hub_port = hub_port
        self.token = token
        self.ssh = ssh  # gang-internal ssh for this job (gang_ssh.py), with --gang-ssh

    def describe(self) -> dict:
        return {"rank": self.rank, "nodes": self.nodes, "hub": f"{self.hub_host}:{self.hub_port}"}


class Failure:
    __slots__ = ("code", "rank", "reason")

    def __init__(self, rank: int, code: int, reason: str) -> None:
        self.rank = rank
        self.code = code
        self.reason = reason

    def line(self) -> str:
        return f"gang: rank {self.rank} {self.reason}; the other ranks were stopped; exit code {self.code}"

    def record(self) -> dict:
        return {"rank": self.rank, "code": self.code, "reason": self.reason}


def _exited(code: int) -> str:
    return f"exited with {code}"


class _Conn:
    """One line-based TCP connection; writes from any thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(BEAT_S)
        self._lock = threading.Lock()
        self._buffer = b""
        self.last_heard = time.monotonic()

    def send(self, line: str) -> bool:
        with self._lock:
            try:
                self.sock.sendall(line.encode("utf-8", "replace") + b"\n")
                return True
            except OSError:
                return False

    def read_line(self) -> str | None:
        """The next line; "" when none came within BEAT_S; None at EOF or on an error."""
        while b"\n" not in self._buffer:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:  # noqa: UP041 (on python 3.8 it is not TimeoutError)
                return ""
            except OSError:
                return None
            if not data:
                return None
            self._buffer += data
            self.last_heard = time.monotonic()
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Link:
    """What the supervisor asks of either end: whether to stop its job, and the outcome once it ended."""

    def __init__(self, spec: GangSpec) -> None:
        self.spec = spec
        self.failure: Failure | None = None
        self._cond = threading.Condition()
        self._done = threading.Event()

    def _fail(self, failure: Failure) -> bool:
        with self._cond:
            if self.failure is not None:
                return False
            self.failure = failure
            self._cond.notify_all()
            return True

    def stop_request(self) -> Failure | None:
        """A failure elsewhere in the gang this rank's running job must stop for; None while all is well."""
        failure = self.failure
        return failure if failure is not None and failure.rank != self.spec.rank else None

    def job_ended(self, code: int) -> Failure | None:
        """This rank's job ended with `code`: the gang's failure that stopped or outlived it, if any."""
        raise NotImplementedError

    def _thread(self, target: object, *args: object) -> None:
        threading.Thread(target=target, args=args, daemon=True).start()  # type: ignore[arg-type]


class Hub(_Link):
    def __init__(self, spec: GangSpec) -> None:
        super().__init__(spec)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("", spec.hub_port))  # raises OSError when the port is taken: the caller says so
        self.listener.listen(64)
        self.members: dict = {}  # rank -> _Conn
        self.ended: dict = {}  # rank -> code, or None when given up on
        self.started = time.monotonic()

    def start(self) -> Hub:
        self._thread(self._accept)
        self._thread(self._watch)
        return self

    def _accept(self) -> None:
        while not self._done.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self._thread(self._greet, sock)

    def _greet(self, sock: socket.socket) -> None:
        conn = _Conn(sock)
        deadline = time.monotonic() + DEAD_AFTER_S
        line = ""
        while not line and time.monotonic() < deadline:
            line = conn.read_line() or ""
        words = line.split()
        valid = len(words) == 3 and words[0] == "hello" and words[2].isdigit()
        if not valid or not hmac.compare_digest(words[1].encode(), self.spec.token.encode()):
            conn.close()
            return
        rank = int(words[2])
        with self._cond:
            if not 0 < rank < self.spec.nodes or rank in self.members:
                conn.close()
                return
            self.members[rank] = conn
            failure = self.failure
        conn.send("ok")
        if failure is not None:
            conn.send(f"stop {failure.rank} {failure.code} {failure.reason}")
        self._listen(rank, conn)

    def _listen(self, rank: int, conn: _Conn) -> None:
        while True:
            line = conn.read_line()
            if line is None:
                if rank not in self.ended:
                    self._member_failed(rank, "lost its supervisor (its connection to rank 0 closed)")
                return
            if line.startswith("end "):
                word = line[4:].strip()
                code = int(word) if word.isdigit() else LOST_CODE
                with self._cond:
                    self.ended[rank] = code
                    self._cond.notify_all()
                conn.close()  # the member waits for this close before it goes
                if code != 0:
                    self._raise(Failure(rank, code, _exited(code)))
                return

    def _member_failed(self, rank: int, reason: str) -> None:
        with self._cond:
            self.ended.setdefault(rank, None)
            self._cond.notify_all()
        self._raise(Failure(rank, LOST_CODE, reason))

    def _raise(self, failure: Failure) -> None:
        if self._fail(failure):
            for conn in list(self.members.values()):
                conn.send(f"stop {failure.rank} {failure.code} {failure.reason}")

    def _watch(self) -> None:
        while not self._done.wait(BEAT_S):
            now = time.monotonic()
            for rank, conn in list(self.members.items()):
                if rank in self.ended:
                    continue
                conn.send("beat")
                if now - conn.last_heard > DEAD_AFTER_S:
                    self._member_failed(
                        rank, f"stopped answering (nothing for {DEAD_AFTER_S:g} s): its machine is gone"
                    )
            if now - self.started > HUB_JOIN_WINDOW_S:
                for rank in range(1, self.spec.nodes):
                    if rank not in self.members and rank not in self.ended:
                        self._member_failed(rank, f"never joined the gang within {HUB_JOIN_WINDOW_S:g} s of rank 0")

    def job_ended(self, code: int) -> Failure | None:
        """Rank 0's job ended: wait for the rest of the gang, then the gang's failure (None when all exited 0)."""
        if code != 0:
            self._raise(Failure(0, code, _exited(code)))
        done_deadline = time.monotonic() + RANK0_DONE_GRACE_S
        stop_deadline: float | None = None
        with self._cond:
            while len(self.ended) < self.spec.nodes - 1:
                if self.failure is None and time.monotonic() >= done_deadline:
                    # (the condition's lock is reentrant: _raise takes it again)
                    self._raise(Failure(0, 0, f"exited with 0; the others had {RANK0_DONE_GRACE_S:g} s to end"))
                if self.failure is not None and stop_deadline is None:
                    stop_deadline = time.monotonic() + STOP_WAIT_S
                if stop_deadline is not None and time.monotonic() >= stop_deadline:
                    break
                self._cond.wait(BEAT_S)
        self._done.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        for conn in list(self.members.values()):
            conn.close()
        return self.failure


class Member(_Link):
    def __init__(self, spec: GangSpec) -> None:
        super().__init__(spec)
        self.conn: _Conn | None = None
        self._ended = False
        self._connected = threading.Event()  # set once joining has worked or failed

    def start(self) -> Member:
        self._thread(self._run)
        return self

    def _connect(self) -> _Conn | None:
        deadline = time.monotonic() + JOIN_WINDOW_S
        while time.monotonic() < deadline:  # even after the job ended: its end must still be reported
            try:
                sock = socket.create_connection((self.spec.hub_host, self.spec.hub_port), timeout=BEAT_S * 2)
            except OSError:
                time.sleep(0.2)
                continue
            conn = _Conn(sock)
            conn.send(f"hello {self.spec.token} {self.spec.rank}")
            if conn.read_line() == "ok":
                return conn
            conn.close()
            time.sleep(0.2)
        return None

    def _run(self) -> None:
        conn = self._connect()
        self.conn = conn
        self._connected.set()
        if conn is None:
            if not self._ended:
                where = f"{self.spec.hub_host}:{self.spec.hub_port}"
                self._fail(Failure(0, LOST_CODE, f"could not be reached at {where} within {JOIN_WINDOW_S:g} s"))
            return
        self._thread(self._beat, conn)
        while True:
            line = conn.read_line()
            if line is None or (line == "" and time.monotonic() - conn.last_heard > DEAD_AFTER_S):
                if not self._ended:
                    why = "closed its link" if line is None else f"stopped answering (nothing for {DEAD_AFTER_S:g} s)"
                    self._fail(Failure(0, LOST_CODE, f"{why}: its machine or supervisor is gone"))
                return
            if line.startswith("stop "):
                parts = line.split(" ", 3)
                if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
                    self._fail(Failure(int(parts[1]), int(parts[2]), parts[3]))

    def _beat(self, conn: _Conn) -> None:
        while not self._ended and conn.send("beat"):
            time.sleep(BEAT_S)

    def job_ended(self, code: int) -> Failure | None:
        """This rank's job ended: tell the hub; the gang failure it was stopped for, if any."""
        self._ended = True
        self._connected.wait(JOIN_WINDOW_S + BEAT_S)  # a job that ended before its rank joined still reports
        conn = self.conn
        if conn is not None:
            conn.send(f"end {code}")
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_WR)
            # The hub reads `end` before it sees the close; give the bytes a moment, then go.
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and conn.read_line() is not None:
                pass
            conn.close()
        return self.failure


def link_for(spec: GangSpec) -> _Link:
    return Hub(spec).start() if spec.rank == 0 else Member(spec).start()


def write_hostfile(path: str, ips: list, slots: int) -> None:
    """The MPI hostfile (Open MPI syntax: `HOST slots=N`), one line per rank, rank 0 first."""
    text = "".join(f"{ip} slots={slots}\n" for ip in ips)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)

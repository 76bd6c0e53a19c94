"""Claims through the daemon: a client that reconnects to its warm machine takes it here, over SSH.

A client that remembers its last machine (cli/providers/aws/warm_cache.py) connects to it directly and asks
this daemon, which holds warm table clients, to claim the row: the same conditional UpdateItem (idle ->
busy under a fresh token, lease extended) as a client's own claim, so of any two claims, through here or
directly, exactly one wins. The client then needs no AWS call before its job starts.

Protocol, on the Unix socket `daemon.sock` in the state dir (0600, the login user's), one line each way:

    claim TOKEN MARGIN_S   ->  ok LEASE_UNTIL | refused REASON | error REASON
    release TOKEN          ->  ok LEASE_UNTIL | refused REASON | error REASON

`claim` refuses while a job runs here or when the row is not idle, is marked, or has less than MARGIN_S of
lease left. `release` gives the machine back to the warm pool (idle, lease now + idleMinutes) when no job
runs and the row is still busy under TOKEN: a client that claimed but started no job (a failed sync).
After a job, the daemon releases by itself (`daemon.loop`), woken by the job's end.

Runs in the daemon (python3 >= 3.8 with boto3), on a thread; each request holds the daemon's lock, so a
claim never interleaves with a pass.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

from ...lambdas import lease
from ...lambdas.errors import StoreError, SupervisionError
from .claim_command import REQUEST_TIMEOUT_S, SOCKET_FILE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .protocols import ClaimHost

REQUEST_MAX_BYTES = 4096


class ClaimService:
    def __init__(self, daemon: ClaimHost, state_dir: str) -> None:
        self.daemon = daemon
        self.state_dir = state_dir
        self._server: socket.socket | None = None

    def start(self) -> None:
        """Bind (replacing a dead daemon's socket: only the lock holder gets here) and serve on a thread."""
        # Bound by its name relative to the state dir: a deep home can exceed the 108-byte socket path limit.
        os.chdir(self.state_dir)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET_FILE)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            server.bind(SOCKET_FILE)
        finally:
            os.umask(old_umask)
        server.listen(8)
        self._server = server
        threading.Thread(target=self._serve, name="wb-claims", daemon=True).start()

    def _serve(self) -> None:
        assert self._server is not None
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(REQUEST_TIMEOUT_S)
                    request = _read_line(conn)
                    conn.sendall((self.answer(request) + "\n").encode("utf-8", "replace"))
                except OSError:
                    continue

    def answer(self, request: str) -> str:
        words = request.split()
        try:
            if len(words) == 3 and words[0] == "claim":
                return self.claim(words[1], float(words[2]))
            if len(words) == 2 and words[0] == "release":
                return self.release(words[1])
        except ValueError:
            pass
        return "error malformed request " + repr(request[:80])

    def claim(self, token: str, margin_s: float) -> str:
        daemon = self.daemon
        env = daemon.env
        with daemon.lock:
            if any(job.running for job in daemon.watcher.jobs()):
                return "refused a job is running there"
            try:
                # max_until never changes: the last pass's read is enough, and saves a round trip
                row = daemon.row or daemon.store.get_instance(env.owner, env.instance_arn)
                if row is None:
                    return "refused the machine has no row"
                now = daemon.clock()
                until = lease.renew(now, env.lease_minutes, None, row.max_until)
                taken = daemon.store.claim_instance(
                    env.owner, env.instance_arn, token, until, now, margin_s, known_lease=row.lease_until
                )
                if not taken:
                    row = daemon.store.get_instance(env.owner, env.instance_arn) or row
            except (StoreError, SupervisionError) as exc:
                return f"error the table did not answer: {exc}"[:500]
            if not taken:
                why = f"state {row.state.value}" + (f", marked: {row.mark}" if row.mark else "")
                left = row.lease_until - now
                return f"refused not claimable ({why}, lease left {left:.0f}s, margin {margin_s:g}s)"
            daemon.log.write("claimed", claim=token, lease_until=f"{until:.3f}")
            return f"ok {until:.3f}"

    def release(self, token: str) -> str:
        daemon = self.daemon
        env = daemon.env
        with daemon.lock:
            if any(job.running for job in daemon.watcher.jobs()):
                return "refused a job is running there"
            now = daemon.clock()
            try:
                row = daemon.row or daemon.store.get_instance(env.owner, env.instance_arn)
                max_until = row.max_until if row is not None else None
                until = lease.idle_lease(now, env.idle_minutes, None, max_until)
                known = row.lease_until if row is not None else None
                released = daemon.store.release_instance(env.owner, env.instance_arn, token, until, now, known)
            except (StoreError, SupervisionError) as exc:
                return f"error the table did not answer: {exc}"[:500]
            if not released:
                return "refused the row is not busy under this claim"
            daemon.log.write("released", claim=token, lease_until=f"{until:.3f}")
            return f"ok {until:.3f}"


def _read_line(conn: socket.socket) -> str:
    data = b""
    while b"\n" not in data and len(data) < REQUEST_MAX_BYTES:
        chunk = conn.recv(REQUEST_MAX_BYTES)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8", "replace")

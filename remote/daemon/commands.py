"""`daemon`: the agent's dead-man switch on an aws instance (DESIGN §5; behaviour in docs/supervision.md).

    daemon --ensure       start it detached unless it runs; returns at once (0 once it runs)
    daemon --foreground   run it here (systemd's wb-agent.service); waits while another one runs
    daemon --status       print what it last saw and decided, as JSON (running, pid, lease, decision...)

Needs `~/.weatherballoon/agent.env` (or `$WB_AGENT_HOME/agent.env`); without it exits 2 and says so.
Only one daemon supervises a machine: it holds an exclusive lock on `daemon.lock` while it lives and writes
its pid to `daemon.pid`. Runs on python3 >= 3.8 with boto3 (the instance's /opt/wb/venv python).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import zipfile

from ..agent_io import DAEMON_FAILED_EXIT, USAGE_EXIT, UsageError, operands, say, usage_error
from ..jobs.store import read_json, state_dir, write_json_atomic
from .agent_env import AgentEnv, AgentEnvError
from .state import LOCK_FILE, LOG_FILE, PID_FILE, STATE_FILE, DaemonLog, path_of

SYNOPSIS = "daemon --ensure | --foreground | --status"
START_WAIT_S = 10.0


def _open_lock(name: str) -> int:
    os.makedirs(state_dir(), mode=0o700, exist_ok=True)
    return os.open(path_of(name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def is_running() -> bool:
    """True while a daemon holds the lock (a dead one holds nothing: the kernel drops its locks)."""
    fd = _open_lock(LOCK_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def self_command() -> list:
    """How to start this same agent again: `python [-I] [-S] <bundle> daemon --foreground`."""
    # <bundle>/weatherballoon/remote/daemon/commands.py
    bundle = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    flags = (["-I"] if sys.flags.isolated else []) + (["-S"] if sys.flags.no_site else [])
    if os.path.isfile(os.path.join(bundle, "__main__.py")) or zipfile.is_zipfile(bundle):
        return [sys.executable, *flags, bundle, "daemon", "--foreground"]
    return [sys.executable, "-m", "weatherballoon.remote.agent", "daemon", "--foreground"]  # an installed package


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - 2000))
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no log"


def ensure() -> int:
    fd = _open_lock(LOCK_FILE + ".ensure")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # concurrent ensures take turns: only one starts a daemon
        if is_running():
            pid = (read_json(path_of(PID_FILE)) or {}).get("pid")
            sys.stdout.write(f"running {pid}\n")
            return 0
        log_fd = os.open(path_of(LOG_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            child = subprocess.Popen(
                self_command(), stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd, cwd=state_dir(),
                start_new_session=True, close_fds=True,
            )  # fmt: skip
        finally:
            os.close(log_fd)
        deadline = time.monotonic() + START_WAIT_S
        while not is_running():
            if child.poll() is not None or time.monotonic() > deadline:
                log = path_of(LOG_FILE)
                say(f"it did not start (exit {child.poll()}): {_last_line(log)}; see {log}", "daemon")
                return DAEMON_FAILED_EXIT
            time.sleep(0.02)
        sys.stdout.write(f"started {child.pid}\n")
        return 0
    finally:
        os.close(fd)


def foreground(env: AgentEnv) -> int:
    from ..boot import Imds
    from ..jobs import wake_daemon
    from .loop import Daemon
    from .s3push import OutputPusher
    from .store import agent_store, make_client, make_session

    log = DaemonLog(path_of(LOG_FILE))
    try:
        session = make_session(env)  # before the lock: `--ensure` must see a daemon that cannot work exit
    except ImportError as exc:
        log.write("cannot-start", error=f"boto3 is not importable by {sys.executable}: {exc}")
        venv = "run the agent with the instance's /opt/wb/venv python"
        say(f"boto3 is not importable by {sys.executable}; {venv}", "daemon")
        return DAEMON_FAILED_EXIT
    fd = _open_lock(LOCK_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.write("waiting", why="another daemon runs; taking over when it ends")
        fcntl.flock(fd, fcntl.LOCK_EX)
    from .. import procinfo

    write_json_atomic(path_of(PID_FILE), {"pid": os.getpid(), "proc_start": procinfo.proc_start(os.getpid())})
    store = agent_store(env, session)
    pusher = None
    if env.bucket:
        pusher = OutputPusher(lambda: make_client("s3", env, session), env.bucket, env.s3_prefix)
    imds = None if env.imds_disabled else Imds(env.imds_endpoint)
    daemon = Daemon(env, store, pusher, path_of(STATE_FILE), log, imds=imds)
    daemon.claims_dir, daemon.wake_file = state_dir(), wake_daemon.wake_path()
    daemon.state.pid, daemon.state.boot_id = os.getpid(), procinfo.boot_id()
    daemon.state.started_at = time.time()
    return daemon.run()


def status() -> int:
    report = read_json(path_of(STATE_FILE)) or {}
    report["running"] = is_running()
    report["pid"] = (read_json(path_of(PID_FILE)) or {}).get("pid") if report["running"] else None
    sys.stdout.write(json.dumps(report, sort_keys=True) + "\n")
    return 0


def main(argv: list) -> int:
    try:
        options, _ = operands(argv, (), flags=("ensure", "foreground", "status"))
        if len(options) != 1:
            raise UsageError("give exactly one of --ensure, --foreground, --status")
    except UsageError as exc:
        return usage_error("daemon", exc, SYNOPSIS)
    if options.get("status"):
        return status()
    if os.environ.get("WB_AGENT_HOME"):  # absolute: the claim service works from inside it (daemon.claims)
        os.environ["WB_AGENT_HOME"] = os.path.abspath(os.environ["WB_AGENT_HOME"])
    try:
        env = AgentEnv.load()
    except AgentEnvError as exc:
        say(str(exc), "daemon")
        return USAGE_EXIT
    return ensure() if options.get("ensure") else foreground(env)

"""`up`, `down`, and reading a sandbox's state: what the `wb sandbox` commands do, without click."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict

from .cleanup import DAEMON_MARKER, load_state, remove_everything
from .errors import SandboxError
from .layout import Layout
from .records import HostTable, ReaperStatus, SandboxOptions, SandboxState, read_json, write_json
from .system import cmdline, pid_alive

UP_TIMEOUT_S = 180.0
DOWN_TIMEOUT_S = 60.0
CONFIG_VARIABLES = ("WB_CONFIG", "WB_KIND", "WB_REGION", "WB_CONNECT", "WB_USERNAME", "WB_INSTANCE_TYPE")


def daemon_alive(state: SandboxState) -> bool:
    return pid_alive(state.daemon_pid) and DAEMON_MARKER in cmdline(state.daemon_pid)


def running_state(layout: Layout) -> SandboxState:
    """The state of a sandbox that is up and ready, or an error that says what to do."""
    state = load_state(layout)
    if state is None:
        raise SandboxError("no sandbox is running", hint="start one with: wb sandbox up")
    if not daemon_alive(state):
        raise SandboxError(
            f"the sandbox daemon (pid {state.daemon_pid}) is gone", hint="clean up with `wb sandbox down`, then up"
        )
    if state.phase != "ready":
        raise SandboxError(f"the sandbox is {state.phase} ({state.step})", hint="wait, or see `wb sandbox status`")
    return state


def up(options: SandboxOptions, say: Callable[[str], None], layout: Layout | None = None) -> SandboxState:
    from .preflight import check

    layout = layout or Layout.default()
    previous = load_state(layout)
    if previous is not None and daemon_alive(previous):
        raise SandboxError(
            f"a sandbox is already running (pid {previous.daemon_pid}, {previous.endpoint})",
            hint='use it (`eval "$(wb sandbox env)"`), or stop it first with `wb sandbox down`',
        )
    if previous is not None:
        say("cleaning up after a sandbox that ended without `wb sandbox down`")
        remove_everything(layout, previous)
    check()
    layout.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    layout.logs.mkdir(mode=0o700, exist_ok=True)
    for old in layout.logs.glob("*.log"):
        old.unlink()
    write_json(layout.options_file, asdict(options))
    proc = _spawn(layout)
    try:
        return _wait_ready(layout, proc, say)
    except KeyboardInterrupt:
        say("interrupted: taking the half-started sandbox down again")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=DOWN_TIMEOUT_S)
        finally:
            remove_everything(layout, load_state(layout))
        raise


def _spawn(layout: Layout) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in CONFIG_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    with open(layout.log("daemon.log"), "ab") as err, open(layout.log("reaper.log"), "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", DAEMON_MARKER, str(layout.root)],
            cwd=layout.root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True, close_fds=True,
        )  # fmt: skip


def _wait_ready(layout: Layout, proc: subprocess.Popen[bytes], say: Callable[[str], None]) -> SandboxState:
    deadline = time.monotonic() + UP_TIMEOUT_S
    shown = ""
    log_hint = f"the daemon's log is {layout.log('daemon.log')}"
    while True:
        state = load_state(layout)
        if state is not None and state.daemon_pid == proc.pid:
            if state.step != shown and state.phase == "starting":
                say(state.step + " ...")
                shown = state.step
            if state.phase == "ready":
                return state
            if state.phase == "failed":
                proc.wait(timeout=60)
                remove_everything(layout, state)
                raise SandboxError(f"the sandbox did not come up: {state.message}", hint=log_hint)
        if proc.poll() is not None:
            remove_everything(layout, state)
            raise SandboxError(f"the sandbox daemon exited ({proc.returncode}) before it was ready", hint=log_hint)
        if time.monotonic() > deadline:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=DOWN_TIMEOUT_S)
            remove_everything(layout, state)
            raise SandboxError(f"the sandbox was not ready after {UP_TIMEOUT_S:.0f} s", hint=log_hint)
        time.sleep(0.1)


def down(say: Callable[[str], None], layout: Layout | None = None) -> bool:
    """Stop the daemon (it removes its hosts), then remove whatever is left. False when there was nothing."""
    layout = layout or Layout.default()
    state = load_state(layout)
    if state is None:
        remove_everything(layout, None)
        return False
    if daemon_alive(state):
        say(f"stopping the sandbox daemon (pid {state.daemon_pid}) and its hosts ...")
        os.kill(state.daemon_pid, signal.SIGTERM)
        deadline = time.monotonic() + DOWN_TIMEOUT_S
        while daemon_alive(state) and time.monotonic() < deadline:
            time.sleep(0.1)
    else:
        say(f"the sandbox daemon (pid {state.daemon_pid}) is gone; removing what it left")
    for item in remove_everything(layout, state):
        say(f"removed {item}")
    return True


def hosts(layout: Layout) -> HostTable:
    return HostTable.from_dict(read_json(layout.hosts_file) or {})


def reaper(layout: Layout) -> ReaperStatus | None:
    data = read_json(layout.reaper_file)
    return ReaperStatus.from_dict(data) if data else None

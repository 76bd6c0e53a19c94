"""The moto server, for the sandbox and for the tests: a subprocess on 127.0.0.1, addressed as
`http://localhost:PORT` (moto reads S3 bucket names from the host part, so 127.0.0.1 would break
CloudFormation's template URLs). It runs moto's own server through `moto_server.py`, which first applies the
sandbox's fixes where moto answers otherwise than AWS."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from ..errors import SandboxError
from .ports import free_port

__all__ = ["free_port", "start", "stop", "url_of"]

READY_TIMEOUT_S = 60.0
SERVER_MODULE = "weatherballoon.sandbox.launchers.moto_server"  # also how cleanup recognises a leftover moto
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the thread that started it (the daemon, the test run) dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def url_of(port: int) -> str:
    return f"http://localhost:{port}"


def start(
    port: int, log: Path | None = None, timeout: float = READY_TIMEOUT_S, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start the server on 127.0.0.1:`port` and return once it answers; its output goes to `log` (or nowhere).
    It gets SIGTERM when the thread that started it ends, so start it from a thread that outlives its use."""
    with open(log, "ab") if log is not None else open(os.devnull, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=_die_with_parent,
            env={**os.environ, **env} if env else None,
        )
    where = f"see {log}" if log is not None else "start it with a log file to see why"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url_of(port)}/moto-api/", timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SandboxError(f"the moto server exited ({proc.returncode})", hint=where) from None
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise SandboxError(f"the moto server on port {port} did not start", hint=where) from None
            time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

"""Installing the agent on a machine: one exec with the bundle on stdin.

A shell prefix first checks python3: Python 2 (which rejects `-I`), or a Python 3 older than 3.8, exits
OLD_PYTHON with its version on stderr, so the user is told which python the host has, not that its disk
may be full. Then the script below unpacks the bundle into a temp folder and renames it into place.
"""

from __future__ import annotations

import shlex

from ..errors import ConnectError

OLD_PYTHON = 126
# Runs on the machine with the bundle on stdin: unpack into a temp folder, then rename it into place, so a
# half-written agent is never run and two concurrent installs cannot mix. Temp folders of installs that died
# (a full disk, a killed connection) are removed once they are INSTALL_STALE_S old; a failure removes its
# own and exits INSTALL_FAILED with one line saying what could not be written.
INSTALL_FAILED = 125
INSTALL_STALE_S = 600
_INSTALL_SCRIPT = """
import errno, io, os, shutil, sys, tempfile, time, zipfile
base = os.path.expanduser("~/.weatherballoon/agent")
target = os.path.join(base, "NAME")
def place(tmp):
    try:
        os.rename(tmp, target)
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        if not os.path.isfile(os.path.join(target, "__main__.py")):  # a broken leftover, not a rival install
            shutil.rmtree(target, ignore_errors=True)
            os.rename(tmp, target)
try:
    os.makedirs(base, mode=0o700, exist_ok=True)
    for name in os.listdir(base):
        if name.startswith(".tmp-"):
            stale = os.path.join(base, name)
            try:
                if time.time() - os.lstat(stale).st_mtime > STALE:
                    shutil.rmtree(stale, ignore_errors=True)
            except OSError:
                pass
    tmp = tempfile.mkdtemp(dir=base, prefix=".tmp-")
    try:
        zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read())).extractall(tmp)
        place(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
except OSError as exc:
    sys.stderr.write("wb-agent: cannot write %s: %s\\n" % (exc.filename or base, exc.strerror or exc))
    sys.exit(FAILED)
except zipfile.BadZipFile as exc:
    sys.stderr.write("wb-agent: the agent arrived damaged (%s); nothing was installed\\n" % exc)
    sys.exit(FAILED)
""".replace("STALE", str(INSTALL_STALE_S)).replace("FAILED", str(INSTALL_FAILED))
# Before the installer: python3 must be 3.8 or newer. Python 2 parses this line too (it rejects -I, which
# the installer uses), and the version goes to stderr for the message.
_VERSION_CHECK = (
    "command -v PY >/dev/null 2>&1 || exit 127; "
    "v=$(PY -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])' 2>/dev/null) || v=unknown; "
    'case "$v" in 2.*|3.[0-7]|unknown) echo "$v" >&2; exit 126;; esac; '
)


def install_command(python: str, bundle_name: str) -> str:
    """The shell command that installs bundle `bundle_name` (its zip on stdin) with `python`."""
    script = _INSTALL_SCRIPT.replace("NAME", bundle_name)
    return _VERSION_CHECK.replace("PY", python) + f"exec {python} -I -S -c {shlex.quote(script)}"


def install_failure(status: int, err: bytes, *, python: str, host: str) -> ConnectError:
    """What a failed install (`install_command` exited `status`, other than 0 or 127) tells the user."""
    from ..jobs.agent_status import agent_said, storage_hint

    said = err.decode(errors="replace").strip()
    if status == OLD_PYTHON:
        version = said.splitlines()[-1] if said else "unknown"
        what = "does not run (it could not say its version)" if version == "unknown" else f"is Python {version}"
        return ConnectError(
            f"{python} on the host {what}; wb's agent needs Python 3.8 or newer",
            host=host,
            hint="install python3 (3.8 or newer) on the host, e.g. apt-get install python3, and make it the"
            f" first {python} on the login PATH",
        )
    reason = agent_said(err)
    return ConnectError(
        f"cannot install wb's agent in ~/.weatherballoon/agent (exit {status}): {reason}",
        host=host,
        hint=storage_hint(reason),
    )

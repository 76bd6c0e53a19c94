"""Running wb under the fuzz suite's property: every outcome is checked the same way.

Each example gets a sandbox of its own (a temp root holding HOME, wb's data dir and a project folder), runs
wb there, in process through `run_cli` or as the real binary, offline (no AWS credentials, no metadata
service, hosts on a port where nothing listens), and is then held to the property:

- the exit code is one of docs/cli.md's table;
- stderr has no traceback and no "internal error";
- a failure says what is wrong on stderr (`wb: error: ...`, or click's `Error: ...` for a bad flag);
- stdout can be written to a UTF-8 terminal (a lone surrogate there would crash the real binary);
- nothing was written in the sandbox outside wb's data dir (and the config file, for `wb init`).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from weatherballoon.cli.main import run_cli

from tests.support.project import WB
from tests.unit.cli.test_exit_codes import documented_codes

CODES = documented_codes()
CONFIG_NAME = ".weatherballoon.json"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, never listening, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOSED_HOST = f"u@127.0.0.1:{closed_port()}"
BASE_CONFIG = {"provisioner": {"kind": "ssh", "hosts": [CLOSED_HOST]}}


@dataclass
class Outcome:
    args: list[str]
    code: int
    out: str
    err: str


@dataclass
class Sandbox:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def project(self) -> Path:
        return self.root / "project"

    def write_config(self, content: str | bytes) -> Path:
        path = self.project / CONFIG_NAME
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        return path

    def resolve(self, text: str) -> str:
        """A drawn path with its placeholders made real in the sandbox: `{fifo}`, `{dir}`, `{dangling}`,
        `{file}` (a regular file that is no key, config or known_hosts)."""
        made = {
            "{fifo}": self.root / "fifo",
            "{dir}": self.root / "a-dir",
            "{dangling}": self.root / "dangling",
            "{file}": self.root / "plain.txt",
        }
        for placeholder, path in made.items():
            if placeholder in text and not os.path.lexists(path):
                if placeholder == "{fifo}":
                    os.mkfifo(path)
                elif placeholder == "{dir}":
                    path.mkdir()
                elif placeholder == "{dangling}":
                    path.symlink_to(self.root / "nowhere")
                else:
                    path.write_text("not a key\n")
            text = text.replace(placeholder, str(path))
        return text

    def snapshot(self) -> dict[str, tuple[int, int]]:
        found = {}
        for folder, dirs, files in os.walk(self.root):
            for name in dirs + files:
                path = os.path.join(folder, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                # a folder counts by its existence: a file made inside it shows up itself
                is_dir = stat.S_ISDIR(st.st_mode)
                found[os.path.relpath(path, self.root)] = (-1, 0) if is_dir else (st.st_size, st.st_mtime_ns)
        return found

    def base_env(self) -> dict[str, str]:
        """The environment every run gets: nothing of the host's WB_* or AWS_*, HOME and data in the sandbox."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WB_", "AWS_", "XDG_"))}
        env.update(
            HOME=str(self.home),
            WB_DATA_DIR=str(self.data),
            WB_PREFETCH="0",
            SSH_AUTH_SOCK="",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        env.update(self.env)
        return env


@contextlib.contextmanager
def sandbox(env: Mapping[str, str] | None = None, config: object | None = BASE_CONFIG) -> Iterator[Sandbox]:
    root = Path(tempfile.mkdtemp(prefix="wb-fuzz-"))
    try:
        box = Sandbox(root, dict(env or {}))
        for folder in (box.home, box.data, box.project):
            folder.mkdir()
        if config is not None:
            import json

            box.write_config(json.dumps(config))
        yield box
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _process_state(box: Sandbox) -> Iterator[None]:
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(box.base_env())
    os.chdir(box.project)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_here(box: Sandbox, args: list[str]) -> Outcome:
    """wb through `run_cli` in this process (the same path after the console script)."""
    out, err = io.StringIO(), io.StringIO()
    with _process_state(box), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_cli(list(args))
    return Outcome(list(args), code, out.getvalue(), err.getvalue())


def run_binary(box: Sandbox, args: list[str], timeout: float = 30) -> Outcome:
    """The installed `wb`, in a session of its own (no terminal to prompt on)."""
    result = subprocess.run(
        [WB, *args],
        cwd=box.project,
        env=box.base_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        start_new_session=True,
    )
    return Outcome(list(args), result.returncode, result.stdout.decode("utf-8", "replace"),
                   result.stderr.decode("utf-8", "replace"))  # fmt: skip


def check(
    outcome: Outcome, *, before: dict[str, tuple[int, int]], box: Sandbox, may_write_config: bool = False
) -> None:
    """The suite's property (see the module docstring)."""
    where = f"wb {outcome.args!r} exited {outcome.code}\nstderr: {outcome.err[-2000:]}"
    assert outcome.code in CODES, where
    assert "Traceback" not in outcome.err, where
    assert "internal error" not in outcome.err, where
    if outcome.code in (2, 255):  # a usage, config or connect error: wb's error line, or click's for a bad flag
        assert "wb: error: " in outcome.err or "Error: " in outcome.err, where
    elif outcome.code != 0:  # e.g. doctor's "wb: 1 check(s) failed: credentials"
        assert any(line.startswith(("wb: ", "Error: ")) for line in outcome.err.splitlines()), where
    outcome.out.encode("utf-8")  # raises where the real binary could not print it
    after = box.snapshot()
    allowed = {"data", f"project{os.sep}{CONFIG_NAME}"} if may_write_config else {"data"}

    def owned(path: str) -> bool:
        return path in allowed or path.startswith(f"data{os.sep}")

    changed = sorted(path for path, seen in after.items() if before.get(path) != seen and not owned(path))
    removed = sorted(path for path in before if path not in after and not owned(path))
    assert changed == [] and removed == [], f"{where}\nwrote outside what wb owns: {changed} {removed}"

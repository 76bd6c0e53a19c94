"""Another git revision's `wb`, installed beside the current one so a bench can time both in one process.

The revision is checked out in a throwaway worktree and installed (editable, no dependency changes) into a
venv that sees this interpreter's site-packages, so both revisions run on the same libraries and differ only
in wb's own code. Each gets its own data folder, so the two never share a client id, a remote root or a
sync record.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Revision:
    label: str  # the short commit id
    wb: str  # its console script
    python: str  # the venv's interpreter, which imports this revision's weatherballoon
    tree: Path  # its checkout (run `python -m bench.X` from here to use its benches)

    def argv(self, *args: str) -> list[str]:
        return [self.wb, *args]


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def installed_revision(revision: str) -> Iterator[Revision]:
    label = _git("rev-parse", "--short", revision)
    root = Path(tempfile.mkdtemp(prefix=f"wb-against-{label}-"))
    tree = root / "tree"
    try:
        _git("worktree", "add", "--detach", "-q", str(tree), revision)
        venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--no-deps", "--no-build-isolation", "-e", str(tree)], check=True)
        yield Revision(label=label, wb=str(venv / "bin" / "wb"), python=str(venv / "bin" / "python"), tree=tree)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

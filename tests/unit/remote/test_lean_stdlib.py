"""The agent's start-time shortcuts (remote/lean_stdlib.py): the public modules they avoid stay unimported,
and what they give equals what the public modules give."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import weatherballoon.remote as remote
from weatherballoon.remote.lean_stdlib import json_quote, sha256_hex, sig

AVOIDED = ("json", "re", "enum", "hashlib", "typing", "_json")
PROBE = f"""
import sys
sys.path.insert(0, sys.argv[1])
from weatherballoon.remote import lean_stdlib
from weatherballoon.remote.sync import state as sync_state
sync_state.sha256_hex(b"x")
print(sorted(name for name in {AVOIDED!r} if name in sys.modules))
"""


def test_importing_it_and_hashing_load_none_of_the_public_modules(tmp_path: Path) -> None:
    (tmp_path / "weatherballoon").mkdir()
    (tmp_path / "weatherballoon" / "remote").symlink_to(Path(remote.__file__).parent)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_shortcuts_agree_with_the_public_modules() -> None:
    assert (sig.SIGINT, sig.SIGTERM, sig.NSIG) == (signal.SIGINT, signal.SIGTERM, signal.NSIG)
    text = 'a "quoted" \u00e9 \n line'
    assert json_quote(text) == json.dumps(text)
    assert sha256_hex(b"wb") == hashlib.sha256(b"wb").hexdigest()

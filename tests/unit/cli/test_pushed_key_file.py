"""The key file `wb proxy` keeps for OpenSSH in eice mode (`session/pushed_key_file.py`): a fresh key only
when the file holds none, written 0600 with no temp file left, and removed only while it holds the same key."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from weatherballoon.cli.session.instance_connect import PushedKey, fresh_key
from weatherballoon.cli.session.pushed_key_file import claim_key, remove_if_holding


def test_a_fresh_key_is_written_0600_and_openssh_reads_the_same_public_half(tmp_path: Path) -> None:
    path = tmp_path / "i-0123456789abcdef0"
    key = claim_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == key.public_line.split()[:2]


def test_a_key_already_there_is_pushed_again_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "i-0123456789abcdef0"
    first = claim_key(path)
    again = claim_key(path)
    assert again == first and path.read_bytes() == first.private_openssh


def test_a_file_that_holds_no_key_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "i-0123456789abcdef0"
    path.write_text("not a key\n")
    key = claim_key(path)
    assert path.read_bytes() == key.private_openssh
    assert PushedKey.of_private(path.read_bytes()) == key


def test_only_the_holder_of_the_key_in_the_file_removes_it(tmp_path: Path) -> None:
    path = tmp_path / "i-0123456789abcdef0"
    mine = claim_key(path)
    other = fresh_key()
    path.write_bytes(other.private_openssh)
    remove_if_holding(path, mine)
    assert path.read_bytes() == other.private_openssh
    remove_if_holding(path, other)
    assert not path.exists()
    remove_if_holding(path, other)  # already gone: nothing to do

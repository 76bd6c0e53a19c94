"""Ephemeral keys: ed25519 that paramiko loads, 0600 in a 0700 folder, and clear errors when missing."""

from __future__ import annotations

import stat
from pathlib import Path

import paramiko
import pytest
from weatherballoon.cli.errors import AuthError, ConfigError
from weatherballoon.cli.providers.aws import keys


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_a_saved_key_is_private_and_loads_as_the_public_line_says(data_dir: Path) -> None:
    pair = keys.generate()
    path = keys.save("i-0abc", pair)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = paramiko.Ed25519Key.from_private_key_file(str(path))
    assert pair.public_line == f"ssh-ed25519 {loaded.get_base64()} {keys.COMMENT}"
    assert keys.identity_for("i-0abc", None, None, None) == path
    assert keys.known_ephemeral() == {"i-0abc"}
    keys.forget("i-0abc")
    keys.forget("i-0abc")  # twice is fine
    with pytest.raises(AuthError, match="this machine has no key for i-0abc"):
        keys.identity_for("i-0abc", None, None, None)


def test_seed_key_pair_is_found_in_dot_ssh_with_or_without_pem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    with pytest.raises(ConfigError, match=r"provisioner\.keyPair: no private key for the EC2 key pair 'seed'"):
        keys.identity_for("i-1", "seed", None, "/p/.weatherballoon.json")
    (tmp_path / ".ssh" / "seed.pem").write_text("key")
    assert keys.identity_for("i-1", "seed", None, None) == tmp_path / ".ssh" / "seed.pem"
    assert keys.identity_for("i-1", "seed", "~/other", None) == tmp_path / "other"


def test_instance_ids_cannot_escape_the_key_folder() -> None:
    for bad in ("", "../x", ".hidden"):
        with pytest.raises(ValueError):
            keys.ephemeral_path(bad)

"""The legacy provisioner.cred file is refused unless private, like ssh refuses an open key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from weatherballoon.cli.aws_account.credentials import read_legacy_credentials
from weatherballoon.cli.errors import ConfigError


def write(path: Path, mode: int, document: object) -> Path:
    path.write_text(json.dumps(document))
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_file_is_read(tmp_path: Path, mode: int) -> None:
    creds = read_legacy_credentials(write(tmp_path / "cred.json", mode, {"id": "AKIA1", "secret": "s3cret"}))
    assert (creds.access_key_id, creds.secret_access_key) == ("AKIA1", "s3cret")
    assert "s3cret" not in repr(creds)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_open_file_is_refused_with_chmod_hint(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "cred.json", mode, {"id": "AKIA1", "secret": "s3cret"})
    with pytest.raises(ConfigError, match=f"permissions {mode:04o} are too open") as caught:
        read_legacy_credentials(path)
    assert caught.value.hint == f"chmod 600 {path}"
    assert caught.value.key == "provisioner.cred"


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_legacy_credentials(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match='"id" and "secret"'):
        read_legacy_credentials(write(tmp_path / "c.json", 0o600, {"id": "x"}))
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    bad.chmod(0o600)
    with pytest.raises(ConfigError, match="cannot read"):
        read_legacy_credentials(bad)

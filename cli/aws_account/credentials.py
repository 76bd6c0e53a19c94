"""The legacy `provisioner.cred` file: `{"id": ..., "secret": ...}`, trusted only when private (like ssh keys)."""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

KEY = "provisioner.cred"


@dataclass(frozen=True)
class StaticCredentials:
    access_key_id: str
    secret_access_key: str
    source: Path

    def __repr__(self) -> str:  # never print the secret
        return f"StaticCredentials(access_key_id={self.access_key_id!r}, source={str(self.source)!r})"


def read_legacy_credentials(path: Path) -> StaticCredentials:
    """Read the file; refuse it when group or others may read or write it (mode must be 0600 or stricter)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            "the credentials file does not exist",
            path=str(path),
            key=KEY,
            hint="fix the path, or remove provisioner.cred to use the AWS credential chain (aws configure)",
        ) from None
    if not stat.S_ISREG(mode):
        raise ConfigError("the credentials file is not a regular file", path=str(path), key=KEY)
    if mode & 0o077:
        raise ConfigError(
            f"permissions {stat.S_IMODE(mode):04o} are too open: the credentials file must not be accessible "
            "by group or others; it is ignored",
            path=str(path),
            key=KEY,
            hint=f"chmod 600 {path}",
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the credentials file: {exc}", path=str(path), key=KEY) from None
    if not isinstance(document, dict):
        raise ConfigError('expected a JSON object {"id": ..., "secret": ...}', path=str(path), key=KEY)
    key_id, secret = document.get("id"), document.get("secret")
    if not isinstance(key_id, str) or not key_id or not isinstance(secret, str) or not secret:
        raise ConfigError(
            'the credentials file needs non-empty string fields "id" and "secret"', path=str(path), key=KEY
        )
    return StaticCredentials(key_id, secret, path)

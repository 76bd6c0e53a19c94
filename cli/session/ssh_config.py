"""The user's OpenSSH client config (`~/.ssh/config`), read with paramiko's `SSHConfig`: what a host name
means to ssh (HostName, User, Port, IdentityFile, ProxyJump), so a host wb is given reaches the machine
`ssh HOST` reaches."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

CONFIG_FILE = "~/.ssh/config"


@dataclass(frozen=True)
class HostSettings:
    """What the config says about one name; None where it says nothing."""

    hostname: str
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None  # the first IdentityFile that exists (OpenSSH tries each in turn)
    proxy_jump: str | None = None


def config_path() -> Path:
    return Path(CONFIG_FILE).expanduser()


def lookup(name: str) -> HostSettings:
    """The settings for `name`; just the name itself when there is no config file."""
    path = config_path()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return HostSettings(hostname=name)
    return _lookup(str(path), stamp, name)


@lru_cache(maxsize=64)
def _lookup(path: str, stamp: int, name: str) -> HostSettings:
    from .lazy_paramiko import paramiko

    pm = paramiko()
    try:
        config = pm.SSHConfig.from_path(path)
        found = config.lookup(name)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="fix the file's permissions or encoding") from None
    except Exception as exc:  # paramiko's ConfigParseError and friends: a line it cannot make sense of
        raise ConfigError(f"{path} cannot be parsed: {exc}", hint="check it with: ssh -G " + name) from None
    port = found.get("port")
    try:
        port_number = int(port) if port is not None else None
    except ValueError:
        raise ConfigError(
            f"{path}: Port {port!r} (for host {name!r}) is not a number", hint="fix the Port line"
        ) from None
    jump = found.get("proxyjump")
    return HostSettings(
        hostname=str(found.get("hostname") or name),
        user=found.get("user"),
        port=port_number,
        identity_file=_first_existing(found.get("identityfile") or []),
        proxy_jump=None if jump in (None, "none") else str(jump),
    )


def _first_existing(paths: list[str]) -> str | None:
    for candidate in paths:
        if Path(candidate).expanduser().is_file():
            return candidate
    return None

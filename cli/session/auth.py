"""Which private keys to offer: `identityFile`, then ssh-agent, then the default keys (DESIGN §4).

A key protected by a passphrase is used as ssh uses it: the same key from ssh-agent when the agent holds
it; else its passphrase, asked on the terminal (/dev/tty, three tries); else, with no terminal to ask on
(a pipeline, a cron job, the early-connect thread), an AuthError that says to `ssh-add` it (exit 255).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AuthError
from .key_files import KeyFile, NotAKeyFile, read_key_file

if TYPE_CHECKING:
    from paramiko import PKey

DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
PASSPHRASE_TRIES = 3

# The terminal of the command a warm client's child runs for (keeper/fork_server.py): the child has no
# controlling terminal of its own, so /dev/tty is not its user's; the command handed its terminal over.
_handed_terminal: int | None = None


def use_terminal(fd: int) -> None:
    global _handed_terminal
    _handed_terminal = fd


class KeyNeedsPassphrase(AuthError):
    """A passphrase-protected key, no agent holding it, and no terminal to ask on."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the key {path} is protected by a passphrase, and there is no terminal to ask for it",
            hint=f"load it into ssh-agent (ssh-add {path}) and run again",
        )
        self.path = path


def _load(key_file: KeyFile) -> PKey:
    from .lazy_paramiko import paramiko

    pm = paramiko()
    path = str(key_file.path)
    if not key_file.encrypted:
        try:
            key: PKey = pm.PKey.from_path(path)
            return key
        except (pm.PasswordRequiredException, TypeError):
            pass  # encrypted in a format the check above does not know: ask for the passphrase below
        except (OSError, pm.SSHException, ValueError) as exc:
            raise _unreadable(key_file.path, exc) from exc
    for _ in range(PASSPHRASE_TRIES):
        passphrase = ask_passphrase(key_file.path)
        if passphrase is None:
            raise KeyNeedsPassphrase(key_file.path)
        try:
            key = pm.PKey.from_path(path, password=passphrase.encode())
            return key
        except (ValueError, TypeError):  # what the cryptography library raises for a wrong passphrase
            sys.stderr.write("wb: wrong passphrase\n")
        except (OSError, pm.SSHException) as exc:
            raise _unreadable(key_file.path, exc) from exc
    raise AuthError(
        f"wrong passphrase for the key {key_file.path} ({PASSPHRASE_TRIES} tries)",
        hint=f"load it into ssh-agent once (ssh-add {key_file.path}) and wb will not ask again",
    )


def _unreadable(path: Path, exc: BaseException) -> AuthError:
    return AuthError(
        f"cannot read the private key {path}: {exc}",
        hint="check provisioner.identityFile; it must be an OpenSSH or PEM private key",
    )


def ask_passphrase(path: Path) -> str | None:
    """The passphrase typed on the terminal, or None when there is no terminal to ask on (or this is not the
    main thread, where a prompt would interleave with the command's own)."""
    if threading.current_thread() is not threading.main_thread() or not _has_terminal():
        return None
    if _handed_terminal is not None:
        return _ask_on(_handed_terminal, f"Enter passphrase for key {path}: ")
    import getpass

    try:
        return getpass.getpass(f"Enter passphrase for key {path}: ")
    except EOFError:
        return None


def _ask_on(fd: int, prompt: str) -> str | None:
    """getpass, on a terminal given as a descriptor: no echo while typing, echo restored after."""
    import termios

    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        return None
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)  # before the prompt: what is typed after it is kept
    os.write(fd, prompt.encode())
    line = bytearray()
    try:
        while not line.endswith(b"\n"):
            byte = os.read(fd, 1)
            if not byte:
                return None
            line += byte
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
        os.write(fd, b"\n")
    return line.rstrip(b"\r\n").decode(errors="replace")


def _has_terminal() -> bool:
    if _handed_terminal is not None:
        return True
    if os.name != "posix":
        return sys.stdin is not None and sys.stdin.isatty()
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _agent_keys() -> tuple[PKey, ...]:
    from .lazy_paramiko import paramiko

    try:
        return tuple(paramiko().Agent().get_keys())
    except Exception:  # an unreachable or broken agent is the same as no agent
        return ()


def candidate_keys(identity_file: str | None, notes: list[str] | None = None) -> Iterator[tuple[str, PKey]]:
    """Yield (label, key) in the order they should be offered. A default key that could not be used (its
    passphrase could not be asked for) is skipped, with a line appended to `notes` for the final error."""
    if identity_file:
        yield _identity(Path(identity_file).expanduser())
        return
    agent_keys = _agent_keys()
    offered = {key.asbytes() for key in agent_keys}
    for key in agent_keys:
        yield f"ssh-agent {key.get_name()}", key
    for default in DEFAULT_KEYS:
        try:
            key_file = read_key_file(Path(default).expanduser())
        except NotAKeyFile:
            continue
        if key_file.encrypted and key_file.public_blob() in offered:
            continue  # the agent's copy was offered already
        try:
            yield str(key_file.path), _load(key_file)
        except KeyNeedsPassphrase as exc:
            if notes is not None:
                notes.append(f"{exc.path} has a passphrase: ssh-add {exc.path}")
        except AuthError:
            continue


def _identity(path: Path) -> tuple[str, PKey]:
    try:
        key_file = read_key_file(path)
    except NotAKeyFile as exc:
        raise AuthError(
            f"provisioner.identityFile {path} {exc}",
            hint="fix the path in .weatherballoon.json, or remove the key to use ssh-agent",
        ) from None
    if key_file.encrypted:
        public = key_file.public_blob()
        for key in _agent_keys():
            if public is not None and key.asbytes() == public:
                return f"ssh-agent {key.get_name()} ({path})", key
    return str(path), _load(key_file)

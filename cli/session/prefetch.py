"""Start connecting early, to the machine this project's last run used, while the rest of wb loads.

A connection spends most of its time waiting on the server (key exchange, auth). Validating the config and
importing what a run needs takes about as long, so the two overlap: when `wb run` starts, a thread opens
a session to the last target recorded for this config file. Once the provider has chosen the machine,
the session is taken if target and connect options match exactly, and closed otherwise. The host key is
verified by the thread exactly as for any connection. Nothing is cached but where to connect.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict
from pathlib import Path

from ..paths import data_dir
from ..providers.records import SshTarget
from .agent import RemoteAgent
from .connection import ConnectOptions, SshSession, open_socket

_CACHE = "last-targets.json"


def _cache_path() -> Path:
    return data_dir() / _CACHE


def _key(config_path: Path) -> str:
    stat = config_path.stat()
    return f"{config_path}:{stat.st_mtime_ns}:{stat.st_size}"


def _options_json(options: ConnectOptions) -> dict[str, object]:
    raw = asdict(options)
    raw["known_hosts"] = str(options.known_hosts)
    return raw


class Prefetch:
    def __init__(self, target: SshTarget, options: ConnectOptions, agent_python: str) -> None:
        self.target = target
        self.options = options
        self.agent_python = agent_python
        self._session: SshSession | None = None
        self._agent: RemoteAgent | None = None
        self._thread = threading.Thread(target=self._connect, name="wb-prefetch", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        try:
            # The TCP handshake first: it overlaps with importing paramiko, which the session needs next.
            sock = open_socket(self.target, self.options)
            self._session = SshSession.open(self.target, self.options, sock=sock)
            agent = RemoteAgent(self._session, python=self.agent_python)
            agent.ensure_installed()
            self._agent = agent
        except BaseException:  # any failure: the normal path connects again and reports it properly
            pass

    def take(self, target: SshTarget, options: ConnectOptions, agent_python: str) -> RemoteAgent | None:
        """The early agent (and its session) if it reaches exactly this target this way; else None."""
        matches = (
            target == self.target
            and agent_python == self.agent_python
            and _options_json(options) == _options_json(self.options)
        )
        if not matches:
            self.discard()
            return None
        self._thread.join()
        agent, self._agent = self._agent, None
        if agent is None or not agent.session.alive:
            self.discard()
            return None
        self._session = None
        return agent

    def discard(self) -> None:
        def close_when_done() -> None:
            self._thread.join()
            if self._session is not None:
                self._session.close()

        threading.Thread(target=close_when_done, daemon=True).start()


def start(config_path: Path | None) -> Prefetch | None:
    """Begin connecting to the last target of this config file, if it is unchanged since."""
    if config_path is None or os.environ.get("WB_PREFETCH") == "0":
        return None
    try:
        entry = json.loads(_cache_path().read_text()).get(_key(config_path))
        if not entry:
            return None
        options = ConnectOptions(**{**entry["options"], "known_hosts": Path(entry["options"]["known_hosts"])})
        return Prefetch(SshTarget(**entry["target"]), options, entry["agent_python"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(config_path: Path | None, target: SshTarget, options: ConnectOptions, agent_python: str) -> None:
    if config_path is None:
        return
    path = _cache_path()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    prefix = f"{config_path}:"
    cache = {key: value for key, value in cache.items() if not key.startswith(prefix)}
    cache[_key(config_path)] = {
        "target": asdict(target),
        "options": _options_json(options),
        "agent_python": agent_python,
    }
    tmp = path.with_name(f".{_CACHE}.{os.getpid()}")
    tmp.write_text(json.dumps(cache))
    tmp.replace(path)

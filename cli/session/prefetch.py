"""Start connecting early, to the machine this project's last run used, while the rest of wb loads.

A connection spends most of its time waiting on the server (key exchange, auth). Validating the config and
importing what a run needs takes about as long, so the two overlap: when `wb run` starts, a thread opens
a session to the last target recorded for this config file. Once the provider has chosen the machine,
the session is taken if target and connect options match exactly, and closed otherwise. The cache is keyed
by `config.identity` (the config file and the WB_* variables, or the folder for a config from the
environment alone). The host key is verified by the thread exactly as for any connection. Nothing is
cached but where to connect, and whether to claim the machine.

A machine that must be claimed before use (aws: `agent claim`, through its daemon) is claimed by the thread
too, right after connecting, when the entry asks for it (`claim_margin_s`): the run takes the claim with the
connection (`claimed`, or why not in `claim_refusal`; warm_start.py). A claim the command does not take is
given back (`agent claim TOKEN --release`) when the connection is discarded.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.identity import same_config
from ..paths import data_dir
from ..shutdown import on_exit
from ..trace import mark

# Imported on the main thread before anything else of a run (see cli/entry.py): what a connection needs is
# imported by the connecting thread itself.
if TYPE_CHECKING:
    from ..providers.records import SshTarget
    from .agent import RemoteAgent
    from .connection import ConnectOptions
    from .process import Session

_CACHE = "last-targets.json"
_early: Prefetch | None = None  # started by the console script, before the command is parsed
_unused: set[Prefetch] = set()  # started, and neither taken nor discarded yet (see `release_unused`)


def _cache_path() -> Path:
    return data_dir() / _CACHE


def _options_json(options: ConnectOptions) -> dict[str, object]:
    """The connect options as remembered: an Instance Connect Endpoint's way in by what it is (the machine,
    the endpoint), never the AWS collaborators that push keys and sign tunnels."""
    from ..keeper.client import options_json

    return options_json(options)


def _options_of(raw: dict[str, object]) -> ConnectOptions:
    from .connection import ConnectOptions

    fields = {**raw, "known_hosts": Path(str(raw["known_hosts"]))}
    described = fields.pop("instance_connect", None)
    if isinstance(described, dict):
        from .instance_connect import InstanceConnect
        from .tunnel import TunnelEndpoint

        described = dict(described)  # the entry itself stays as remembered: `take` compares with it
        tunnel = described.pop("tunnel", None)
        reach = InstanceConnect(**described, tunnel=TunnelEndpoint(**tunnel) if isinstance(tunnel, dict) else None)
        fields["instance_connect"] = reach
    return ConnectOptions(**fields)  # type: ignore[arg-type]


class Prefetch:
    def __init__(self, entry: dict[str, object]) -> None:
        """`entry`: as `remember` wrote it (target, options, agent_python, claim_margin_s)."""
        self.entry = entry
        margin = entry.get("claim_margin_s")
        self.claim_margin_s = float(margin) if isinstance(margin, (int, float)) else None
        self.claimed: str | None = None  # the claim token, once the machine's daemon granted it
        self.claim_refusal: str | None = None  # why the claim was refused, when it was
        keep = entry.get("keep_minutes")
        # Whether this config keeps connections (provisioner.keepConnectionMinutes): then a keeper's is used.
        self.keeps = isinstance(keep, (int, float)) and keep > 0
        self._session: Session | None = None
        self._agent: RemoteAgent | None = None
        self._claim_gate = threading.Lock()
        self._cancelled = False  # no claim may start any more (the command is ending without it)
        self._claiming = False
        self._thread = threading.Thread(target=self._connect, name="wb-prefetch", daemon=True)
        _unused.add(self)
        self._thread.start()

    def _connect(self) -> None:
        try:
            from ..providers.records import SshTarget
            from .connection import SshSession, open_socket

            options = _options_of(dict(self.entry["options"]))  # type: ignore[call-overload]
            target = SshTarget(**self.entry["target"])  # type: ignore[arg-type]
            # Through an Instance Connect Endpoint only a keeper's connection is taken early: a connection of
            # its own needs AWS (a pushed key, a signed tunnel), which the provider makes once it is loaded.
            through_endpoint = options.instance_connect is not None
            session: Session | None = None
            if self.keeps:
                from ..keeper.client import session_for

                fallback = None if through_endpoint else (lambda: SshSession.open(target, options))
                session = session_for(target, options, fallback)
                if session is not None:
                    mark("prefetch: the keeper's connection")
            if session is None and through_endpoint:
                return
            if session is None:
                if target.proxy_jump:
                    # through its ProxyJump hops (~/.ssh/config), never straight to its address: open_stream
                    # picks the way
                    session = SshSession.open(target, options)
                else:
                    # The TCP handshake first: it overlaps with importing paramiko, which the session needs next.
                    sock = open_socket(target, options)
                    mark("prefetch: tcp connected")
                    session = SshSession.open(target, options, sock=sock)
                mark("prefetch: ssh session open")
            self._session = session
            from .agent import RemoteAgent

            agent = RemoteAgent(session, python=str(self.entry["agent_python"]))
            # No separate installed-check: the first agent command (this claim, or the sync) folds it in.
            margin = self.claim_margin_s
            with self._claim_gate:
                self._claiming = margin is not None and not self._cancelled
            if self._claiming and margin is not None:
                self._claim(agent, margin)
            self._agent = agent
        except BaseException:  # any failure: the normal path connects again and reports it properly
            pass

    def _claim(self, agent: RemoteAgent, margin_s: float) -> None:
        from .claims import claim

        outcome = claim(agent, margin_s)
        self.claimed, self.claim_refusal = outcome.token, outcome.refusal
        if outcome.token is not None:
            mark("prefetch: claimed")

    def take(
        self, target: SshTarget, options: ConnectOptions, agent_python: str, *, wait_s: float | None = None
    ) -> RemoteAgent | None:
        """The early agent (and its session) if it reaches exactly this target this way; else None. With
        `wait_s`, None also when it is not connected by then (it is closed once it is)."""
        matches = (
            asdict(target) == self.entry["target"]
            and agent_python == self.entry["agent_python"]
            and _options_json(options) == self.entry["options"]
        )
        if not matches:
            self.discard()
            return None
        self._thread.join(wait_s)
        if self._thread.is_alive():
            self.discard()
            return None
        agent, self._agent = self._agent, None
        if agent is None or not agent.session.alive:
            self.discard()
            return None
        self._session = None
        _unused.discard(self)
        return agent

    def discard(self) -> None:
        """Close the early connection, giving back a claim the command did not take: at once when the thread
        is done (the claim then never outlives the command), else when it finishes."""
        _unused.discard(self)

        def close_when_done() -> None:
            self._thread.join()
            session, agent, self._session, self._agent = self._session, self._agent, None, None
            token, self.claimed = self.claimed, None
            if agent is not None and token is not None:
                from .claims import release

                release(agent, token)
            if session is not None:
                session.close()

        if self._thread.is_alive():
            threading.Thread(target=close_when_done, daemon=True).start()
        else:
            close_when_done()


@on_exit
def release_unused(wait_s: float = 2.0) -> None:
    """At exit: close what was started but never used, giving back its claim (a command that failed before
    it chose a machine, e.g. on a bad flag, must not leave the remembered machine claimed until its lease
    runs out). Waits up to `wait_s` for a thread still connecting or claiming, when it is to claim."""
    for early in list(_unused):
        with early._claim_gate:
            early._cancelled = True  # a claim not yet begun never begins
            claiming = early._claiming
        if claiming:
            early._thread.join(wait_s)
        early.discard()


def start(identity: str | None) -> Prefetch | None:
    """Begin connecting to the last target of this config (`config.identity`), if it is unchanged since; or
    hand over the connection the console script began for this command (`start_for_command`)."""
    global _early
    if _early is not None:
        early, _early = _early, None
        return early
    if identity is None or os.environ.get("WB_PREFETCH") == "0":
        return None
    try:
        entry = json.loads(_cache_path().read_text()).get(identity)
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or not {"target", "options", "agent_python"} <= entry.keys():
        return None
    return Prefetch(entry)


def start_for_command(args: list[str]) -> None:
    """For `wb run`, begin connecting before the CLI is even imported (the console script calls this first);
    the run command then takes it through `start`. Any other command: nothing."""
    global _early
    words = [arg for arg in args if not arg.startswith("-")]
    if not words or words[0] != "run" or args[: args.index("run")] not in ([], ["-q"], ["--quiet"]):
        return
    try:
        from ..config.discovery import find_config_file
        from ..config.identity import config_identity

        cwd = Path.cwd()
        _early = start(config_identity(find_config_file(cwd, os.environ), os.environ, cwd))
    except Exception:  # a config problem is for the command to report, not for this head start
        _early = None


def remember(
    identity: str | None,
    target: SshTarget,
    options: ConnectOptions,
    agent_python: str,
    claim_margin_s: float | None = None,
    keep_minutes: float = 0.0,
) -> None:
    if identity is None:
        return
    path = _cache_path()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    prefix = same_config(identity)  # one entry per config file, or per folder for a config from the environment
    cache = {key: value for key, value in cache.items() if not key.startswith(prefix)}
    cache[identity] = {
        "target": asdict(target),
        "options": _options_json(options),
        "agent_python": agent_python,
        "claim_margin_s": claim_margin_s,
        "keep_minutes": keep_minutes,
    }
    tmp = path.with_name(f".{_CACHE}.{os.getpid()}")
    tmp.write_text(json.dumps(cache))
    tmp.replace(path)

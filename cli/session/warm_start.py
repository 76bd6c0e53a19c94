"""Taking the machine for a run with the connection the prefetch thread opened early (prefetch.py).

This is where a warm run saves its time (docs/benchmarks.md, "Warm `wb run`"): the provider only chooses
(`acquire`) and says what it chose (`Held`: how, and whether a later run should claim it on connecting);
the early connection, and the early claim through the machine's daemon, are used here.

- A machine chosen from memory (`Obtained.REMEMBERED`: aws, the project's last warm machine) is claimed
  through its daemon over the early connection: the prefetch thread's claim when it made one, else one made
  here. When that does not work out, the provider lets it go and acquires again with a full lookup.
- Any other machine takes the early connection if it reaches exactly that machine that way.
- After connecting, the target is remembered for the next run (and whether its thread should claim).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..providers.held import Obtained
from ..trace import mark
from . import prefetch

if TYPE_CHECKING:
    from ..config.model import LoadedConfig
    from ..providers.base import Provider
    from ..providers.held import Held
    from ..providers.records import InstanceSpec
    from .agent import RemoteAgent
    from .prefetch import Prefetch

# How long a run waits for the early connection to the machine it remembers before it looks the machine up
# instead: a machine that is gone does not answer at all (its address drops the SYN) until the connect timeout.
REMEMBERED_CONNECT_WAIT_S = 3.0


def hold(provider: Provider, spec: InstanceSpec, early: Prefetch | None) -> Held:
    """The machine for one job, claimed, with the early connection when it reaches that machine."""
    held = provider.acquire(spec)
    if held.how is Obtained.REMEMBERED and held.claim is None:
        why = _claim_remembered(provider, held, early)
        if why is None:
            return held
        provider.let_go(held)
        provider.say(f"the last warm instance {held.id} cannot be taken ({why}); looking again")
        return provider.acquire(spec)  # the early connection is spent: this one connects afresh
    if early is not None:
        adopt(provider, held, early)
    return held


def adopt(provider: Provider, held: Held, early: Prefetch, wait_s: float | None = None) -> RemoteAgent | None:
    """Use the early connection for the held machine if it reaches exactly it, this way; None otherwise."""
    instance = held.instance
    agent = early.take(instance.target, provider.connect_options(instance), provider.agent_python, wait_s=wait_s)
    if agent is None:
        return None
    provider.connections.adopt(instance.id, agent)
    mark("took the early connection")
    keep = early.entry.get("keep_minutes")
    if early.keeps and isinstance(keep, (int, float)):
        from ..keeper.client import KeeperSession, start_keeper

        if not isinstance(agent.session, KeeperSession):  # its keeper is gone (idle, killed): start another
            start_keeper(instance, provider.connect_options(instance), keep * 60)
    return agent


def _claim_remembered(provider: Provider, held: Held, early: Prefetch | None) -> str | None:
    """Claim a remembered machine through its daemon (no AWS call from here); None when claimed, else why not."""
    from ..errors import WbError
    from .claims import claim

    agent = adopt(provider, held, early, wait_s=REMEMBERED_CONNECT_WAIT_S) if early is not None else None
    taken_early = agent is not None
    if agent is None and provider.connect_options(held.instance).instance_connect is not None:
        # Through an Instance Connect Endpoint an early connection is a keeper's only (a key must be pushed
        # otherwise): with none, connect now (to a keeper that started since, or directly) and claim through
        # the daemon all the same. The claim is the daemon's own answer, as for an early connection: no
        # separate check that it runs.
        instance = held.instance
        try:
            agent = provider.connections.agent(instance.id, provider.session(instance), provider.agent_python)
        except WbError as exc:
            return str(exc)
    elif agent is None and early is None:
        return "no early connection was started"
    if agent is None:
        return f"the early connection did not reach it within {REMEMBERED_CONNECT_WAIT_S:g} s"
    token = early.claimed if early is not None and taken_early else None  # the prefetch thread's claim
    if token is None:
        if early is not None and taken_early and early.claim_refusal is not None:
            return early.claim_refusal
        try:
            outcome = claim(agent, held.claim_margin_s or 0.0)
        except WbError as exc:
            return str(exc)
        if outcome.token is None:
            return outcome.refusal
        token = outcome.token
    held.claim = token
    mark("claimed through the agent")
    provider.say(f"reusing warm instance {held.id}")
    return None


def remember(loaded: LoadedConfig, provider: Provider, held: Held) -> None:
    """Note where this run connected, so that the next run of this config starts connecting (and, when the
    machine needs a claim, claiming) before it has even loaded the config."""
    from ..config.identity import identity_of

    instance = held.instance
    options = provider.connect_options(instance)
    keep_minutes = loaded.config.provisioner.keep_connection_minutes
    if options.instance_connect is not None and keep_minutes <= 0:
        return  # a pushed key and a tunnel need AWS calls: nothing an early connection could start with
    prefetch.remember(
        identity_of(loaded),
        instance.target,
        options,
        provider.agent_python,
        held.claim_margin_s,
        keep_minutes=keep_minutes,
    )

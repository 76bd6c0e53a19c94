"""The SSH connections one command holds: one per machine, opened on first use and then reused.

A provider opens them (it knows how to reach and verify a machine); the session layer may put in one it
opened early (`adopt`: the prefetch thread's, see warm_start.py), which the provider then uses like its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .agent import RemoteAgent
    from .connection import SshSession


class ConnectionPool:
    def __init__(self) -> None:
        self._sessions: dict[str, SshSession] = {}
        self._agents: dict[str, RemoteAgent] = {}

    def session(self, machine_id: str, open_session: Callable[[], SshSession]) -> SshSession:
        existing = self._sessions.get(machine_id)
        if existing is not None and existing.alive:
            return existing
        session = open_session()
        self._sessions[machine_id] = session
        return session

    def agent(self, machine_id: str, session: SshSession, python: str) -> RemoteAgent:
        """The agent on `session` (one per connection: it knows whether it is installed there)."""
        agent = self._agents.get(machine_id)
        if agent is None or agent.session is not session:
            from .agent import RemoteAgent

            agent = RemoteAgent(session, python=python)
            self._agents[machine_id] = agent
        return agent

    def adopt(self, machine_id: str, agent: RemoteAgent) -> None:
        """Use a connection opened elsewhere (early) for this machine."""
        self._sessions[machine_id] = agent.session
        self._agents[machine_id] = agent

    def opened(self, machine_id: str) -> bool:
        """Whether a connection to the machine was opened (an SSH login to it succeeded) in this command."""
        return machine_id in self._sessions

    def drop(self, machine_id: str) -> None:
        self._agents.pop(machine_id, None)
        session = self._sessions.pop(machine_id, None)
        if session is not None:
            session.close()

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        self._agents.clear()

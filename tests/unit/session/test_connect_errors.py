"""A failed TCP connect reads as it always did: one message and hint per kind of error, exit 255."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from weatherballoon.cli.errors import ConnectError
from weatherballoon.cli.providers.records import SshTarget
from weatherballoon.cli.session import connection
from weatherballoon.cli.session.connection import ConnectOptions, open_socket

TARGET = SshTarget(host="gpu-1.example", port=2222, username="ubuntu")
OPTIONS = ConnectOptions(known_hosts=Path("/nonexistent"), connect_timeout_s=7.5)


@pytest.mark.parametrize(
    ("raised", "message", "hint"),
    [
        (
            socket.gaierror(-2, "Name or service not known"),
            "cannot resolve host name 'gpu-1.example': Name or service not known",
            "check provisioner.hosts in .weatherballoon.json",
        ),
        (
            ConnectionRefusedError(111, "Connection refused"),
            "connection refused",
            "is sshd running and listening on that port? check provisioner.hosts",
        ),
        (
            TimeoutError("timed out"),
            "connection timed out after 7.5s",
            "the host may be down or a firewall drops SSH; check the address and port",
        ),
        (
            TimeoutError("timed out"),
            "connection timed out after 7.5s",
            "the host may be down or a firewall drops SSH; check the address and port",
        ),
        (
            OSError(113, "No route to host"),
            "cannot connect: No route to host",
            "check the network path to the host",
        ),
        (OSError("no errno at all"), "cannot connect: no errno at all", "check the network path to the host"),
    ],
)
def test_each_failure_reads_as_before(
    monkeypatch: pytest.MonkeyPatch, raised: OSError, message: str, hint: str
) -> None:
    def fail(*_: Any, **__: Any) -> socket.socket:
        raise raised

    monkeypatch.setattr(connection.socket, "create_connection", fail)
    with pytest.raises(ConnectError) as caught:
        open_socket(TARGET, OPTIONS)
    assert caught.value.message == f"ubuntu@gpu-1.example:2222: {message}"
    assert caught.value.hint == hint
    assert caught.value.host == "ubuntu@gpu-1.example:2222"
    assert caught.value.exit_code == 255
    assert caught.value.__cause__ is raised


def test_a_real_refused_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(ConnectError, match="connection refused"):
            open_socket(SshTarget(host="127.0.0.1", port=port), OPTIONS)

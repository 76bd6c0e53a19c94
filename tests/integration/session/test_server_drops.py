"""A server that drops the connection under a request is a connection error (255), never the `EOFError`
that click reports as "aborted", exit 130, as if the user had pressed Ctrl-C (issue 9 item 12)."""

from __future__ import annotations

import pytest
from weatherballoon.cli.errors import ConnectError
from weatherballoon.cli.providers.records import SshTarget
from weatherballoon.cli.session.connection import ConnectOptions, SshSession

from tests.support.sshd import SshdHost


def test_an_exec_request_sshd_refuses_by_disconnecting(sshd_host: SshdHost) -> None:
    target = SshTarget(host=sshd_host.address, port=sshd_host.port, username=sshd_host.user.name)
    options = ConnectOptions(known_hosts=sshd_host.known_hosts, identity_file=str(sshd_host.identity))
    with SshSession.open(target, options) as session:
        assert session.run("echo fine")[:2] == (0, b"fine\n")
        # OpenSSH ends the whole connection on a command string with a NUL in it.
        with pytest.raises(ConnectError, match="the server closed the SSH connection") as caught:
            session.run("echo a\0b")
        assert caught.value.exit_code == 255 and isinstance(caught.value.__cause__, EOFError)

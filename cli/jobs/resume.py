"""Following a job on past the end of its tunnel.

An EC2 Instance Connect Endpoint ends every tunnel at its maximum duration (an hour at most,
`session/tunnel.py`). A job followed longer than that (`wb run` attached, `wb logs -f`) must not notice: when
the connection ends because the endpoint ended the tunnel, a new connection is opened (a new tunnel, a new
pushed key) and the agent's `follow` resumes at the byte offsets already written, so no byte is lost or
repeated. This is `wb logs -f JOB` after a cut network, done for the user. A connection lost any other way, or
a tunnel that ended because the machine went away (the new connection fails), is reported as before
(supervision's reason and 124, or exit 255 with the command to reattach).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import WbError
from .attach import AttachResult, pump

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..providers.base import Provider
    from ..providers.records import Instance
    from ..session.connection import SshSession


def ended_by_endpoint(session: SshSession) -> bool:
    tunnel = getattr(session, "tunnel", None)
    return tunnel is not None and bool(tunnel.ended_by_endpoint)


def follow_past_tunnel_ends(
    provider: Provider,
    instance: Instance,
    job_id: str,
    result: AttachResult,
    session: SshSession,
    on_first_interrupt: Callable[[], None],
) -> AttachResult:
    """`result` when the follow ended any other way; else what following on from its offsets gave."""
    from weatherballoon.remote.agent_io import STREAM_HEADER

    out, err = result.stdout_bytes, result.stderr_bytes
    while (
        result.status == -1
        and result.streamed
        and not (result.detached or result.output_closed)
        and ended_by_endpoint(session)
    ):
        try:
            agent = provider.agent(instance)  # the pool sees the old connection dead and opens another
            session = agent.session
            proc = agent(["follow", job_id, "--stdout-offset", str(out), "--stderr-offset", str(err)])
        except WbError:
            # Not an expiry after all: the machine went away with its tunnel (ended by supervision, a crash).
            # The caller handles the lost connection as ever (why it was stopped, or how to reattach).
            break
        result = pump(proc, forward_stdin_fd=None, on_first_interrupt=on_first_interrupt, header=STREAM_HEADER)
        out, err = out + result.stdout_bytes, err + result.stderr_bytes
    return replace(result, stdout_bytes=out, stderr_bytes=err)

"""The daemon's AWS edge: one boto3 session from agent.env, one client Config, and the table calls it makes.

boto3 is imported only here, and only when a client is first built (the daemon runs only where agent.env
exists, on the instance's venv python). Every client shares one Config: standard retries, few attempts and
short timeouts, so an unreachable control plane shows within a pass instead of after minutes of retrying.
IAM: the instance role grants GetItem, Query, PutItem and UpdateItem on its own rows (infra/iam.py); these
are the only table calls made here.
"""

from __future__ import annotations

from ..lambdas.aws import client_config
from ..lambdas.dynamo_codec import values
from ..lambdas.dynamo_store import DynamoStore
from ..lambdas.errors import RowNotFoundError, StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..lambdas.records import JobRow
    from .agent_env import AgentEnv

# The loop tries again every pass: one retry absorbs a blip, and a dead endpoint costs at most about
# 2 x CONNECT_TIMEOUT_S + 1 s, which is all the overspend an unreachable table adds to leaseMinutes.
MAX_ATTEMPTS = 2
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0

__all__ = ["AgentStore", "RowNotFoundError", "StoreError", "make_client"]


def agent_config() -> Any:
    """The one botocore Config of the agent's clients."""
    from botocore.config import Config

    return client_config(MAX_ATTEMPTS, max_pool_connections=10).merge(
        Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S)
    )


def make_session(env: AgentEnv) -> Any:
    """A boto3 session: agent.env's keys in the sandbox; on EC2 the default chain (the instance role)."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id=env.access_key_id,
        aws_secret_access_key=env.secret_access_key,
        aws_session_token=env.session_token,
        region_name=env.region,
    )


def make_client(service: str, env: AgentEnv, session: Any | None = None) -> Any:
    session = make_session(env) if session is None else session
    return session.client(service, region_name=env.region, endpoint_url=env.endpoint_url, config=agent_config())


class AgentStore(DynamoStore):
    """The supervision table as the agent uses it: `DynamoStore`'s row calls plus a job heartbeat."""

    def touch_job(self, job: JobRow, now: float) -> bool:
        """Mark a running job row as alive (`renewed_at`); False when the row is gone or already ended."""
        return self._update(
            job.pk,
            job.sk,
            "SET renewed_at = :now",
            "attribute_exists(pk) AND attribute_not_exists(ended_at)",
            ExpressionAttributeValues=values(now=now),
        )

    @classmethod
    def for_env(cls, env: AgentEnv, session: Any | None = None) -> AgentStore:
        return cls(env.table, client=make_client("dynamodb", env, session))

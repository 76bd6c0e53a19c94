"""The daemon's AWS edge: one boto3 session from agent.env, one client Config, and its table (`DynamoStore`).

boto3 is imported only here, and only when a client is first built (the daemon runs only where agent.env
exists, on the instance's venv python). Every client shares one Config: standard retries, few attempts and
short timeouts, so an unreachable control plane shows within a pass instead of after minutes of retrying.
IAM: the instance role grants GetItem, Query, PutItem and UpdateItem on its own rows (infra/iam.py); those
are all the calls the daemon makes (`daemon.loop`, `daemon.claims`: instance row, job rows, heartbeat).
"""

from __future__ import annotations

from ...lambdas.aws import client_config
from ...lambdas.dynamo_store import DynamoStore
from ...lambdas.errors import RowNotFoundError, StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .agent_env import AgentEnv

# The loop tries again every pass: one retry absorbs a blip, and a dead endpoint costs at most about
# 2 x CONNECT_TIMEOUT_S + 1 s, which is all the overspend an unreachable table adds to leaseMinutes.
MAX_ATTEMPTS = 2
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0

__all__ = ["RowNotFoundError", "StoreError", "agent_store", "make_client"]


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


def agent_store(env: AgentEnv, session: Any | None = None) -> DynamoStore:
    """The supervision table as the daemon uses it: its own rows, through the agent's one client Config."""
    return DynamoStore(env.table, client=make_client("dynamodb", env, session))

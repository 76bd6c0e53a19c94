"""What a user's `wb` needs to go through the sandbox: the lines `wb sandbox env` prints, and the same
settings as a `.weatherballoon.json` (written into the sandbox folder, to copy into a project).

The settings are exported as `WB_*` variables rather than as `WB_CONFIG`: a config file's folder is the
project root wb syncs (`sync.adirLocal` defaults to it), so a `WB_CONFIG` in the sandbox folder would make
every `wb run` upload the sandbox's own state. The variables sit above any project's file in the merge
order, so `wb run` from any project goes through the sandbox and keeps that project's other settings.
"""

from __future__ import annotations

import shlex
from typing import Any

from .records import DUMMY_KEY_ID, DUMMY_SECRET, SandboxState

UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


def number(value: float) -> str:
    return f"{value:g}"


def aws_variables(state: SandboxState) -> dict[str, str]:
    region = state.options.region
    return {
        "AWS_ENDPOINT_URL": state.endpoint,
        "AWS_ACCESS_KEY_ID": DUMMY_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        # The Instance Connect Endpoint answers wss:// with the sandbox's own certificate.
        **({"AWS_CA_BUNDLE": state.ca_bundle} if state.ca_bundle else {}),
    }


def wb_variables(state: SandboxState) -> dict[str, str]:
    options = state.options
    return {
        "WB_KIND": "aws",
        "WB_REGION": options.region,
        # With the stack, wb reaches hosts through the sandbox's Instance Connect Endpoint (connect: eice, the
        # default when the stack has one). Without it (`up --no-stack`, for `wb doctor --live`, whose own stack
        # opens port 22 to the VPC's range), by their private addresses.
        **({} if options.stack else {"WB_CONNECT": "private-ip"}),
        "WB_USERNAME": state.account or "",
        "WB_INSTANCE_TYPE": options.instance_type,
        "WB_LEASE_MINUTES": number(options.lease_minutes),
        "WB_IDLE_MINUTES": number(options.idle_minutes),
        # Not a config key: the VPC that `wb doctor --live --vpc-id` (and a bootstrap) should use, since the
        # sandbox's hosts live in its own VPC, not in moto's default one.
        "WB_VPC_ID": state.vpc_id or "",
    }


def env_lines(state: SandboxState) -> list[str]:
    lines = [f"# wb sandbox {state.sandbox_id}: AWS is the moto server at {state.endpoint}"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in aws_variables(state).items()]
    lines.append("unset " + " ".join(UNSET))
    lines += [f"export {key}={shlex.quote(value)}" for key, value in wb_variables(state).items()]
    return lines


def config_document(state: SandboxState) -> dict[str, Any]:
    """The same settings as a configuration file (`sync` and the rest stay the project's own)."""
    options = state.options
    return {
        "version": 1,
        "provisioner": {
            "kind": "aws",
            "region": options.region,
            "instanceType": options.instance_type,
            **({} if options.stack else {"connect": "private-ip"}),
            "os": {"username": state.account},
        },
        "supervision": {"leaseMinutes": options.lease_minutes, "idleMinutes": options.idle_minutes},
    }

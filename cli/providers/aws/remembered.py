"""The machine this project's last run left warm, as the provider chooses and notes it (warm_cache.py).

Choosing is a local read: no AWS call, no table record imported. Claiming the chosen machine through its
daemon is the session layer's (cli/session/warm_start.py).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import TYPE_CHECKING

from . import keys, reuse, warm_cache

if TYPE_CHECKING:
    from ...config.model import LoadedConfig
    from ...session.tunnel import TunnelEndpoint
    from ..records import InstanceSpec
    from .held import AwsHeld
    from .plane import Supervision


def note_key(loaded: LoadedConfig, spec: InstanceSpec) -> str | None:
    """The note's key for this config, spec and AWS setup; None for a config wb cannot identify."""
    from ...config.identity import identity_of

    identity = identity_of(loaded)
    if identity is None:
        return None
    return warm_cache.cache_key(identity, reuse.spec_hash(loaded.config, spec), os.environ)


def choose(loaded: LoadedConfig, spec: InstanceSpec, now: float, passed: set[str]) -> warm_cache.WarmEntry | None:
    """The remembered machine, if it should still be warm and this laptop can open it (and this command has
    not let it go already, `passed`); only a hint: its daemon alone knows whether it is still idle."""
    key = note_key(loaded, spec)
    entry = warm_cache.lookup(key) if key else None
    if entry is None or entry.instance_id in passed:
        return None
    # Its warm window may have been extended by runs of other projects: only its daemon knows.
    # A machine reached through an Instance Connect Endpoint gets a key pushed per connection (or none at all,
    # its connection held by a keeper): nothing on disk says this laptop may log in; IAM does, at the push.
    has_key = (
        bool(loaded.config.provisioner.key_pair)
        or keys.ephemeral_path(entry.instance_id).is_file()
        or entry.tunnel is not None
    )
    if entry.max_until <= now + reuse.claim_margin(entry.idle_minutes) or not has_key:
        return None
    return entry


def noted_tunnel(held: AwsHeld | None) -> TunnelEndpoint | None:
    """The Instance Connect Endpoint a remembered machine was reached through, as noted; None for a machine
    not remembered, or reached directly."""
    noted = held.warm.tunnel if held is not None and held.warm is not None else None
    if noted is None:
        return None
    from ...session.tunnel import TunnelEndpoint

    return TunnelEndpoint(**noted)


def note(loaded: LoadedConfig, held: AwsHeld, supervision: Supervision | None, now: float) -> None:
    """Leave a note for the next run of this project: this machine is (about to be) warm. `supervision`:
    the stack's settings when this command looked them up (not needed for a remembered machine). The
    Instance Connect Endpoint the command reached it through, if it did, is noted with it."""
    if held.gang_id is not None:  # a gang's machine is reused only with its gang (gang_launch.py)
        return
    key = note_key(loaded, held.spec) if held.spec is not None else None
    row = held.row_key()
    instance = held.instance
    if key is None or row is None or not instance.target.host_key_fingerprint:
        return
    owner, instance_arn, max_until = row
    if held.warm is not None:
        lease_minutes, idle_minutes, interval_s = (
            held.warm.lease_minutes, held.warm.idle_minutes, held.warm.renew_interval_s
        )  # fmt: skip
    elif supervision is not None:
        lease_minutes, idle_minutes = supervision.lease_minutes, supervision.idle_minutes
        interval_s = supervision.renew_interval_s
    else:
        return
    entry = warm_cache.WarmEntry(
        instance_id=instance.id,
        target=instance.target,
        owner=owner,
        instance_arn=instance_arn,
        instance_type=instance.instance_type,
        max_until=max_until,
        idle_until=min(max_until, now + idle_minutes * 60.0),
        lease_minutes=lease_minutes,
        idle_minutes=idle_minutes,
        renew_interval_s=interval_s,
        tunnel=asdict(held.tunnel) if held.tunnel is not None else (held.warm.tunnel if held.warm else None),
    )
    warm_cache.remember(key, entry)

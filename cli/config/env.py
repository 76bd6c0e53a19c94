"""`WB_*` environment variables and the config keys they set (DESIGN §4 merge order: flags, env, file)."""

from __future__ import annotations

from collections.abc import Mapping

# env var -> (dotted file key, is a comma-separated list)
ENV_KEYS: dict[str, tuple[str, bool]] = {
    "WB_KIND": ("provisioner.kind", False),
    "WB_REGION": ("provisioner.region", False),
    "WB_INSTANCE_TYPE": ("provisioner.instanceType", False),
    "WB_SPOT": ("provisioner.spot", False),
    "WB_AMI": ("provisioner.os.ami", False),
    "WB_USERNAME": ("provisioner.os.username", False),
    "WB_CONNECT": ("provisioner.connect", False),
    "WB_SUBNET": ("provisioner.subnet", False),
    "WB_TEAM": ("provisioner.team", False),
    "WB_STACK": ("provisioner.stack", False),
    "WB_HOSTS": ("provisioner.hosts", True),
    "WB_IDENTITY_FILE": ("provisioner.identityFile", False),
    "WB_KNOWN_HOSTS_FILE": ("provisioner.knownHostsFile", False),
    "WB_HOST_KEY_POLICY": ("provisioner.hostKeyPolicy", False),
    "WB_KEEP_CONNECTION_MINUTES": ("provisioner.keepConnectionMinutes", False),
    "WB_TAG": ("tag", False),
    "WB_ADIR_SERVER": ("sync.adirServer", False),
    "WB_DIR_STORAGE": ("sync.dirStorage", False),
    "WB_FILE_EXCLUDES": ("sync.fileExcludes", True),
    "WB_OUTPUTS": ("sync.outputs", True),
    "WB_SYNC_OVERWRITE": ("sync.overwrite", False),
    "WB_LEASE_MINUTES": ("supervision.leaseMinutes", False),
    "WB_IDLE_MINUTES": ("supervision.idleMinutes", False),
    "WB_MAX_HOURS": ("supervision.maxHours", False),
    "WB_MAX_COST_USD": ("supervision.maxCostUsd", False),
    "WB_MAX_OUTPUT_MB": ("supervision.maxOutputMb", False),
}


def env_overrides(environ: Mapping[str, str]) -> dict[str, tuple[object, str]]:
    """Dotted key -> (value, source label) for each WB_* variable that is set and not empty."""
    found: dict[str, tuple[object, str]] = {}
    for var, (key, is_list) in ENV_KEYS.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        value: object = [part.strip() for part in raw.split(",") if part.strip()] if is_list else raw
        found[key] = (value, f"env {var}")
    return found


def env_var_for(key: str) -> str | None:
    for var, (dotted, _) in ENV_KEYS.items():
        if dotted == key:
            return var
    return None

"""The instance's user-data: a bash script cloud-init runs once per instance (docs/aws.md, "Boot").

Markers other tools rely on (the sandbox reads them instead of running cloud-init):
- line 1 `#!/bin/bash`; then `# wb:authorized-key <public key line>` (absent with a seed keyPair) and
  `# wb:user <login user>`;
- boot.py's inputs as `# wb:<name> <value>` lines right after those (`# wb:table T` is WB_TABLE for boot.py,
  which reads them from the user-data through IMDS, or from the file `WB_USER_DATA` names);
- the verbatim source of `remote/boot.py` between the lines `cat > /opt/wb/boot.py <<'WB_BOOT'` and `WB_BOOT`,
  then `/opt/wb/venv/bin/python /opt/wb/boot.py`.

Every step is safe to run again (a reboot with a rerun of user-data changes nothing).
"""

from __future__ import annotations

import importlib.util
import math
import shlex
from dataclasses import dataclass
from pathlib import Path

from ...errors import ProvisionError

MAX_BYTES = 16 * 1024  # EC2's limit on user-data before base64
BOOT_START = "cat > /opt/wb/boot.py <<'WB_BOOT'"
BOOT_END = "WB_BOOT"
VENV_PYTHON = "/opt/wb/venv/bin/python"
AUTHORIZED_KEY_MARKER = "# wb:authorized-key "
USER_MARKER = "# wb:user "


@dataclass(frozen=True)
class BootInputs:
    """What the instance needs to know that IMDS cannot tell it."""

    username: str
    table: str
    bucket: str
    region: str
    lease_minutes: float
    idle_minutes: float
    max_hours: float
    renew_seconds: float
    authorized_key: str | None = None  # None with a seed keyPair (EC2 installs that one)

    def markers(self) -> dict[str, str]:
        """boot.py's settings, as `# wb:<name> <value>` lines carry them."""
        return {
            "table": self.table,
            "bucket": self.bucket,
            "lease-minutes": f"{self.lease_minutes:g}",
            "idle-minutes": f"{self.idle_minutes:g}",
            "max-hours": f"{self.max_hours:g}",
            "renew-seconds": f"{self.renew_seconds:g}",
        }

    @property
    def shutdown_minutes(self) -> int:
        """The dead-man timer armed at boot: the lease, rounded up, plus one minute."""
        return math.ceil(self.lease_minutes) + 1


def boot_program(package_dir: Path | None = None) -> str:
    """The verbatim source of `weatherballoon/remote/boot.py` from the installed package."""
    if package_dir is None:
        spec = importlib.util.find_spec("weatherballoon.remote")
        locations = list(spec.submodule_search_locations or []) if spec else []
        package_dir = Path(locations[0]) if locations else Path("/nonexistent")
    path = package_dir / "boot.py"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProvisionError(
            f"the installed weatherballoon has no instance boot program ({path}: {exc.strerror})",
            hint="reinstall weatherballoon (pip install --force-reinstall weatherballoon); the aws provider "
            "cannot launch without remote/boot.py",
        ) from None


_SETUP = """\
set -uo pipefail
echo "wb: user-data started $(date -u +%FT%TZ)"
shutdown -h +{shutdown} "wb: dead-man timer armed at boot; the agent re-arms it while the lease is renewed" || true
WB_USER={user}
id "$WB_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$WB_USER"
WB_HOME=$(getent passwd "$WB_USER" | cut -d: -f6)
"""

_AUTHORIZE = """\
install -d -m 700 -o "$WB_USER" -g "$(id -gn "$WB_USER")" "$WB_HOME/.ssh"
touch "$WB_HOME/.ssh/authorized_keys"
grep -qxF {key} "$WB_HOME/.ssh/authorized_keys" || echo {key} >> "$WB_HOME/.ssh/authorized_keys"
chown "$WB_USER" "$WB_HOME/.ssh/authorized_keys" && chmod 600 "$WB_HOME/.ssh/authorized_keys"
"""

_VENV = """\
mkdir -p /opt/wb
if ! /opt/wb/venv/bin/python -c 'import boto3' 2>/dev/null; then
  python3 -m venv /opt/wb/venv || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -q && \\
      apt-get -o DPkg::Lock::Timeout=300 install -y -q python3-venv && python3 -m venv /opt/wb/venv
  }
  /opt/wb/venv/bin/pip install -q --disable-pip-version-check boto3
fi
"""

_UNITS = """\
cat > /etc/systemd/system/wb-agent.service <<WB_UNIT
[Unit]
Description=weatherballoon agent: lease renewal and dead-man switch
After=network-online.target
Wants=network-online.target
ConditionPathExists=$WB_HOME/.weatherballoon/agent/current

[Service]
User=$WB_USER
ExecStart=/opt/wb/venv/bin/python -I $WB_HOME/.weatherballoon/agent/current daemon --foreground
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
WB_UNIT
cat > /etc/systemd/system/wb-agent.path <<WB_UNIT
[Unit]
Description=start the weatherballoon agent once the client has installed it

[Path]
PathExists=$WB_HOME/.weatherballoon/agent/current
Unit=wb-agent.service

[Install]
WantedBy=multi-user.target
WB_UNIT
systemctl daemon-reload
systemctl enable wb-agent.service
systemctl enable --now wb-agent.path
echo "wb: user-data done $(date -u +%FT%TZ)"
"""


def render(inputs: BootInputs, boot_source: str) -> str:
    """The user-data script; ProvisionError when it would not fit EC2's 16 KB."""
    if any(line == BOOT_END for line in boot_source.splitlines()):
        raise ProvisionError(f"remote/boot.py contains a line {BOOT_END!r}, which would end its heredoc early")
    lines = ["#!/bin/bash"]
    if inputs.authorized_key:
        if "\n" in inputs.authorized_key:
            raise ValueError("an authorized key is one line")
        lines.append(AUTHORIZED_KEY_MARKER + inputs.authorized_key)
    lines.append(USER_MARKER + inputs.username)
    for name, value in inputs.markers().items():
        if not value or any(c.isspace() for c in value):
            raise ValueError(f"user-data marker {name} needs a value without spaces, not {value!r}")
        lines.append(f"# wb:{name} {value}")
    setup = _SETUP.format(shutdown=inputs.shutdown_minutes, user=shlex.quote(inputs.username))
    parts = ["\n".join(lines) + "\n", setup]
    if inputs.authorized_key:
        parts.append(_AUTHORIZE.format(key=shlex.quote(inputs.authorized_key)))
    parts.append(_VENV)
    body = boot_source if boot_source.endswith("\n") else boot_source + "\n"
    parts.append(f"{BOOT_START}\n{body}{BOOT_END}\n")
    parts.append(f'{VENV_PYTHON} /opt/wb/boot.py || echo "wb: boot.py failed with $?"\n')
    parts.append(_UNITS)
    script = "".join(parts)
    size = len(script.encode("utf-8"))
    if size > MAX_BYTES:
        raise ProvisionError(
            f"the instance user-data is {size} bytes; EC2 accepts at most {MAX_BYTES}",
            hint="remote/boot.py grew too large: keep it small (it only registers the host key)",
        )
    return script


def boot_source_in(user_data: str) -> str:
    """The boot program embedded in a rendered script (for the sandbox and tests)."""
    _, found, rest = user_data.partition(BOOT_START + "\n")
    if not found:
        raise ValueError("no boot program in this user-data")
    body, found, _ = rest.partition("\n" + BOOT_END + "\n")
    if not found:
        raise ValueError("the boot program's heredoc is not closed")
    return body + "\n"

"""The instance's user-data: a bash script cloud-init runs once per instance (docs/aws.md, "Boot"), sent
gzip-compressed (cloud-init unpacks gzip user-data by itself) so it fits EC2's 16 KB with room to grow.

Markers other tools rely on (the sandbox reads them instead of running cloud-init):
- line 1 `#!/bin/bash`; then `# wb:authorized-key <public key line>` (absent with a seed keyPair) and
  `# wb:user <login user>`;
- boot.py's inputs as `# wb:<name> <value>` lines right after those (`# wb:table T` is WB_TABLE for boot.py,
  which reads them from the user-data through IMDS, or from the file `WB_USER_DATA` names);
- the root setup (dead-man timer, login user, sudo grant, login key, venv) before the boot program: the
  sandbox runs exactly these lines, as root, in the host;
- the verbatim source of `remote/boot.py` between the lines `cat > /opt/wb/boot.py <<'WB_BOOT'` and `WB_BOOT`,
  then `/opt/wb/venv/bin/python /opt/wb/boot.py`.

Every step is safe to run again (a reboot with a rerun of user-data changes nothing).
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError, ProvisionError
from .userdata_power import deadman_setup, sudo_grant

MAX_BYTES = 16 * 1024  # EC2's limit on user-data before base64 (here: the gzip bytes)
GZIP_MAGIC = b"\x1f\x8b"
# useradd's default NAME_REGEX (Debian/Ubuntu adduser.conf allows this and a trailing $)
LOGIN_NAME = re.compile(r"^[a-z_][a-z0-9_-]*[$]?$")
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
    def deadman_boot_seconds(self) -> int:
        """The dead-man deadline armed at boot: the lease plus a minute, until the agent re-arms it."""
        return math.ceil(self.lease_minutes * 60.0) + 60


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


_START = """\
set -uo pipefail
echo "wb: user-data started $(date -u +%FT%TZ)"
"""

_USER = """\
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
    """The user-data script (text); ProvisionError when, packed, it would not fit EC2's 16 KB."""
    if any(line == BOOT_END for line in boot_source.splitlines()):
        raise ProvisionError(f"remote/boot.py contains a line {BOOT_END!r}, which would end its heredoc early")
    if not LOGIN_NAME.match(inputs.username):
        raise ConfigError(
            f"{inputs.username!r} is not a login name an instance can have",
            key="provisioner.os.username",
            hint="give the AMI's login user (e.g. ubuntu): lowercase letters, digits, '_' and '-', "
            "starting with a letter or '_'",
        )
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
    parts = ["\n".join(lines) + "\n", _START, deadman_setup(inputs.deadman_boot_seconds)]
    parts += [_USER.format(user=shlex.quote(inputs.username)), sudo_grant()]
    if inputs.authorized_key:
        parts.append(_AUTHORIZE.format(key=shlex.quote(inputs.authorized_key)))
    parts.append(_VENV)
    body = boot_source if boot_source.endswith("\n") else boot_source + "\n"
    parts.append(f"{BOOT_START}\n{body}{BOOT_END}\n")
    parts.append(f'{VENV_PYTHON} /opt/wb/boot.py || echo "wb: boot.py failed with $?"\n')
    parts.append(_UNITS)
    script = "".join(parts)
    size = len(pack(script))
    if size > MAX_BYTES:
        raise ProvisionError(
            f"the instance user-data is {size} bytes gzip-compressed; EC2 accepts at most {MAX_BYTES}",
            hint="remote/boot.py grew too large: keep it small (it only registers the host key)",
        )
    return script


def pack(script: str) -> bytes:
    """The bytes sent as UserData: gzip, which cloud-init unpacks before it runs the script. Deterministic
    (no timestamp), so a launch retried with the same ClientToken sends the same parameters."""
    return gzip.compress(script.encode("utf-8"), compresslevel=9, mtime=0)


def unpack(data: bytes | str) -> str:
    """The script in a UserData value as EC2 hands it back, base64 already undone (gzip or plain)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if raw[:2] == GZIP_MAGIC:
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def root_setup_in(user_data: str) -> str:
    """The lines before the boot program: what runs as root before boot.py (the sandbox runs exactly these)."""
    head, found, _ = user_data.partition("\n" + BOOT_START + "\n")
    if not found:
        raise ValueError("no boot program in this user-data")
    return head + "\n"


def boot_source_in(user_data: str) -> str:
    """The boot program embedded in a rendered script (for the sandbox and tests)."""
    _, found, rest = user_data.partition(BOOT_START + "\n")
    if not found:
        raise ValueError("no boot program in this user-data")
    body, found, _ = rest.partition("\n" + BOOT_END + "\n")
    if not found:
        raise ValueError("the boot program's heredoc is not closed")
    return body + "\n"

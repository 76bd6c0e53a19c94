"""The part of the user-data that keeps the machine's power in check, run as root before anything else
(docs/supervision.md, "The dead-man timer"):

- `/opt/wb/bin/wb-power`, the only root actions the agent has: `arm SECONDS` moves the dead-man deadline,
  `check` powers off once it has passed, `off [REASON]` powers off now;
- `wb-deadman.timer`, which runs `wb-power check` (wb-deadman.service) every 30 s from boot on, so a dead
  agent still powers off;
- `/etc/sudoers.d/wb`, checked by visudo first: the login user may run `wb-power`, without a password, and
  nothing else as root.

Why not `shutdown -h +N`: systemd-logind writes /run/nologin five minutes before a scheduled shutdown, then
pam_nologin refuses every login but root's, and rescheduling does not remove the file. A timer unit that
runs `systemctl poweroff` never touches logins.
"""

from __future__ import annotations

POWER_TOOL = "/opt/wb/bin/wb-power"
TIMER_UNIT = "wb-deadman.timer"
CHECK_EVERY_S = 30
SUDOERS_FILE = "/etc/sudoers.d/wb"

# POSIX sh (dash on Ubuntu). The deadline is in seconds of uptime, so a clock step cannot move it; it lives
# in /run, so a reboot starts from the boot default again. A power-off is never refused for its reason.
POWER_TOOL_SOURCE = """\
#!/bin/sh
# wb: the agent's only root powers (granted by /etc/sudoers.d/wb). Nothing here touches logins.
#   arm SECONDS   power off SECONDS from now unless armed again first (wb-deadman.timer checks every 30 s)
#   check         power off once that time has passed (no deadline yet, as after a reboot: arm the default)
#   off [REASON]  power off now
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
run=/run/wb-power
uptime_s() { read -r up _ < /proc/uptime; echo "${up%.*}"; }
arm() {
  case "$1" in ''|*[!0-9]*) echo "wb-power: arm takes whole seconds, not '$1'" >&2; exit 2 ;; esac
  mkdir -p "$run" && echo "$(( $(uptime_s) + $1 ))" > "$run/.deadline" && mv -f "$run/.deadline" "$run/deadline" \\
    || exit 1
  systemctl is-active --quiet @TIMER@ || systemctl start @TIMER@
}
off() { exec systemctl --message="wb: $(printf %s "$1" | tr -cd 'A-Za-z0-9._ -' | cut -c1-80)" poweroff; }
case "$#:${1:-}" in
  2:arm) arm "$2" ;;
  1:check)
    [ -f "$run/deadline" ] || arm @BOOT_SECONDS@
    read -r deadline < "$run/deadline"
    [ "$(uptime_s)" -lt "$deadline" ] 2>/dev/null || off "dead-man deadline passed" ;;
  1:off) off agent ;;
  2:off) off "$2" ;;
  *) echo "usage: wb-power arm SECONDS | check | off [REASON]" >&2; exit 2 ;;
esac
"""

SERVICE_UNIT = f"""\
[Unit]
Description=wb dead-man: power off once the agent has stopped re-arming its deadline

[Service]
Type=oneshot
ExecStart={POWER_TOOL} check
"""

TIMER_UNIT_SOURCE = f"""\
[Unit]
Description=wb dead-man check every {CHECK_EVERY_S} s

[Timer]
OnActiveSec={CHECK_EVERY_S}s
OnUnitActiveSec={CHECK_EVERY_S}s
AccuracySec=1s

[Install]
WantedBy=timers.target
"""

_DEADMAN = """\
install -d -m 755 /opt/wb /opt/wb/bin
cat > {tool} <<'WB_POWER'
{source}WB_POWER
chmod 755 {tool}
cat > /etc/systemd/system/wb-deadman.service <<'WB_UNIT'
{service}WB_UNIT
cat > /etc/systemd/system/{timer} <<'WB_UNIT'
{timer_source}WB_UNIT
systemctl daemon-reload
{tool} arm {boot_seconds} || echo "wb: could not arm the dead-man deadline"
systemctl enable --now {timer} || echo "wb: could not start {timer}"
"""

# After WB_USER is known. visudo checks the file (syntax, owner, mode) before it is put where sudo reads it;
# a name with a dot is skipped by sudo's includedir, so the check copy is never live.
_GRANT = """\
install -d -m 750 /etc/sudoers.d
printf '%s ALL=(root) NOPASSWD: {tool}\\n' "$WB_USER" > /etc/sudoers.d/.wb.new
chmod 440 /etc/sudoers.d/.wb.new
if command -v visudo >/dev/null && visudo -cqf /etc/sudoers.d/.wb.new; then
  mv -f /etc/sudoers.d/.wb.new {sudoers}
else
  rm -f /etc/sudoers.d/.wb.new; echo "wb: no valid sudo grant for $WB_USER: the agent cannot re-arm or power off"
fi
"""


def deadman_setup(boot_seconds: int) -> str:
    """The root setup that arms the dead-man timer, `boot_seconds` from now (first thing in the user-data)."""
    source = POWER_TOOL_SOURCE.replace("@TIMER@", TIMER_UNIT).replace("@BOOT_SECONDS@", str(int(boot_seconds)))
    return _DEADMAN.format(
        tool=POWER_TOOL, source=source, service=SERVICE_UNIT, timer=TIMER_UNIT, timer_source=TIMER_UNIT_SOURCE,
        boot_seconds=int(boot_seconds),
    )  # fmt: skip


def sudo_grant() -> str:
    """The login user's sudo grant (needs `WB_USER` set): exactly `wb-power`, no password."""
    return _GRANT.format(tool=POWER_TOOL, sudoers=SUDOERS_FILE)


def agent_arm_command() -> str:
    """What the agent runs to move the deadline (`{seconds}` is replaced); agent_env's default."""
    return f"sudo -n {POWER_TOOL} arm {{seconds}}"


def agent_poweroff_command() -> str:
    """What the agent runs to power off now (the reason comes from its environment); agent_env's default."""
    return f'sudo -n {POWER_TOOL} off "$WB_POWEROFF_REASON"'

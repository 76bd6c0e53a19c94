#!/opt/wb/venv/bin/python -I
"""The systemd a sandbox host has instead of a real one: `systemctl` and `shutdown`, installed in the host's
own /usr/local/sbin (ahead of /usr/bin on every PATH, sudo's secure_path included). Standalone, stdlib only:
the host manager copies this file into each host under both names.

It follows what systemd and logind do, as far as wb's user-data and agent use them, and refuses the rest:
- only root may change anything (as polkit answers an SSH session: "Interactive authentication required");
- `systemctl start X.timer` (or `enable --now`) records the timer with its service's ExecStart; the host
  manager then runs that command in the host as root, `OnActiveSec` after the start and every
  `OnUnitActiveSec` after, as systemd would; `stop`, `is-active`, `daemon-reload`, `enable` as usual;
- `systemctl [--message=M] poweroff` and `shutdown now` ask for the power-off at once;
- `shutdown -h +N` schedules it as logind does: /run/nologin is written five minutes before the deadline
  (at once when the deadline is closer), so pam_nologin refuses every login but root's from then on;
  scheduling again moves the deadline but leaves the file; `shutdown -c` cancels and removes the file only
  when logind wrote it (systemd's reset_scheduled_shutdown).

Requests go to /opt/wb/sandbox/run/ (`poweroff`, `shutdown.json`, `timers/<unit>.json`), where the host
manager, playing the hypervisor and PID 1, acts on them.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

RUN = "/opt/wb/sandbox/run"
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
NOLOGIN = "/run/nologin"
NOLOGIN_TEXT = (
    "System is going down. Unprivileged users are not permitted to log in anymore. "
    "For technical details, see pam_nologin(8).\n"
)
NOLOGIN_BEFORE_S = 300.0  # logind: "Issue /run/nologin five minutes before shutdown"
DENIED = "Interactive authentication required."
SPAN = re.compile(r"^\s*(\d+)\s*(s|sec|second|seconds|m|min|minute|minutes|h|hr|hour|hours)?\s*$")
SPAN_UNITS = {"": 1, "s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60,
              "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600}  # fmt: skip


class Refused(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def write_atomic(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise Refused(f"Failed to {what}: {DENIED}")


def request_poweroff(reason: str) -> None:
    write_atomic(os.path.join(RUN, "poweroff"), f"{time.time():.3f} {reason}\n")


# --- units -------------------------------------------------------------------------------------------


def unit_file(name: str) -> str | None:
    for folder in UNIT_DIRS:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def unit_settings(path: str) -> dict:
    """`Key=Value` lines of a unit file (the last one wins; sections are not told apart)."""
    found = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            key, has_value, value = line.strip().partition("=")
            if has_value and not key.startswith(("#", ";", "[")):
                found[key.strip()] = value.strip()
    return found


def span_seconds(text: str, where: str) -> float:
    match = SPAN.match(text)
    if not match:
        raise Refused(f"sandbox: cannot emulate the time span {text!r} ({where})")
    return float(match.group(1)) * SPAN_UNITS[match.group(2) or ""]


def timer_record(name: str) -> dict:
    path = unit_file(name)
    if path is None:
        raise Refused(f"Failed to start {name}: Unit {name} not found.", 5)
    timer = unit_settings(path)
    service = timer.get("Unit") or name[: -len(".timer")] + ".service"
    service_path = unit_file(service)
    if service_path is None:
        raise Refused(f"Failed to start {name}: Unit {service} not found.", 5)
    exec_start = unit_settings(service_path).get("ExecStart", "")
    if not exec_start.startswith("/"):
        raise Refused(f"sandbox: {service} needs an absolute ExecStart, not {exec_start!r}")
    if "OnActiveSec" not in timer and "OnUnitActiveSec" not in timer:
        raise Refused(f"sandbox: {name}: only OnActiveSec= and OnUnitActiveSec= timers are emulated")
    return {
        "unit": name,
        "service": service,
        "exec_start": exec_start,
        "activated_at": time.time(),
        "on_active_s": span_seconds(timer["OnActiveSec"], f"{name} OnActiveSec") if "OnActiveSec" in timer else None,
        "on_unit_active_s": (
            span_seconds(timer["OnUnitActiveSec"], f"{name} OnUnitActiveSec") if "OnUnitActiveSec" in timer else None
        ),
    }


def timer_path(name: str) -> str:
    return os.path.join(RUN, "timers", name + ".json")


def start(names: list) -> None:
    for name in names:
        need_root(f"start {name}")
        if not name.endswith(".timer"):
            raise Refused(f"sandbox: systemctl start {name}: only timer units are emulated")
        if not os.path.exists(timer_path(name)):  # starting an active unit changes nothing
            write_atomic(timer_path(name), json.dumps(timer_record(name)))


def systemctl(args: list) -> int:
    message = None
    quiet = now = False
    words = []
    for arg in args:
        if arg.startswith("--message="):
            message = arg[len("--message=") :]
        elif arg in ("-q", "--quiet"):
            quiet = True
        elif arg == "--now":
            now = True
        elif arg in ("--no-block", "--no-wall", "--no-pager"):
            pass
        elif arg.startswith("-"):
            raise Refused(f"sandbox: systemctl {arg} is not emulated")
        else:
            words.append(arg)
    verb, names = (words[0], words[1:]) if words else ("", [])
    if verb == "daemon-reload":
        need_root("reload daemon")
    elif verb == "enable":
        for name in names:
            need_root(f"enable unit {name}")
            if unit_file(name) is None:
                raise Refused(f"Failed to enable unit: Unit file {name} does not exist.")
        if now:
            start(names)
    elif verb == "start":
        start(names)
    elif verb == "stop":
        for name in names:
            need_root(f"stop {name}")
            if os.path.exists(timer_path(name)):
                os.unlink(timer_path(name))
    elif verb == "is-active":
        active = bool(names) and all(os.path.exists(timer_path(name)) for name in names)
        if not quiet:
            print("\n".join("active" if os.path.exists(timer_path(n)) else "inactive" for n in names))
        return 0 if active else 3
    elif verb == "poweroff":
        if os.geteuid() != 0:
            raise Refused(f"Call to PowerOff failed: {DENIED}")
        request_poweroff(message or "systemctl poweroff")
    else:
        raise Refused(f"sandbox: systemctl {verb or '(no verb)'} is not emulated")
    return 0


# --- logind's scheduled shutdown ------------------------------------------------------------------------


def schedule_path() -> str:
    return os.path.join(RUN, "shutdown.json")


def logind_nologin_marker() -> str:
    return os.path.join(RUN, "nologin-by-logind")


def create_nologin() -> None:
    """What logind's nologin timer does (the host manager calls the same when the time comes)."""
    write_atomic(NOLOGIN, NOLOGIN_TEXT)
    write_atomic(logind_nologin_marker(), f"{time.time():.3f}\n")


def cancel() -> None:
    if os.path.exists(schedule_path()):
        os.unlink(schedule_path())
    if os.path.exists(logind_nologin_marker()):  # only the file logind wrote itself
        os.unlink(logind_nologin_marker())
        if os.path.exists(NOLOGIN):
            os.unlink(NOLOGIN)


def when(spec: str, now: float) -> float:
    if spec == "now":
        return now
    if spec.startswith("+") and spec[1:].isdigit():  # systemd reads whole minutes only
        return now + int(spec[1:]) * 60
    match = re.match(r"^(\d{1,2}):(\d{2})$", spec)
    if match:
        local = time.localtime(now)
        at = time.mktime((*local[:3], int(match.group(1)), int(match.group(2)), 0, 0, 0, -1))
        return at if at > now else at + 86400
    raise Refused(f"Failed to parse time specification: {spec}")


def shutdown(args: list) -> int:
    spec = None
    for arg in args:
        if arg == "-c":
            need_root("cancel the scheduled shutdown")
            cancel()
            return 0
        if arg in ("-r", "--reboot"):
            raise Refused("sandbox: shutdown --reboot is not emulated")
        if arg == "-k":
            return 0  # the wall message only
        if arg.startswith("-"):
            continue  # -h -P -H --poweroff --halt --no-wall -k: all a power-off here
        if spec is None:
            spec = arg  # the rest is the wall message
    now = time.time()
    deadline = when(spec or "+1", now)
    need_root("schedule shutdown")
    if deadline <= now:
        request_poweroff("shutdown now")
        return 0
    nologin_at = deadline - NOLOGIN_BEFORE_S
    write_atomic(schedule_path(), json.dumps({"deadline": deadline, "nologin_at": nologin_at}))
    if nologin_at <= now:
        create_nologin()
    print(f"Shutdown scheduled for {time.ctime(deadline)}, use 'shutdown -c' to cancel.", file=sys.stderr)
    return 0


def main(argv: list) -> int:
    name = os.path.basename(argv[0])
    try:
        if name == "shutdown":
            return shutdown(argv[1:])
        return systemctl(argv[1:])
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main(sys.argv))

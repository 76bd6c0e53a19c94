"""What to keep before the stack goes, for a report of a failed run: the reaper's CloudWatch Logs (its log
group is deleted with the stack) and each machine's console output (cloud-init's boot log: a user-data that
failed shows there; EC2 keeps it for an hour after the machine ends)."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

MAX_EVENTS = 5000


def save_reaper_logs(logs: Any, group: str, since_ms: int, path: Path) -> int:
    """The log group's events since `since_ms`, one message per line; how many were written."""
    count = 0
    with path.open("w") as out:
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=since_ms):
            for event in page.get("events", []):
                out.write(event.get("message", "").rstrip("\n") + "\n")
                count += 1
                if count >= MAX_EVENTS:
                    return count
    return count


def save_console_output(ec2: Any, instance_id: str, path: Path) -> bool:
    """The instance's console output (GetConsoleOutput answers it base64-encoded); False when EC2 has none."""
    raw = ec2.get_console_output(InstanceId=instance_id).get("Output") or ""
    if not raw:
        return False
    try:
        text = base64.b64decode(raw, validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        text = raw
    path.write_text(text)
    return True

"""`gang-probe [--ports N] [--host-key]`: what the client needs from each machine before it starts a gang's ranks.

Prints one JSON object on stdout: `gpus`, the number of GPUs `nvidia-smi -L` lists (0 without the tool or
a GPU), and `ports`, N distinct TCP ports free on this machine right now (bound on all addresses, then
released: the client gives them to the job as MASTER_PORT and to the gang link, which binds its own at once).
With --host-key, also `host_key`: this machine's sshd ed25519 host key (HOST_KEY, `TYPE BASE64`), or null
when it has none; the client pins it in rank 0's known_hosts for the gang's own ssh (`--gang-ssh`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess

from ..agent_io import UsageError, operands, usage_error

MAX_PORTS = 8
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"


def gpu_count() -> int:
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return 0
    if listed.returncode != 0:
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith(b"GPU "))


def free_ports(count: int) -> list:
    held = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def host_key() -> str | None:
    try:
        with open(HOST_KEY) as found:
            words = found.read().split()
    except OSError:
        return None
    return " ".join(words[:2]) if len(words) >= 2 and words[0] == "ssh-ed25519" else None


def main(argv: list) -> int:
    try:
        options, _ = operands(argv, (), flags=("host-key",), valued=("ports",))
        text = options.get("ports", "0")
        if not text.isdigit() or int(text) > MAX_PORTS:
            raise UsageError(f"--ports wants 0 to {MAX_PORTS}, got {text!r}")
    except UsageError as exc:
        return usage_error("gang-probe", exc, "gang-probe [--ports N] [--host-key]")
    report = {"gpus": gpu_count(), "ports": free_ports(int(text))}
    if "host-key" in options:
        report["host_key"] = host_key()
    os.write(1, (json.dumps(report) + "\n").encode("ascii"))
    return 0

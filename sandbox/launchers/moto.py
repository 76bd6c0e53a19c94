"""The sandbox's AWS: a moto server on 127.0.0.1, addressed as `http://localhost:PORT` (moto reads S3 bucket
names from the host part, so 127.0.0.1 would break CloudFormation's template URLs). It runs moto's own server
through `moto_server.py`, which first applies the sandbox's fixes where moto answers otherwise than AWS."""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from .errors import SandboxError

READY_TIMEOUT_S = 60.0
SERVER_MODULE = "weatherballoon.cli.sandbox.moto_server"  # also how cleanup recognises a leftover moto
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the daemon dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start(port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=_die_with_parent,
        )
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SandboxError(f"the moto server exited ({proc.returncode})", hint=f"see {log}") from None
            if time.monotonic() > deadline:
                proc.kill()
                raise SandboxError(f"the moto server on port {port} did not start", hint=f"see {log}") from None
            time.sleep(0.05)


def publish_powertools_layer(lambda_client: Any, template: dict[str, Any]) -> str | None:
    """Publish the public Powertools layer the template names, up to the version it names, as AWS has it
    (moto checks that a function's layers exist). Returns the layer name, or None when the template names
    none. The layer's content does not matter: moto never runs the function; the sandbox runs the handler."""
    layers = json.dumps(template["Resources"]["ReaperFunction"]["Properties"].get("Layers", ""))
    found = re.search(r"layer:([A-Za-z0-9_-]+):\$\{PowertoolsLayerVersion\}", layers)
    if not found:
        return None
    version = int(template["Parameters"]["PowertoolsLayerVersion"]["Default"])
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as archive:
        archive.writestr("python/aws_lambda_powertools/__init__.py", "")
    name = found.group(1)
    have = len(lambda_client.list_layer_versions(LayerName=name).get("LayerVersions", []))
    for _ in range(have, version):
        lambda_client.publish_layer_version(LayerName=name, Content={"ZipFile": content.getvalue()})
    return name

"""The sandbox's moto server process: moto's own server, with the few fixes that make it answer as EC2 does
where wb depends on the answer. They apply in this process only (the sandbox's emulator); nothing else that
imports moto sees them.

    python -m weatherballoon.sandbox.launchers.moto_server -H 127.0.0.1 -p PORT

Fixes:

- **TerminateInstances on an instance already terminated.** EC2 answers with its state (previous and current
  both `terminated`) and does nothing. moto (5.2.1) terminates it again, deletes its network interface again
  and fails the whole call with InvalidNetworkInterfaceID.NotFound, so a reaper batch holding an instance
  that its agent has just powered off would fail whole.
- **DynamoDB requests are atomic.** DynamoDB evaluates a conditional write and applies it as one step, so of
  two claims racing for one row exactly one wins. moto serves requests on threads and checks a condition
  before it writes with nothing between them, so under load two racing claims could both win. Each DynamoDB
  request is served under one lock.

Additions, for EC2 Instance Connect (`sandbox/eice/`):

- **SendSSHPublicKey reaches the host.** moto answers success and forgets the key. Here the key is also
  written, with the time it was pushed, to `$WB_SANDBOX_PUSHED_KEYS/<instance id>/<os user>`, where the
  host's sshd (`AuthorizedKeysCommand`, `sandbox/eice/authorized_keys.py`) takes it for 60 s.
- **DescribeInstanceConnectEndpoints** (moto has no such call) answers with the endpoints listed in the JSON
  file `$WB_SANDBOX_ENDPOINTS` (`[{"id": ..., "dns": ..., "vpc": ..., "subnet": ..., "groups": [...]}]`).

- **Access keys are known to the endpoint.** The sandbox's Instance Connect Endpoint checks each tunnel's
  SigV4 signature, so it needs the secret of every access key moto hands out (members are IAM users made in
  moto): each new key is appended to `$WB_SANDBOX_ACCESS_KEYS` (`<id> <secret>` lines).

A fix whose moto internals are missing (another moto version) is skipped with a line in moto.log; the server
then runs as moto ships it.
"""

from __future__ import annotations

import copy
import functools
import sys
from typing import Any

TERMINATED = "terminated"
TERMINATED_CODE = 48


def _terminated(state: Any) -> bool:
    return getattr(state, "name", None) == TERMINATED


def patch_terminate_instances() -> bool:
    """Instances already terminated are answered with their state and never terminated again. Returns False
    when this moto lacks what the fix wraps."""
    try:
        from moto.ec2.models.instances import InstanceBackend
        from moto.ec2.responses.instances import InstanceResponse
    except ImportError:
        return False
    backend_terminate = getattr(InstanceBackend, "terminate_instances", None)
    response_terminate = getattr(InstanceResponse, "terminate_instances", None)
    if backend_terminate is None or response_terminate is None:
        return False
    if getattr(backend_terminate, "wb_sandbox_fix", False):
        return True

    @functools.wraps(backend_terminate)
    def terminate_instances(self: Any, instance_ids: list[str]) -> list[tuple[Any, Any]]:
        if not instance_ids:
            return list(backend_terminate(self, instance_ids))  # moto's own "No instances specified"
        instances = self.get_multi_instances_by_id(instance_ids)  # unknown ids fail here, as in EC2
        answers = {i.id: (i, copy.copy(i._state)) for i in instances if _terminated(i._state)}
        live = [i.id for i in instances if i.id not in answers]
        if live:
            answers.update((instance.id, (instance, previous)) for instance, previous in backend_terminate(self, live))
        return [answers[i.id] for i in instances if i.id in answers]

    @functools.wraps(response_terminate)
    def terminate_response(self: Any) -> Any:
        answer = response_terminate(self)
        result = getattr(answer, "result", None)
        for entry in result.get("TerminatingInstances", []) if isinstance(result, dict) else []:
            if _terminated(entry.get("PreviousState")):  # it was terminated already: it stays so
                entry["CurrentState"] = {"Code": TERMINATED_CODE, "Name": TERMINATED}
        return answer

    terminate_instances.wb_sandbox_fix = True  # type: ignore[attr-defined]
    InstanceBackend.terminate_instances = terminate_instances  # type: ignore[method-assign]
    InstanceResponse.terminate_instances = terminate_response  # type: ignore[method-assign]
    return True


def patch_dynamodb_atomic() -> bool:
    """One DynamoDB request at a time; False when this moto lacks DynamoHandler.call_action."""
    import threading

    try:
        from moto.dynamodb.responses import DynamoHandler
    except ImportError:
        return False
    call_action = getattr(DynamoHandler, "call_action", None)
    if call_action is None:
        return False
    if getattr(call_action, "wb_sandbox_fix", False):
        return True
    lock = threading.Lock()

    @functools.wraps(call_action)
    def atomic_call_action(self: Any) -> Any:
        with lock:
            return call_action(self)

    atomic_call_action.wb_sandbox_fix = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = atomic_call_action  # type: ignore[method-assign]
    return True


def add_pushed_keys() -> bool:
    """SendSSHPublicKey also stores the key where the host's AuthorizedKeysCommand finds it."""
    import json
    import os
    import time
    from pathlib import Path

    try:
        from moto.ec2instanceconnect.responses import Ec2InstanceConnectResponse
    except ImportError:
        return False
    answer = getattr(Ec2InstanceConnectResponse, "send_ssh_public_key", None)
    if answer is None:
        return False
    if getattr(answer, "wb_sandbox_fix", False):
        return True

    @functools.wraps(answer)
    def send_ssh_public_key(self: Any) -> str:
        folder = os.environ.get("WB_SANDBOX_PUSHED_KEYS")
        request = json.loads(self.body or "{}")
        instance, user = str(request.get("InstanceId", "")), str(request.get("InstanceOSUser", ""))
        key = str(request.get("SSHPublicKey", "")).strip()
        if folder and instance.startswith("i-") and user and "/" not in instance + user and "\n" not in key:
            where = Path(folder) / instance
            where.mkdir(parents=True, exist_ok=True)
            with open(where / user, "a") as out:
                out.write(f"{time.time():.3f} {key}\n")
        return str(answer(self))

    send_ssh_public_key.wb_sandbox_fix = True  # type: ignore[attr-defined]
    Ec2InstanceConnectResponse.send_ssh_public_key = send_ssh_public_key  # type: ignore[method-assign]
    return True


def add_describe_endpoints() -> bool:
    """EC2's DescribeInstanceConnectEndpoints, from the sandbox's list of endpoints."""
    import json
    import os
    from xml.sax.saxutils import escape

    try:
        from moto.ec2.responses import EC2Response
    except ImportError:
        return False
    if hasattr(EC2Response, "describe_instance_connect_endpoints"):
        return True

    def describe_instance_connect_endpoints(self: Any) -> str:
        wanted = set(self._get_param("InstanceConnectEndpointIds", []) or [])
        wanted |= {v[0] for k, v in self.querystring.items() if k.startswith("InstanceConnectEndpointId.")}
        listed = []
        path = os.environ.get("WB_SANDBOX_ENDPOINTS")
        if path and os.path.exists(path):
            with open(path) as source:
                listed = json.load(source)
        items = []
        for endpoint in listed:
            if wanted and endpoint["id"] not in wanted:
                continue
            groups = "".join(f"<item>{escape(g)}</item>" for g in endpoint.get("groups", []))
            items.append(
                f"<item><instanceConnectEndpointId>{escape(endpoint['id'])}</instanceConnectEndpointId>"
                f"<state>create-complete</state><dnsName>{escape(endpoint['dns'])}</dnsName>"
                f"<vpcId>{escape(endpoint.get('vpc', ''))}</vpcId><subnetId>{escape(endpoint.get('subnet', ''))}"
                f"</subnetId><preserveClientIp>false</preserveClientIp><securityGroupIdSet>{groups}"
                "</securityGroupIdSet></item>"
            )
        return (
            '<DescribeInstanceConnectEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            "<requestId>wb-sandbox</requestId><instanceConnectEndpointSet>"
            + "".join(items)
            + "</instanceConnectEndpointSet></DescribeInstanceConnectEndpointsResponse>"
        )

    EC2Response.describe_instance_connect_endpoints = describe_instance_connect_endpoints  # type: ignore[attr-defined]
    return True


def add_access_key_record() -> bool:
    """Each access key IAM creates is also written where the sandbox's endpoint reads secrets from."""
    import os

    try:
        from moto.iam.models import IAMBackend
    except ImportError:
        return False
    create = getattr(IAMBackend, "create_access_key", None)
    if create is None:
        return False
    if getattr(create, "wb_sandbox_fix", False):
        return True

    @functools.wraps(create)
    def create_access_key(self: Any, *args: Any, **kwargs: Any) -> Any:
        key = create(self, *args, **kwargs)
        path = os.environ.get("WB_SANDBOX_ACCESS_KEYS")
        if path:
            with open(path, "a") as out:
                out.write(f"{key.access_key_id} {key.secret_access_key}\n")
        return key

    create_access_key.wb_sandbox_fix = True  # type: ignore[attr-defined]
    IAMBackend.create_access_key = create_access_key  # type: ignore[method-assign]
    return True


FIXES = {
    "TerminateInstances on an instance already terminated": patch_terminate_instances,
    "DynamoDB requests are atomic": patch_dynamodb_atomic,
    "SendSSHPublicKey reaches the host": add_pushed_keys,
    "DescribeInstanceConnectEndpoints": add_describe_endpoints,
    "access keys are known to the endpoint": add_access_key_record,
}


def apply_fixes() -> list[str]:
    """Apply every fix; returns the names of those this moto could not take."""
    return [name for name, fix in FIXES.items() if not fix()]


def main(argv: list[str] | None = None) -> None:
    for name in apply_fixes():
        print(f"wb sandbox: moto fix not applied (this moto lacks what it wraps): {name}", file=sys.stderr)
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()

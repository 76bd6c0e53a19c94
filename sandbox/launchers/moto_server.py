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

- **Placement groups.** moto (5.2.1) does not implement CreatePlacementGroup, DescribePlacementGroups or
  DeletePlacementGroup, which a gang on a type that supports cluster placement needs (`wb run --nodes`). They
  are served here as EC2 documents them: a name unique in the region (InvalidPlacementGroup.Duplicate), a
  strategy of cluster, spread or partition, tags given at creation, describe by name or tag filter, delete of
  an unknown name failing with InvalidPlacementGroup.Unknown, and of a group that still holds a pending or
  running instance with InvalidPlacementGroup.InUse; RunInstances into an unknown group fails with
  InvalidPlacementGroup.Unknown.
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


PLACEMENT_STRATEGIES = ("cluster", "spread", "partition")
LIVE_STATES = ("pending", "running")


def patch_placement_groups() -> bool:
    """Placement groups kept per account and region in this process; False when this moto lacks the hooks."""
    import itertools
    import threading

    try:
        from moto.core.responses import ActionResult
        from moto.ec2.exceptions import EC2ClientError
        from moto.ec2.responses import EC2Response
        from moto.ec2.responses.instances import InstanceResponse
    except ImportError:
        return False
    run_instances = getattr(InstanceResponse, "run_instances", None)
    if run_instances is None:
        return False
    if getattr(run_instances, "wb_sandbox_fix", False):
        return True
    lock = threading.Lock()
    groups: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    members: dict[tuple[str, str, str], list[str]] = {}  # (account, region, group) -> instance ids
    ids = itertools.count(1)

    def scope(self: Any) -> tuple[str, str]:
        return self.current_account, self.region

    def unknown(name: str) -> Exception:
        return EC2ClientError("InvalidPlacementGroup.Unknown", f"The Placement Group '{name}' is unknown.")

    def create_placement_group(self: Any) -> Any:
        name, strategy = self._get_param("GroupName"), self._get_param("Strategy")
        if strategy not in PLACEMENT_STRATEGIES:
            raise EC2ClientError("InvalidParameterValue", f"Value ({strategy}) for parameter strategy is invalid.")
        tags = self._parse_tag_specification("placement-group").get("placement-group", {})
        with lock:
            known = groups.setdefault(scope(self), {})
            if name in known:
                raise EC2ClientError("InvalidPlacementGroup.Duplicate", f"The Placement Group '{name}' already exists.")
            known[name] = {
                "GroupName": name, "State": "available", "Strategy": strategy, "GroupId": f"pg-{next(ids):017x}",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }  # fmt: skip
            return ActionResult({"PlacementGroup": dict(known[name])})

    def describe_placement_groups(self: Any) -> Any:
        names = self._get_param("GroupNames", []) or []
        filters = self._filters_from_querystring()
        with lock:
            known = groups.get(scope(self), {})
            for name in names:
                if name not in known:
                    raise unknown(name)
            found = [dict(g) for n, g in known.items() if not names or n in names]
        for key, values in (filters or {}).items():
            if key.startswith("tag:"):
                tag = key[4:]
                found = [g for g in found if any(t["Key"] == tag and t["Value"] in values for t in g["Tags"])]
            elif key == "tag-key":
                found = [g for g in found if any(t["Key"] in values for t in g["Tags"])]
            elif key in ("group-name", "strategy", "state"):
                field = {"group-name": "GroupName", "strategy": "Strategy", "state": "State"}[key]
                found = [g for g in found if g[field] in values]
            else:
                raise EC2ClientError("InvalidParameterValue", f"The filter '{key}' is invalid")
        return ActionResult({"PlacementGroups": found})

    def delete_placement_group(self: Any) -> Any:
        name = self._get_param("GroupName")
        account, region = scope(self)
        with lock:
            known = groups.get((account, region), {})
            if name not in known:
                raise unknown(name)
            held = members.get((account, region, name), [])
        backend = self.ec2_backend
        live = [i for i in held if _state_of(backend, i) in LIVE_STATES]
        if live:
            raise EC2ClientError("InvalidPlacementGroup.InUse", f"The Placement Group '{name}' is in use.")
        with lock:
            known.pop(name, None)
            members.pop((account, region, name), None)
        return ActionResult({})

    @functools.wraps(run_instances)
    def run_into_group(self: Any) -> Any:
        name = self._get_param("Placement.GroupName")
        if name:
            with lock:
                if name not in groups.get(scope(self), {}):
                    raise unknown(name)
        answer = run_instances(self)
        if name:
            reservation = getattr(answer, "result", None)
            launched = getattr(reservation, "instances", None) or []
            with lock:
                members.setdefault((*scope(self), name), []).extend(i.id for i in launched)
        return answer

    run_into_group.wb_sandbox_fix = True  # type: ignore[attr-defined]
    InstanceResponse.run_instances = run_into_group  # type: ignore[method-assign]
    EC2Response.create_placement_group = create_placement_group  # type: ignore[attr-defined]
    EC2Response.describe_placement_groups = describe_placement_groups  # type: ignore[attr-defined]
    EC2Response.delete_placement_group = delete_placement_group  # type: ignore[attr-defined]
    return True


def _state_of(backend: Any, instance_id: str) -> str | None:
    try:
        return str(backend.get_instance(instance_id)._state.name)
    except Exception:  # gone from moto altogether
        return None


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
    "Placement groups": patch_placement_groups,
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

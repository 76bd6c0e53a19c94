"""The instance's boot program: run as root by user-data (`/opt/wb/venv/bin/python /opt/wb/boot.py`).

It ships verbatim inside user-data, so it is one self-contained file: python >= 3.8, stdlib and boto3, no
import of the agent bundle. (The agent imports it for `Imds` and `fingerprint`; tests prove its key
builders equal `lambdas.schema`'s and its fingerprint equals `cli/session/hostkeys.fingerprint`.)

1. Settings: each from the environment, else from a `# wb:<name> <value>` line of the user-data (read from
   IMDS, or from the file `WB_USER_DATA` names; gzip-compressed or plain): `# wb:table T` is WB_TABLE,
   `# wb:lease-minutes 5` is WB_LEASE_MINUTES, `# wb:user ubuntu` is WB_USER. Needed: WB_TABLE; WB_BUCKET.
2. Identity: instance id, region and account from IMDSv2 (2 s timeout), unless WB_INSTANCE_ID, WB_REGION
   and WB_ACCOUNT are all set (the sandbox, which then uses no IMDS at all). Owner: WB_OWNER, else the
   instance tag wb:owner (IMDS instance tags, else ec2:DescribeTags).
3. Writes `~WB_USER/.weatherballoon/agent.env` (or `$WB_AGENT_HOME/agent.env`), 0600, owned by WB_USER:
   the keys in docs/supervision.md, then the KEY=VALUE lines of WB_AGENT_ENV_EXTRA (which win).
4. Writes the SHA256 fingerprint of the ed25519 host key (WB_HOST_KEY_PUB, else
   /etc/ssh/ssh_host_ed25519_key.pub) into the instance row, only if the row exists; the client writes the
   row right after launch, so this waits for it up to WB_BOOT_WAIT_S (default 300) seconds.

Idempotent: run again, it writes the same file and the same attribute. Exit 0, or 1 with a `wb-boot:` line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IMDS_ENDPOINT = "http://169.254.169.254"
IMDS_TIMEOUT_S = 2.0
DEFAULT_HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
DEFAULT_WAIT_S = 300.0
OWNER_TAG = "wb:owner"
# Copied into agent.env when set (environment or user-data marker); docs/supervision.md lists their meaning.
PASSED_ON = (
    "WB_BUCKET", "WB_LEASE_MINUTES", "WB_IDLE_MINUTES", "WB_MAX_HOURS", "WB_POWEROFF_COMMAND",
    "WB_ARM_SHUTDOWN_COMMAND", "WB_RENEW_SECONDS", "WB_PUSH_DEADLINE_S", "AWS_ENDPOINT_URL",
)  # fmt: skip


class BootError(Exception):
    pass


class Imds:
    """IMDSv2: a session token (PUT), then GETs carrying it. No proxies: 169.254.169.254 is link-local."""

    def __init__(self, endpoint: str | None = None, timeout: float = IMDS_TIMEOUT_S) -> None:
        base = endpoint or os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or IMDS_ENDPOINT
        self.base = base.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._token = ""
        self._token_until = 0.0

    def _open(self, request: urllib.request.Request) -> bytes:
        with self._opener.open(request, timeout=self.timeout) as response:
            return bytes(response.read())

    def token(self) -> str:
        if time.monotonic() >= self._token_until:
            request = urllib.request.Request(
                self.base + "/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"}
            )
            self._token = self._open(request).decode("ascii")
            self._token_until = time.monotonic() + 21000
        return self._token

    def get(self, path: str) -> str | None:
        """The value at `/latest/<path>`, None when IMDS says 404; OSError when IMDS cannot be reached."""
        data = self.get_bytes(path)
        return None if data is None else data.decode("utf-8")

    def get_bytes(self, path: str) -> bytes | None:
        headers = {"X-aws-ec2-metadata-token": self.token()}
        request = urllib.request.Request(self.base + "/latest/" + path, headers=headers)
        try:
            return self._open(request)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise


def user_data_text(data: bytes) -> str:
    """The user-data script: wb sends it gzip-compressed (cloud-init unpacks it; IMDS hands back the bytes)."""
    if data[:2] == b"\x1f\x8b":
        import gzip

        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def fingerprint(public_key_line: str) -> str:
    """`SHA256:<unpadded base64>` of the key blob of an OpenSSH public key line (what `ssh-keygen -l` shows)."""
    parts = public_key_line.split()
    if len(parts) < 2:
        raise BootError(f"not an OpenSSH public key line: {public_key_line[:40]!r}")
    blob = base64.b64decode(parts[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def instance_arn(region: str, account: str, instance_id: str, partition: str = "aws") -> str:
    """As `lambdas.schema.instance_arn` (a test holds them equal)."""
    return f"arn:{partition}:ec2:{region}:{account}:instance/{instance_id}"


def instance_pk(owner: str, arn: str) -> str:
    """As `lambdas.schema.instance_pk` (a test holds them equal)."""
    if not owner or "#" in owner:
        raise BootError(f"owner {owner!r} is empty or holds '#'")
    return f"OWNER#{owner}#INSTANCE#{arn}"


def markers(user_data: str) -> dict:
    """`# wb:<name> <value>` lines -> {"WB_<NAME>": value}; `-` in a name becomes `_`."""
    found = {}
    for line in user_data.splitlines():
        if line.startswith("# wb:"):
            name, _, value = line[len("# wb:") :].partition(" ")
            if name and value.strip():
                found["WB_" + name.strip().upper().replace("-", "_")] = value.strip()
    return found


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class Boot:
    """One run of the boot program over an environment (tests and the sandbox pass their own)."""

    def __init__(self, environ: dict, imds: Imds | None = None) -> None:
        self.environ = environ
        overridden = all(environ.get(k) for k in ("WB_INSTANCE_ID", "WB_REGION", "WB_ACCOUNT"))
        self.imds = None if overridden else (imds or Imds(environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")))
        self.settings = self._settings()

    def _settings(self) -> dict:
        settings = {}
        path = self.environ.get("WB_USER_DATA")
        if path:
            with open(path, "rb") as handle:
                settings.update(markers(user_data_text(handle.read())))
        elif self.imds is not None:
            settings.update(markers(user_data_text(self.imds.get_bytes("user-data") or b"")))
        settings.update({k: v for k, v in self.environ.items() if v and (k.startswith("WB_") or k.startswith("AWS_"))})
        return settings

    def identity(self) -> tuple:
        """(instance id, region, account)."""
        if self.imds is None:
            return self.settings["WB_INSTANCE_ID"], self.settings["WB_REGION"], self.settings["WB_ACCOUNT"]
        document = json.loads(self.imds.get("dynamic/instance-identity/document") or "{}")
        return document["instanceId"], document["region"], document["accountId"]

    def owner(self, instance_id: str, region: str) -> str:
        if self.settings.get("WB_OWNER"):
            return self.settings["WB_OWNER"]
        if self.imds is not None:
            tagged = self.imds.get("meta-data/tags/instance/" + OWNER_TAG)
            if tagged:
                return tagged.strip()
        filters = [{"Name": "resource-id", "Values": [instance_id]}, {"Name": "key", "Values": [OWNER_TAG]}]
        try:
            tags = self.client("ec2", region).describe_tags(Filters=filters).get("Tags", [])
        except Exception as exc:  # botocore's errors (boto3 is imported lazily): say which call failed
            raise BootError(f"cannot read the {OWNER_TAG} tag of {instance_id} (ec2:DescribeTags): {exc}") from exc
        for tag in tags:
            return str(tag["Value"])
        raise BootError(f"instance {instance_id} has no {OWNER_TAG} tag (and WB_OWNER is not set)")

    def client(self, service: str, region: str) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=2, read_timeout=5)
        endpoint = self.settings.get("AWS_ENDPOINT_URL") or None
        session = boto3.session.Session()
        return session.client(service, region_name=region, endpoint_url=endpoint, config=config)  # type: ignore[call-overload]

    def agent_env_path(self) -> tuple:
        """(path of agent.env, login user or None)."""
        user = self.settings.get("WB_USER")
        home = self.environ.get("WB_AGENT_HOME")
        if not home:
            home = os.path.join(os.path.expanduser("~" + user if user else "~"), ".weatherballoon")
        return os.path.join(home, "agent.env"), user

    def agent_env(self, instance_id: str, region: str, account: str, owner: str) -> dict:
        if not self.settings.get("WB_TABLE"):
            raise BootError("WB_TABLE is not set (environment or a `# wb:table` user-data line)")
        arn = instance_arn(region, account, instance_id, partition_of(region))
        values = {
            "WB_INSTANCE_ID": instance_id,
            "WB_INSTANCE_ARN": arn,
            "WB_ROW_PK": instance_pk(owner, arn),
            "WB_TABLE": self.settings["WB_TABLE"],
            "WB_REGION": region,
            "WB_S3_PREFIX": f"{owner}/{arn}/",
        }
        values.update({key: self.settings[key] for key in PASSED_ON if self.settings.get(key)})
        for line in self.environ.get("WB_AGENT_ENV_EXTRA", "").splitlines():
            key, has_value, value = line.strip().partition("=")
            if has_value and key and not key.startswith("#"):
                values[key.strip()] = value.strip()
        return values

    def set_fingerprint(self, table: str, region: str, pk: str, value: str, wait_s: float) -> None:
        """SET host_key_fingerprint on the row, only if the row exists (waits for the client to write it)."""
        client = self.client("dynamodb", region)
        deadline = time.monotonic() + wait_s
        delay = 0.5
        while True:
            try:
                client.update_item(
                    TableName=table,
                    Key={"pk": {"S": pk}, "sk": {"S": "META"}},
                    UpdateExpression="SET host_key_fingerprint = :fp",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":fp": {"S": value}},
                )
                return
            except Exception as exc:  # the row not written yet, or the network or role not ready yet: wait
                code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                if time.monotonic() + delay > deadline:
                    why = "the row does not exist" if code == "ConditionalCheckFailedException" else code or exc
                    raise BootError(f"cannot write the host key fingerprint into {pk}: {why}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def run(self) -> dict:
        instance_id, region, account = self.identity()
        owner = self.owner(instance_id, region)
        values = self.agent_env(instance_id, region, account, owner)
        path, user = self.agent_env_path()
        write_private(path, render(values), user)
        with open(self.settings.get("WB_HOST_KEY_PUB") or DEFAULT_HOST_KEY, encoding="ascii") as handle:
            value = fingerprint(handle.read())
        wait_s = float(self.settings.get("WB_BOOT_WAIT_S") or DEFAULT_WAIT_S)
        self.set_fingerprint(values["WB_TABLE"], region, values["WB_ROW_PK"], value, wait_s)
        return {"agent_env": path, "row": values["WB_ROW_PK"], "host_key_fingerprint": value}


def render(values: dict) -> str:
    for key, value in values.items():
        if "\n" in str(value) or "=" in key:
            raise BootError(f"agent.env cannot hold {key!r}: one KEY=VALUE per line")
    return "".join(f"{key}={value}\n" for key, value in values.items())


def write_private(path: str, text: str, user: str | None) -> None:
    """Write atomically, mode 0600 in a 0700 folder, owned by `user` when we run as root."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    if user and os.geteuid() == 0:
        import pwd

        entry = pwd.getpwnam(user)
        for target in (folder, tmp):
            os.chown(target, entry.pw_uid, entry.pw_gid)
    os.replace(tmp, path)


def main(argv: list | None = None) -> int:
    try:
        result = Boot(dict(os.environ)).run()
    except (BootError, OSError, KeyError, ValueError) as exc:
        sys.stderr.write(f"wb-boot: {type(exc).__name__}: {exc}\n")
        return 1
    sys.stdout.write("wb-boot: " + json.dumps(result, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

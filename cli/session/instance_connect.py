"""EC2 Instance Connect: a key for one connection, and the path to the machine (a tunnel or plain TCP).

For each connection a fresh ed25519 key is made in memory, its public half pushed with
`ec2-instance-connect:SendSSHPublicKey` (EC2 hands it to the machine's sshd, through the
`AuthorizedKeysCommand` of Ubuntu's ec2-instance-connect package, for 60 s), and the private half is used once
to authenticate, then dropped. wb's own connections never write it anywhere: the next connection pushes
another. Only `wb proxy`, for OpenSSH, keeps one in a file while its relay runs (`pushed_key_file.py`). IAM allows
the push only to the caller's own machines (admins: any wb machine), so the key says who may log in, not a file.

The host key is still checked against the fingerprint the machine registered in its row (`hostkeys.py`).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import AuthError

if TYPE_CHECKING:
    from botocore.credentials import Credentials
    from paramiko import PKey

    from .tunnel import TunnelEndpoint

COMMENT = "weatherballoon-instance-connect"
KEY_LIFETIME_S = 60  # how long EC2 keeps a pushed key (the push must come just before the login)


@dataclass(frozen=True)
class InstanceConnect:
    """How one aws machine is reached: its id, login user and zone for the push, the endpoint to tunnel
    through (None: plain TCP to the target's address), and the AWS collaborators (not compared, not stored)."""

    instance_id: str
    os_user: str
    private_ip: str
    availability_zone: str | None = None
    tunnel: TunnelEndpoint | None = None
    push_key: bool = True  # False: the seed's keyPair logs in (through the tunnel, when there is one)
    client: Callable[[], Any] = field(default=lambda: None, compare=False, repr=False)  # ec2-instance-connect
    credentials: Callable[[], Credentials] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PushedKey:
    """An ed25519 key to push: the private half in OpenSSH format, the public half as an authorized_keys line."""

    private_openssh: bytes
    public_line: str

    def pkey(self) -> PKey:
        from .lazy_paramiko import paramiko

        return paramiko().Ed25519Key(file_obj=io.StringIO(self.private_openssh.decode()))

    @classmethod
    def of_private(cls, private_openssh: bytes) -> PushedKey:
        """The key in an unencrypted OpenSSH private key file; ValueError when it is not an ed25519 one."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = serialization.load_ssh_private_key(private_openssh, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("not an ed25519 key")
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        return cls(private_openssh, f"{public.decode()} {COMMENT}")


def fresh_key() -> PushedKey:
    """A new ed25519 key, in memory (`wb proxy` writes it for OpenSSH; a session never does)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return PushedKey(private, f"{public.decode()} {COMMENT}")


def push_key(reach: InstanceConnect, label: str) -> PKey:
    """Push a fresh key for `reach.os_user` on the machine; the key to log in with in the next 60 s."""
    key = fresh_key()
    send_public_key(reach, key.public_line, label)
    return key.pkey()


def send_public_key(reach: InstanceConnect, public_line: str, label: str) -> None:
    """SendSSHPublicKey for `reach.os_user`: EC2 hands the key to the machine's sshd for the next 60 s.
    AuthError (exit 255) naming the refusal otherwise."""
    from botocore.exceptions import BotoCoreError, ClientError

    request: dict[str, str] = {
        "InstanceId": reach.instance_id,
        "InstanceOSUser": reach.os_user,
        "SSHPublicKey": public_line,
    }
    if reach.availability_zone:
        request["AvailabilityZone"] = reach.availability_zone
    try:
        answer = reach.client().send_ssh_public_key(**request)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise AuthError(
            f"EC2 Instance Connect refused the key for {reach.instance_id} ({code}): "
            f"{exc.response.get('Error', {}).get('Message', exc)}",
            host=label,
            hint=_push_hint(code, reach.instance_id),
        ) from exc
    except BotoCoreError as exc:
        raise AuthError(
            f"cannot push a key to {reach.instance_id} with EC2 Instance Connect: {exc}",
            host=label,
            hint="check the network path to AWS and your credentials",
        ) from exc
    if not answer.get("Success", False):
        raise AuthError(f"EC2 Instance Connect did not accept the key for {reach.instance_id}", host=label)


def _push_hint(code: str, instance_id: str) -> str:
    if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
        return (
            f"IAM allows pushing a key only to your own wb machines (admins: any wb machine); {instance_id} is "
            "another member's, or the stack's member policy is not attached to you (docs/iam.md)"
        )
    if code in ("EC2InstanceNotFoundException", "EC2InstanceStateInvalidException"):
        return f"{instance_id} is gone or not running: wb status"
    return "retry; if it persists, see docs/aws.md (Access)"

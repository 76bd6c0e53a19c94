"""Which AMI to boot: the configured one, else the newest Amazon-owned Deep Learning AMI (Ubuntu).

Only images owned by Amazon are considered: anyone may publish a public AMI with a look-alike name.
The name filter matches today's "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 2025..." as
well as the older "Deep Learning AMI Ubuntu Linux - ..." that moto ships. Among the matches a Base image
(drivers and CUDA, no framework) is preferred, then the newest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...aws_account.errors import translated
from ...errors import ConfigError, ProvisionError

DLAMI_NAME = "Deep Learning*Ubuntu*"
AMAZON = "amazon"


@dataclass(frozen=True)
class Image:
    image_id: str
    name: str
    root_device_name: str
    root_snapshot_gb: int
    creation_date: str = ""


def _image(raw: dict[str, Any]) -> Image:
    root = raw.get("RootDeviceName") or "/dev/sda1"
    size = 0
    for mapping in raw.get("BlockDeviceMappings", []) or []:
        if mapping.get("DeviceName") == root:
            size = int(mapping.get("Ebs", {}).get("VolumeSize") or 0)
    return Image(
        image_id=raw["ImageId"],
        name=raw.get("Name", ""),
        root_device_name=root,
        root_snapshot_gb=size,
        creation_date=raw.get("CreationDate") or "",
    )


def rank(images: Sequence[Image]) -> list[Image]:
    """Best first: Base images before framework ones, then newest, then by name."""

    def key(image: Image) -> tuple[bool, str, str]:
        return ("Base" in image.name and "Neuron" not in image.name, image.creation_date, image.name)

    return sorted(images, key=key, reverse=True)


def configured_image(ec2: Any, image_id: str, config_path: str | None) -> Image:
    from botocore.exceptions import ClientError

    with translated(denied_hint="you need ec2:DescribeImages"):
        try:
            found = ec2.describe_images(ImageIds=[image_id]).get("Images", [])
        except ClientError as exc:
            if "InvalidAMIID" not in str(exc):
                raise
            found = []
    if not found:
        raise ConfigError(
            f"no AMI {image_id!r} in this region",
            path=config_path,
            key="provisioner.os.ami",
            hint="AMI ids differ per region; remove the key to use the latest Deep Learning AMI (Ubuntu)",
        )
    return _image(found[0])


def latest_dlami(ec2: Any, architectures: Sequence[str], region: str) -> Image:
    filters = [
        {"Name": "name", "Values": [DLAMI_NAME]},
        {"Name": "state", "Values": ["available"]},
        {"Name": "architecture", "Values": list(architectures)},
    ]
    with translated(denied_hint="you need ec2:DescribeImages"):
        found = ec2.describe_images(Owners=[AMAZON], Filters=filters).get("Images", [])
    ranked = rank([_image(raw) for raw in found])
    if not ranked:
        raise ProvisionError(
            f"found no Deep Learning AMI (Ubuntu) for {'/'.join(architectures)} in {region}",
            hint="set provisioner.os.ami to an Ubuntu AMI id of this region (python3 >= 3.8, systemd, cloud-init)",
        )
    return ranked[0]

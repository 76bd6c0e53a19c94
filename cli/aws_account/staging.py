"""The staging bucket wb owns in each account and region: the reaper's code (and the template when it is too
big to pass inline) live there, keyed by content hash. Encrypted, public access blocked, TLS only."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from ..errors import AwsError
from .errors import error_code, translated

ADMIN_HINT = "wb bootstrap needs S3 rights on the staging bucket wb-bootstrap-*: run it as an account admin"


def staging_bucket_name(account: str, region: str) -> str:
    return f"wb-bootstrap-{account}-{region}"


def _tls_only_policy(bucket: str, region: str) -> str:
    from weatherballoon.lambdas.schema import partition_of

    arn = f"arn:{partition_of(region)}:s3:::{bucket}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [arn, f"{arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


class Staging:
    def __init__(self, s3: Any, *, account: str, region: str, bucket: str | None = None) -> None:
        """`bucket`: the account's shared `wb-bootstrap-<account>-<region>` unless a stack wants its own."""
        self.s3 = s3
        self.account = account
        self.region = region
        self.bucket = bucket or staging_bucket_name(account, region)

    def exists(self) -> bool:
        from botocore.exceptions import ClientError

        with translated(denied_hint=ADMIN_HINT):
            try:
                self.s3.head_bucket(Bucket=self.bucket, ExpectedBucketOwner=self.account)
                return True
            except ClientError as exc:
                if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                    return False
                if error_code(exc) == "403":
                    raise AwsError(
                        f"the staging bucket {self.bucket} exists but this account cannot use it",
                        code="StagingBucketForbidden",
                        hint=ADMIN_HINT,
                    ) from None
                raise

    def ensure(self) -> bool:
        """Create the bucket when missing (encrypted, private, TLS only); True when it was created now."""
        if self.exists():
            return False
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with translated(denied_hint=ADMIN_HINT):
            try:
                self.s3.create_bucket(**kwargs)
            except ClientError as exc:
                if error_code(exc) != "BucketAlreadyOwnedByYou":
                    raise
            self.s3.put_public_access_block(
                Bucket=self.bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
            self.s3.put_bucket_encryption(
                Bucket=self.bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
            if self.endpoint.startswith("https://"):
                # Over plain http (a local emulator such as moto) the TLS-only policy would lock wb itself out.
                self.s3.put_bucket_policy(Bucket=self.bucket, Policy=_tls_only_policy(self.bucket, self.region))
        return True

    def put(self, key: str, data: bytes) -> bool:
        """Upload unless an object is already there under this (content-addressed) key; True when uploaded."""
        from botocore.exceptions import ClientError

        with translated(denied_hint=ADMIN_HINT):
            try:
                self.s3.head_object(Bucket=self.bucket, Key=key, ExpectedBucketOwner=self.account)
                return False
            except ClientError as exc:
                if error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                    raise
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ServerSideEncryption="AES256", ExpectedBucketOwner=self.account
            )
        return True

    @property
    def endpoint(self) -> str:
        return str(self.s3.meta.endpoint_url).rstrip("/")

    def url(self, key: str) -> str:
        """The URL CloudFormation reads the object from; path style on a custom endpoint (moto)."""
        host = urlparse(self.endpoint).hostname or ""
        if host.endswith("amazonaws.com"):
            return f"https://{self.bucket}.s3.{self.region}.amazonaws.com/{key}"
        return f"{self.endpoint}/{self.bucket}/{key}"

    def keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        with translated(denied_hint=ADMIN_HINT):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found.extend(obj["Key"] for obj in page.get("Contents", []))
        return found

    def delete_keys(self, keys: list[str]) -> None:
        with translated(denied_hint=ADMIN_HINT):
            for start in range(0, len(keys), 1000):
                chunk = [{"Key": key} for key in keys[start : start + 1000]]
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})

    def prune(self, prefix: str, keep: str) -> int:
        """Delete older objects under `prefix` (after a successful deploy, so a rollback still finds its code)."""
        stale = [key for key in self.keys(prefix) if key != keep]
        self.delete_keys(stale)
        return len(stale)

    def remove(self) -> int:
        """Empty and delete the bucket; the number of objects removed."""
        if not self.exists():
            return 0
        keys = self.keys()
        self.delete_keys(keys)
        with translated(denied_hint=ADMIN_HINT):
            self.s3.delete_bucket(Bucket=self.bucket, ExpectedBucketOwner=self.account)
        return len(keys)

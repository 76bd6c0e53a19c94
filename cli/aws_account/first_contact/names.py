"""The names of what one first-contact run makes: all derive from a random run id, so every run's stack,
team, staging bucket and project are its own, and the teardown removes exactly them.

AWS's rules for each (tests/unit/aws/first_contact/test_names.py checks every name against them):
- stack: a letter, then letters, digits and hyphens, at most 128 characters (CloudFormation's stack name);
- team: `^[A-Za-z0-9._-]{1,64}$`, the shipped template's `TeamName` pattern;
- staging bucket: 3 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit
  (S3's general purpose bucket naming rules).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

PREFIX = "wb-doctor-"


@dataclass(frozen=True)
class RunNames:
    run_id: str  # 6 lowercase hex digits
    account: str
    region: str

    @property
    def stack(self) -> str:
        return PREFIX + self.run_id

    @property
    def team(self) -> str:
        return PREFIX + self.run_id

    @property
    def project(self) -> str:
        """The project folder's name, hence the instances' `wb:project` tag."""
        return PREFIX + self.run_id

    @property
    def staging_bucket(self) -> str:
        """Its own bucket, never the account's shared `wb-bootstrap-<account>-<region>`."""
        return f"{PREFIX}{self.account}-{self.region}-{self.run_id}"


def new_names(account: str, region: str, run_id: str | None = None) -> RunNames:
    return RunNames(run_id or secrets.token_hex(3), account, region)


def is_doctor_stack(name: str) -> bool:
    return name.startswith(PREFIX)

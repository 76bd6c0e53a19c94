"""The single-table key contract. IAM conditions are written against these exact shapes; keep them.

| row | pk | sk |
|---|---|---|
| instance | `OWNER#<owner>#INSTANCE#<instance-arn>` | `META` |
| job | same pk as its instance | `JOB#<job_id>` |
| ledger | `LEDGER#<YYYY-MM>` | `OWNER#<owner>` or `TEAM#<team>` |
| budget | `BUDGET` | `OWNER#<owner>` or `TEAM#<team>` |
| audit | `AUDIT#<YYYY-MM-DD>` | `<iso8601>#<instance_id>` |
| reaper heartbeat | `REAPER` | `LAST_RUN` |
| meter (reaper only) | `METER#<shard>` | `<instance-arn>` |

`expires_at` (number, epoch seconds) is the table's TTL attribute.

`live` marks the rows the reaper must see every run: instance rows not closed, and running job rows that carry
a cap. Only those rows are in the sparse, keys-only index `live-rows` (partition key `live`, sort key `pk`), so
the reaper finds them without reading the table's history; the index is written only when `live` is set or
removed, never by a renewal.

Meters hold what decides money and time (the accrual cursor, the billed price, the lifetime start). Their
partition names no owner, so neither a member (`OWNER#${aws:userid}#*`) nor an instance can write one.

Member IAM matches `dynamodb:LeadingKeys` against `OWNER#${aws:userid}#*`; the instance role matches
`OWNER#*#INSTANCE#${ec2:SourceInstanceARN}`. That is why the owner leads the instance key and why an owner
may not contain `#`.
"""

from __future__ import annotations

import zlib
from enum import Enum

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"

SEP = "#"
OWNER_PREFIX = "OWNER#"
INSTANCE_INFIX = "#INSTANCE#"
META_SK = "META"
JOB_PREFIX = "JOB#"
LEDGER_PREFIX = "LEDGER#"
BUDGET_PK = "BUDGET"
AUDIT_PREFIX = "AUDIT#"
REAPER_PK = "REAPER"
LAST_RUN_SK = "LAST_RUN"
METER_PREFIX = "METER#"
METER_SHARDS = 16  # meters are read with one Query per shard: 10,000 instances make ~625 rows per partition
LIVE_ATTRIBUTE = "live"
LIVE_VALUE = "1"
LIVE_INDEX = "live-rows"


class Scope(str, Enum):
    """Whom a ledger or budget row is about."""

    OWNER = "OWNER"
    TEAM = "TEAM"


def _check_part(kind: str, value: str) -> str:
    if not value:
        raise ValueError(f"{kind} must not be empty")
    if SEP in value:
        raise ValueError(f"{kind} {value!r} must not contain {SEP!r}: it is a key separator")
    return value


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def instance_arn(region: str, account: str, instance_id: str, partition: str | None = None) -> str:
    """`arn:<partition>:ec2:<region>:<account>:instance/<id>`, the value `ec2:SourceInstanceARN` carries (the
    partition follows the region unless given)."""
    return f"arn:{partition or partition_of(region)}:ec2:{region}:{account}:instance/{instance_id}"


def parse_instance_arn(arn: str) -> tuple[str, str, str]:
    """(region, account, instance_id) from an instance ARN; ValueError when it is not one."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "ec2" or not parts[5].startswith("instance/"):
        raise ValueError(f"not an EC2 instance ARN: {arn!r}")
    return parts[3], parts[4], parts[5][len("instance/") :]


def instance_pk(owner: str, arn: str) -> str:
    _check_part("owner", owner)
    parse_instance_arn(arn)
    return OWNER_PREFIX + owner + INSTANCE_INFIX + arn


def parse_instance_pk(pk: str) -> tuple[str, str]:
    """(owner, instance_arn) from an instance or job row's pk."""
    if not pk.startswith(OWNER_PREFIX) or INSTANCE_INFIX not in pk:
        raise ValueError(f"not an instance key: {pk!r}")
    owner, arn = pk[len(OWNER_PREFIX) :].split(INSTANCE_INFIX, 1)
    parse_instance_arn(arn)
    return owner, arn


def owner_key_prefix(owner: str) -> str:
    """The `begins_with` prefix of every row an owner may write (the LeadingKeys pattern)."""
    return OWNER_PREFIX + _check_part("owner", owner) + SEP


def job_sk(job_id: str) -> str:
    return JOB_PREFIX + _check_part("job id", job_id)


def parse_job_sk(sk: str) -> str:
    if not sk.startswith(JOB_PREFIX):
        raise ValueError(f"not a job sort key: {sk!r}")
    return sk[len(JOB_PREFIX) :]


def scope_sk(scope: Scope, name: str) -> str:
    """`OWNER#<owner>` or `TEAM#<team>`: the sort key of ledger and budget rows."""
    return scope.value + SEP + _check_part(scope.value.lower(), name)


def owner_sk(owner: str) -> str:
    return scope_sk(Scope.OWNER, owner)


def team_sk(team: str) -> str:
    return scope_sk(Scope.TEAM, team)


def parse_scope_sk(sk: str) -> tuple[Scope, str]:
    head, _, name = sk.partition(SEP)
    try:
        scope = Scope(head)
    except ValueError:
        raise ValueError(f"not an owner or team sort key: {sk!r}") from None
    if not name:
        raise ValueError(f"empty name in sort key {sk!r}")
    return scope, name


def ledger_pk(month: str) -> str:
    """`LEDGER#YYYY-MM`."""
    if len(month) != 7 or month[4] != "-" or not (month[:4] + month[5:]).isdigit():
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    return LEDGER_PREFIX + month


def audit_pk(day: str) -> str:
    """`AUDIT#YYYY-MM-DD`."""
    if len(day) != 10 or day[4] != "-" or day[7] != "-":
        raise ValueError(f"day must be YYYY-MM-DD, got {day!r}")
    return AUDIT_PREFIX + day


def audit_sk(iso_timestamp: str, instance_id: str) -> str:
    return iso_timestamp + SEP + instance_id


def meter_shard(arn: str) -> int:
    """The meter partition of an instance: stable, so every run finds it in the same place."""
    return zlib.crc32(arn.encode("utf-8")) % METER_SHARDS


def meter_pk(shard: int) -> str:
    if not 0 <= shard < METER_SHARDS:
        raise ValueError(f"meter shard must be 0..{METER_SHARDS - 1}, got {shard}")
    return f"{METER_PREFIX}{shard:02d}"


def meter_key(arn: str) -> tuple[str, str]:
    """(pk, sk) of an instance's meter row."""
    parse_instance_arn(arn)
    return meter_pk(meter_shard(arn)), arn

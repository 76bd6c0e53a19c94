"""Reaper cost at scale: API calls and wall time of one run against a moto server, for 1,000 and 10,000
wb instances. Prints a markdown table (recorded in docs/supervision.md, "Reaper cost").

    python bench/reaper_scale.py                    # 1,000 and 10,000 instances
    python bench/reaper_scale.py --sizes 2000       # any sizes
    python bench/reaper_scale.py --read-units 10000 100000
                                                    # read units of one run: 10,000 live instances beside
                                                    # 100,000 closed rows, against a Scan of the same table

Per size, three runs over the same seeded world, all with the production wiring (DynamoStore, Ec2Fleet,
standard retries) and a botocore event hook counting calls and HTTP attempts:
  1. `expire-10%`: every instance has a row; 10% of the leases have lapsed -> accrue all, terminate 10%.
  2. `steady`: the next minute: the terminated ones are gone (rows closed), the rest accrue and are kept.
  3. `expire-all`: every remaining lease lapses at once (a team budget hit) -> terminate everything.
moto is a single Python process emulating EC2 and DynamoDB, so the seconds measure mostly moto and
botocore; the call counts are what AWS would see. By default the server is `bench/moto_linear.py`: stock
moto copies a whole table per transaction item and scans every tag per instance described, which makes
10,000 instances take hours there and nowhere else; pass `--stock-moto` for the plain server.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TABLE = "wb-bench"
IMAGE = "ami-03cf127a"


@contextmanager
def moto_server(stock: bool) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    launcher = ["-m", "moto.server"] if stock else [str(Path(__file__).with_name("moto_linear.py"))]
    proc = subprocess.Popen(
        [sys.executable, *launcher, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://localhost:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        proc.kill()
        proc.wait(10)


@dataclass
class Row:
    size: int
    scenario: str
    calls: dict[str, int]
    attempts: int
    seconds: float
    phases: dict[str, float]
    terminated: int
    closed: int
    failures: int


def seed(size: int, now: float) -> list[str]:
    from weatherballoon.lambdas import schema, tags
    from weatherballoon.lambdas.aws import make_client
    from weatherballoon.lambdas.dynamo_codec import to_wire
    from weatherballoon.lambdas.dynamo_table import table_request
    from weatherballoon.lambdas.meter import MeterRecord, Price, PriceSource
    from weatherballoon.lambdas.records import InstanceRecord, InstanceState, JobRow

    ec2, ddb = make_client("ec2"), make_client("dynamodb")
    ddb.create_table(**table_request(TABLE))
    ids: list[str] = []
    owners = [f"AIDAUSER{n:02d}" for n in range(20)]
    while len(ids) < size:
        count = min(1000, size - len(ids))
        owner = owners[(len(ids) // 1000) % len(owners)]
        spec = tags.tag_specifications(tags.wb_tags(owner, "ml", "bench"), ("instance",))
        response = ec2.run_instances(
            ImageId=IMAGE, MinCount=count, MaxCount=count, InstanceType="g5.xlarge", TagSpecifications=spec
        )
        ids += [i["InstanceId"] for i in response["Instances"]]
    region = ec2.meta.region_name
    requests = []
    for n, instance_id in enumerate(ids):
        record = InstanceRecord(
            owner=owners[(n // 1000) % len(owners)],
            instance_arn=schema.instance_arn(region, "123456789012", instance_id),
            instance_type="g5.xlarge",
            launched_at=now - 3600,
            lease_until=now - 1 if n % 10 == 0 else now + 86400,
            max_until=now + 86400,
            price_usd_hour=1.006,
            team="ml",
            state=InstanceState.BUSY,
        )
        meter = MeterRecord(
            instance_arn=record.instance_arn, owner=record.owner, team="ml", instance_type="g5.xlarge", spot=False,
            price=Price(1.006, PriceSource.TABLE), lifetime_start=now - 3600, first_seen=now - 3540,
            accrued_until=now - 60, accrued_usd=0.99,
        )  # fmt: skip
        requests.append({"PutRequest": {"Item": to_wire(record.to_item())}})
        requests.append({"PutRequest": {"Item": to_wire(meter.to_item())}})
        if n % 10 == 0:  # one instance in ten runs a job with a cap: its row is in the live index
            job = JobRow(record.owner, record.instance_arn, "j1", ("train.py",), now - 600, max_time_s=86400.0)
            requests.append({"PutRequest": {"Item": to_wire(job.to_item())}})
    batch_write(ddb, requests)
    return ids


SEEDED_SIZES: list[int] = []  # the size of every item seeded, for the Scan figure (moto cannot Scan 110k rows)


def batch_write(ddb: object, requests: list[dict]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.read_units import item_size

    SEEDED_SIZES.extend(item_size(request["PutRequest"]["Item"]) for request in requests)
    for start in range(0, len(requests), 25):
        ddb.batch_write_item(RequestItems={TABLE: requests[start : start + 25]})  # type: ignore[attr-defined]


def seed_history(count: int, now: float) -> None:
    """`count` closed instance rows, as 90 days of history leave them."""
    from weatherballoon.lambdas import schema
    from weatherballoon.lambdas.aws import make_client
    from weatherballoon.lambdas.dynamo_codec import to_wire
    from weatherballoon.lambdas.records import InstanceRecord, InstanceState

    ddb = make_client("dynamodb")
    requests = []
    for n in range(count):
        launched = now - 86400 * (n % 90) - 7200
        record = InstanceRecord(
            owner=f"AIDAUSER{n % 20:02d}",
            instance_arn=schema.instance_arn("us-west-2", "123456789012", f"i-{n:017x}"),
            instance_type="g5.xlarge", launched_at=launched, lease_until=launched + 3600,
            max_until=launched + 86400, price_usd_hour=1.006, team="ml", project="bench",
            state=InstanceState.CLOSED, reap_reason="lease-expired", reaped_at=launched + 3600,
            closed_at=launched + 3660, expires_at=int(launched + 90 * 86400),
            host_key_fingerprint="SHA256:" + "x" * 43,
        )  # fmt: skip
        requests.append({"PutRequest": {"Item": to_wire(record.to_item())}})
    batch_write(ddb, requests)


def measure_read_units(live: int, closed: int, now: float) -> str:
    from weatherballoon.lambdas.aws import make_client
    from weatherballoon.lambdas.config import ReaperSettings
    from weatherballoon.lambdas.dynamo_store import DynamoStore
    from weatherballoon.lambdas.ec2_fleet import Ec2Fleet
    from weatherballoon.lambdas.engine import Reaper

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: bench/ is not a package
    from bench.read_units import ReadUnits, scan_units_of

    meter = ReadUnits()
    settings = ReaperSettings(table_name=TABLE, orphan_grace_s=600, team_name="ml")
    store = DynamoStore(TABLE, client=meter.attach(make_client("dynamodb")))
    began = time.perf_counter()
    report = Reaper(settings, store, Ec2Fleet(client=make_client("ec2")), clock=lambda: now).run()
    print(f"reaper run in {time.perf_counter() - began:.1f}s: {report.counts()}", file=sys.stderr, flush=True)
    # What a Scan of the same table evaluates: every seeded item (what the run wrote, audit rows and a
    # heartbeat, is left out), 1 MB pages, eventually consistent. Computed from the items' sizes: a moto
    # server asked to Scan 110,000 items grew past 20 GB.
    scanned, pages, items = scan_units_of(SEEDED_SIZES)
    lines = [
        f"live instances {live:,} (rows, meters, a capped job on one in ten), closed rows {closed:,}; "
        f"run ok={report.ok}, seen {report.seen:,}, rows {report.rows:,}",
        "| read | calls | read units |",
        "|---|---|---|",
    ]
    for operation in sorted(meter.by_operation):
        lines.append(f"| {operation} | {meter.calls[operation]:,} | {meter.by_operation[operation]:,.1f} |")
    lines.append(f"| **one run, live reads** | {sum(meter.calls.values()):,} | **{meter.total:,.1f}** |")
    lines.append(f"| a Scan of the seeded table (before) | {pages:,} pages, {items:,} items | {scanned:,.1f} |")
    return "\n".join(lines)


def expire_all(now: float) -> None:
    from weatherballoon.lambdas.aws import make_client
    from weatherballoon.lambdas.dynamo_codec import values

    ddb = make_client("dynamodb")
    for page in ddb.get_paginator("scan").paginate(TableName=TABLE, ProjectionExpression="pk, sk"):
        for key in page["Items"]:
            if key["sk"]["S"] == "META":
                ddb.update_item(
                    TableName=TABLE, Key=key, UpdateExpression="SET lease_until = :t",
                    ExpressionAttributeValues=values(t=now - 1),
                )  # fmt: skip


def measure(size: int, scenario: str, now: float) -> Row:
    from weatherballoon.lambdas.aws import CallCounter, make_client
    from weatherballoon.lambdas.config import ReaperSettings
    from weatherballoon.lambdas.dynamo_store import DynamoStore
    from weatherballoon.lambdas.ec2_fleet import Ec2Fleet
    from weatherballoon.lambdas.engine import Reaper

    counter = CallCounter()
    settings = ReaperSettings(table_name=TABLE, orphan_grace_s=600, team_name="ml")
    store = DynamoStore(TABLE, client=counter.attach(make_client("dynamodb")))
    fleet = Ec2Fleet(client=counter.attach(make_client("ec2")))
    reaper = Reaper(settings, store, fleet, clock=lambda: now)
    began = time.perf_counter()
    report = reaper.run()
    seconds = time.perf_counter() - began
    return Row(
        size, scenario, dict(counter.calls), counter.total_attempts, seconds, dict(report.phases),
        len(report.terminated()), len(report.closed()), len(report.failures),
    )  # fmt: skip


def table(rows: list[Row]) -> str:
    lines = [
        "| instances | scenario | API calls | by operation | terminated | closed | wall s | describe+scan s "
        "| accrue s | terminate s | calls / 1,000 | s / 1,000 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ops = ", ".join(f"{op} {n}" for op, n in sorted(r.calls.items()))
        total = sum(r.calls.values())
        read = max(r.phases.get("describe", 0.0), r.phases.get("load", 0.0))
        lines.append(
            f"| {r.size:,} | {r.scenario} | {total:,} | {ops} | {r.terminated:,} | {r.closed:,} | {r.seconds:.1f} "
            f"| {read:.1f} | {r.phases.get('accrue', 0):.1f} | {r.phases.get('terminate', 0):.1f} "
            f"| {total * 1000 / r.size:.0f} | {r.seconds * 1000 / r.size:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--stock-moto", action="store_true", help="plain moto server (see bench/moto_linear.py)")
    parser.add_argument("--read-units", type=int, nargs=2, metavar=("LIVE", "CLOSED"),
                        help="measure read units of one run over LIVE instances beside CLOSED rows")  # fmt: skip
    args = parser.parse_args()
    if args.read_units:
        live, closed = args.read_units
        with moto_server(args.stock_moto) as url:
            os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                              AWS_DEFAULT_REGION="us-west-2")  # fmt: skip
            os.environ.pop("AWS_PROFILE", None)
            now = time.time()
            began = time.perf_counter()
            seed(live, now)
            seed_history(closed, now)
            print(f"seeded in {time.perf_counter() - began:.1f}s", file=sys.stderr)
            print(measure_read_units(live, closed, now))
        return 0
    rows: list[Row] = []
    with moto_server(args.stock_moto) as url:
        os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                          AWS_DEFAULT_REGION="us-west-2")  # fmt: skip
        os.environ.pop("AWS_PROFILE", None)
        for size in args.sizes:
            urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
            now = time.time()
            began = time.perf_counter()
            seed(size, now)
            print(f"seeded {size:,} instances and rows in {time.perf_counter() - began:.1f}s", file=sys.stderr)
            rows.append(measure(size, "expire-10%", now))
            rows.append(measure(size, "steady", now + 60))
            expire_all(now + 120)
            rows.append(measure(size, "expire-all", now + 120))
            print(table(rows[-3:]), file=sys.stderr)
    server = "stock moto" if args.stock_moto else "moto with two quadratic paths made linear (bench/moto_linear.py)"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {server} on localhost\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

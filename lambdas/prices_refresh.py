"""Rebuild the dated price table (`prices.json`) from AWS's public Price List offer files.

    python -m weatherballoon.lambdas.prices_refresh --output lambdas/prices.json
    python -m weatherballoon.lambdas.prices_refresh --source ./offers-mirror --regions us-east-1,eu-west-1 ...

The bulk API needs no credentials (https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/
using-ppslong.html, "Using the bulk API"). Three files lead to the prices:

1. the offer index, `/offers/v1.0/aws/index.json`: `offers.AmazonEC2.currentRegionIndexUrl`;
2. EC2's region index: `regions.<region code>.currentVersionUrl`, one offer file per region;
3. each region's offer file: `products` (sku -> product family and attributes) and `terms.OnDemand`
   (sku -> offer term -> price dimensions -> `pricePerUnit.USD` per `unit` "Hrs").

A price is kept for a product of family "Compute Instance" running Linux, shared tenancy, no pre-installed
software, capacity status "Used", in one of `FAMILIES`. The offer files are read a member at a time
(`offer_file`): EC2's large regions are gigabytes. `--source` is the bulk API's host (the default) or a
directory holding the same paths (a mirror, or the test fixture).

Every region gets its explicit prices, and a fallback factor (the highest ratio of its prices to the base
region's, rounded up to the cent) for a type it does not list, so a fallback overestimates.

Without network access, `--estimate-missing FACTOR --from TABLE` adds every commercial region TABLE cannot
price (botocore's endpoint data lists them) as base x FACTOR, marked under `estimated_regions`: that is how the
shipped table covers every commercial region (docs/supervision.md, "Prices").
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Dict, Iterable, List, Optional, Tuple  # noqa: UP035 -- this module runs on 3.8

from .offer_file import members
from .schema import partition_of

BULK_API = "https://pricing.us-east-1.amazonaws.com"
OFFER_INDEX = "/offers/v1.0/aws/index.json"
SERVICE = "AmazonEC2"
# The instance families wb supports (the allowed-type defaults and the GPU families members ask for).
FAMILIES = ("c5", "g4dn", "g5", "g6", "g6e", "m5", "p3", "p3dn", "p4d", "p5", "t2", "t3")
BASE_REGION = "us-east-1"
LINUX_SHARED = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
}


class Source:
    """The bulk API over HTTPS, or a directory laid out like it."""

    def __init__(self, location: str = BULK_API) -> None:
        self.location = location.rstrip("/")

    def open(self, path: str) -> IO[str]:
        if self.location.startswith(("https://", "http://")):
            response = urllib.request.urlopen(self.location + path, timeout=60)
            return io.TextIOWrapper(response, encoding="utf-8")
        return (Path(self.location) / path.lstrip("/")).open(encoding="utf-8")

    def document(self, path: str) -> Dict[str, Any]:  # noqa: UP006
        with self.open(path) as stream:
            loaded: Dict[str, Any] = json.load(stream)  # noqa: UP006
        return loaded


def region_files(source: Source) -> Tuple[str, Dict[str, str]]:  # noqa: UP006
    """(publication date of the region index, region code -> path of its EC2 offer file)."""
    offers = source.document(OFFER_INDEX)["offers"]
    index_path = offers[SERVICE]["currentRegionIndexUrl"]
    index = source.document(index_path)
    files = {code: entry["currentVersionUrl"] for code, entry in index["regions"].items()}
    return str(index.get("publicationDate", "")), files


def wanted(product: Dict[str, Any], families: Iterable[str]) -> str | None:  # noqa: UP006
    """The instance type of a Linux, shared, on-demand compute product of one of `families`, else None."""
    if product.get("productFamily") != "Compute Instance":
        return None
    attributes = product.get("attributes", {})
    if any(attributes.get(key) != value for key, value in LINUX_SHARED.items()):
        return None
    if attributes.get("licenseModel", "No License required") != "No License required":
        return None
    kind = str(attributes.get("instanceType", ""))
    return kind if kind.split(".")[0] in set(families) else None


def hourly_usd(term: Dict[str, Any]) -> float | None:  # noqa: UP006
    """The USD per hour of one sku's on-demand terms (its one offer term's hourly dimension)."""
    for offer in term.values():
        for dimension in offer.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if dimension.get("unit") == "Hrs" and usd is not None and float(usd) > 0:
                return float(usd)
    return None


def region_prices(source: Source, path: str, families: Iterable[str]) -> Dict[str, float]:  # noqa: UP006
    """instance type -> on-demand Linux USD per hour, from one region's offer file (two passes)."""
    families = tuple(families)
    with source.open(path) as stream:
        skus = {sku: kind for sku, product in members(stream, ("products",)) if (kind := wanted(product, families))}
    prices: Dict[str, float] = {}  # noqa: UP006
    with source.open(path) as stream:
        for sku, term in members(stream, ("terms", "OnDemand")):
            kind = skus.get(sku)
            usd = hourly_usd(term) if kind else None
            if kind and usd is not None:
                prices[kind] = max(usd, prices.get(kind, 0.0))  # two skus of a type: keep the higher
    return dict(sorted(prices.items()))


def fallback_factor(prices: Dict[str, float], base: Dict[str, float]) -> float:  # noqa: UP006
    """The highest ratio of a region's prices to the base region's, rounded up to the cent."""
    ratios = [usd / base[kind] for kind, usd in prices.items() if base.get(kind)]
    return math.ceil(max(ratios, default=1.0) * 100 - 1e-9) / 100


def build_table(
    source: Source,
    *,
    regions: Optional[Iterable[str]] = None,  # noqa: UP045
    families: Iterable[str] = FAMILIES,
    base_region: str = BASE_REGION,
    today: Optional[str] = None,  # noqa: UP045
) -> Dict[str, Any]:  # noqa: UP006
    """The price table document (the `prices.json` format) for `regions` (default: every commercial
    region the region index lists)."""
    published, files = region_files(source)
    chosen: List[str] = sorted(regions) if regions else sorted(r for r in files if partition_of(r) == "aws")  # noqa: UP006
    missing = [r for r in [base_region, *chosen] if r not in files]
    if missing:
        raise ValueError(f"the region index lists no offer file for {', '.join(sorted(set(missing)))}")
    explicit = {region: region_prices(source, files[region], families) for region in {base_region, *chosen}}
    base = explicit[base_region]
    if not base:
        raise ValueError(f"no price found in {base_region} for the families {', '.join(families)}")
    day = today or datetime.now(timezone.utc).strftime("%Y-%m-%d")
    as_of = published[:10] if published else day
    return {
        "as_of": as_of,
        "source": f"AWS Price List bulk API offer files ({source.location}{OFFER_INDEX}, {SERVICE} region index "
        f"published {published or 'undated'}), built by weatherballoon.lambdas.prices_refresh on {day}: Linux, "
        "shared tenancy, on-demand, USD per instance-hour.",
        "currency": "USD",
        "unit": "instance-hour",
        "operating_system": "Linux",
        "tenancy": "shared",
        "base_region": base_region,
        "fallback_factors": {r: fallback_factor(explicit[r], base) for r in sorted(explicit)},
        "fallback_note": "A type missing from a region's table is priced as base_region's price x that region's "
        "factor: the highest ratio (rounded up to the cent) among the region's listed prices, so a fallback "
        "overestimates rather than underestimates spend.",
        "estimated_regions": {},
        "regions": {r: explicit[r] for r in sorted(explicit)},
    }


ESTIMATE_NOTE = (
    "Regions listed here had no explicit prices when the table was built: they are priced as base_region x "
    "the factor given, an upper bound chosen above the highest regional uplift of the measured regions. "
    "Estimated, not AWS's price: refresh from the bulk API (python -m weatherballoon.lambdas.prices_refresh) "
    "before relying on them for billing."
)


def commercial_regions() -> list[str]:
    """Every region of the `aws` partition botocore's endpoint data knows for EC2."""
    import botocore.session

    return sorted(botocore.session.get_session().get_available_regions("ec2", partition_name="aws"))


def add_estimated_regions(document: dict[str, Any], regions: Iterable[str], factor: float) -> dict[str, Any]:
    """`document` with every region of `regions` it cannot price yet priced as base x `factor`, and listed
    under `estimated_regions` so nobody mistakes the estimate for AWS's price."""
    table: dict[str, Any] = json.loads(json.dumps(document))
    estimated = dict(table.get("estimated_regions", {}))
    for region in sorted(regions):
        if region not in table["fallback_factors"]:
            table["fallback_factors"][region] = factor
            estimated[region] = factor
    table["fallback_factors"] = dict(sorted(table["fallback_factors"].items()))
    table["estimated_regions"] = dict(sorted(estimated.items()))
    table["estimated_note"] = ESTIMATE_NOTE
    return table


def main(argv: Optional[List[str]] = None) -> int:  # noqa: UP006, UP045
    parser = argparse.ArgumentParser(prog="python -m weatherballoon.lambdas.prices_refresh", description=__doc__)
    parser.add_argument("--source", default=BULK_API, help="the bulk API host, or a directory laid out like it")
    parser.add_argument("--regions", help="comma-separated region codes (default: every commercial region)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated instance families")
    parser.add_argument("--output", required=True, help="where to write the table (e.g. lambdas/prices.json)")
    parser.add_argument(
        "--estimate-missing",
        type=float,
        metavar="FACTOR",
        help="instead of downloading, add every commercial region the table at --from cannot price, as base x "
        "FACTOR, marked estimated",
    )
    parser.add_argument("--from", dest="start", help="the table --estimate-missing starts from")
    args = parser.parse_args(argv)
    if args.estimate_missing is not None:
        if not args.start:
            parser.error("--estimate-missing needs --from TABLE")
        start = json.loads(Path(args.start).read_text(encoding="utf-8"))
        table = add_estimated_regions(start, commercial_regions(), args.estimate_missing)
        Path(args.output).write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.output}: {len(table['estimated_regions'])} estimated regions", file=sys.stderr)
        return 0
    regions = [r.strip() for r in args.regions.split(",") if r.strip()] if args.regions else None
    table = build_table(Source(args.source), regions=regions, families=args.families.split(","))
    Path(args.output).write_text(json.dumps(table, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    counts = ", ".join(f"{r} {len(p)}" for r, p in table["regions"].items())
    print(f"wrote {args.output}: prices as of {table['as_of']} ({counts})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check a SigV4 presigned URL (query-string signing) as AWS does, written from AWS's description of the
algorithm, not with botocore's signer: the client signs with botocore, so a mistake on either side shows.

    canonical request = METHOD \n URI path \n sorted, encoded query (minus X-Amz-Signature) \n
                        signed headers as `name:value\n` \n their names joined by `;` \n
                        hex(sha256(body)), the body of a GET being empty (only S3 signs UNSIGNED-PAYLOAD)
    string to sign    = AWS4-HMAC-SHA256 \n X-Amz-Date \n <date>/<region>/<service>/aws4_request \n
                        hex(sha256(canonical request))
    key               = HMAC chain over "AWS4"+secret: date, region, service, "aws4_request"
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_PAYLOAD = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256 of b""
MAX_EXPIRES_S = 604800  # a presigned URL lives at most seven days


class SignatureRejected(Exception):
    """Why a presigned request is refused (the message goes back in the 403's body)."""


@dataclass(frozen=True)
class Signed:
    """What a valid signature vouches for."""

    access_key: str
    region: str
    service: str
    params: Mapping[str, str]  # the operation's own query parameters (the X-Amz-* ones removed)


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _sign(f"AWS4{secret}".encode(), date)
    key = _sign(key, region)
    key = _sign(key, service)
    return _sign(key, "aws4_request")


def verify_presigned(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    secrets: Mapping[str, str],
    *,
    service: str,
    now: float | None = None,
) -> Signed:
    """The signed request's facts, or SignatureRejected. `secrets` maps access key ids to secret keys;
    `headers` are the request's, names in any case."""
    pairs = parse_qsl(query, keep_blank_values=True)
    params = dict(pairs)
    for required in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
                     "X-Amz-Signature"):  # fmt: skip
        if required not in params:
            raise SignatureRejected(f"missing {required}")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise SignatureRejected(f"unsupported algorithm {params['X-Amz-Algorithm']}")
    try:
        access_key, date, region, scope_service, terminator = params["X-Amz-Credential"].split("/")
    except ValueError:
        raise SignatureRejected("malformed X-Amz-Credential") from None
    if terminator != "aws4_request" or scope_service != service:
        raise SignatureRejected(f"credential scope is for {scope_service!r}, not {service!r}")
    stamp = params["X-Amz-Date"]
    if not stamp.startswith(date):
        raise SignatureRejected("X-Amz-Date does not match the credential scope's date")
    try:
        signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        raise SignatureRejected("malformed X-Amz-Date or X-Amz-Expires") from None
    if not 1 <= expires <= MAX_EXPIRES_S:
        raise SignatureRejected("X-Amz-Expires out of range")
    current = time.time() if now is None else now
    if current > signed_at + expires:
        raise SignatureRejected("request has expired")
    if signed_at > current + 300:
        raise SignatureRejected("request is signed in the future")
    secret = secrets.get(access_key)
    if secret is None:
        raise SignatureRejected(f"unknown access key {access_key}")
    lower = {name.lower(): value for name, value in headers.items()}
    names = params["X-Amz-SignedHeaders"].split(";")
    if "host" not in names:
        raise SignatureRejected("the host header must be signed")
    missing = [name for name in names if name not in lower]
    if missing:
        raise SignatureRejected(f"signed headers missing from the request: {', '.join(missing)}")
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs) if k != "X-Amz-Signature")
    canonical_headers = "".join(f"{name}:{' '.join(lower[name].split())}\n" for name in names)
    canonical = "\n".join(
        [method, quote(path, safe="/-_.~"), canonical_query, canonical_headers, ";".join(names), EMPTY_PAYLOAD]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        raise SignatureRejected("the request signature does not match")
    own = {k: v for k, v in params.items() if not k.startswith("X-Amz-")}
    return Signed(access_key=access_key, region=region, service=service, params=own)

"""botocore errors become `AwsError`s that say what went wrong and what to do next: wrap calls in
`with translated(denied_hint=...)`, or convert one exception with `aws_error(exc)`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import AwsError

DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnauthorizedException",
        "Forbidden",
    }
)
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
REJECTED_CODES = frozenset(
    {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidAccessKeyId"}
)
THROTTLED_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"}
)

NO_CREDENTIALS_HINT = (
    "run `aws configure` or `aws sso login`, or set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
)
MEMBER_HINT = (
    "ask your wb admin to attach the weatherballoon member policy (stack output MemberPolicyArn) to your user or role"
)
_ACTION_IN_MESSAGE = re.compile(r"perform: ([A-Za-z0-9-]+:[A-Za-z0-9*]+)")


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


def denied_action(exc: BaseException) -> str:
    """`service:Action` from AWS's own wording when present, else the API operation's name."""
    found = _ACTION_IN_MESSAGE.search(error_message(exc))
    if found:
        return found.group(1)
    return str(getattr(exc, "operation_name", "") or "this call")


def aws_error(exc: BaseException, *, denied_hint: str | None = None) -> AwsError:
    """The `AwsError` for any botocore exception (ClientError, BotoCoreError, an unparsable response)."""
    from botocore import exceptions as bce

    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
        return AwsError(f"no AWS credentials found ({exc})", code="NoCredentials", hint=NO_CREDENTIALS_HINT)
    if isinstance(exc, bce.ProfileNotFound):
        return AwsError(
            str(exc), code="ProfileNotFound", hint="check AWS_PROFILE against `aws configure list-profiles`"
        )
    if isinstance(exc, (bce.SSOError, bce.TokenRetrievalError)):
        return AwsError(f"the AWS SSO session is not usable: {exc}", code="SSOToken", hint="run `aws sso login`")
    if isinstance(exc, bce.CredentialRetrievalError):
        return AwsError(str(exc), code="CredentialRetrieval", hint=NO_CREDENTIALS_HINT)
    if isinstance(exc, bce.NoRegionError):
        return AwsError(
            "no AWS region is set", code="NoRegion", hint="pass --region, set provisioner.region, or export AWS_REGION"
        )
    if isinstance(exc, (bce.EndpointConnectionError, bce.ConnectTimeoutError, bce.ConnectionClosedError)):
        return AwsError(
            f"cannot reach AWS: {exc}",
            code="EndpointUnreachable",
            hint="check the network (and AWS_ENDPOINT_URL, if set), then run the command again",
        )
    if isinstance(exc, bce.ReadTimeoutError):
        return AwsError(f"AWS did not answer in time: {exc}", code="ReadTimeout", hint="run the command again")
    if isinstance(exc, bce.ClientError):
        return _client_error(exc, denied_hint)
    return AwsError(f"AWS call failed: {type(exc).__name__}: {exc}", code=type(exc).__name__)


def _client_error(exc: BaseException, denied_hint: str | None) -> AwsError:
    code = error_code(exc)
    message = error_message(exc)
    operation = str(getattr(exc, "operation_name", "") or "an AWS call")
    if code in DENIED_CODES:
        action = denied_action(exc)
        return AwsError(f"not allowed to {action} ({code})", code=code, hint=denied_hint or MEMBER_HINT)
    if code in EXPIRED_CODES:
        return AwsError(
            f"the AWS credentials have expired ({code})",
            code=code,
            hint="refresh them: `aws sso login`, or get new temporary credentials",
        )
    if code in REJECTED_CODES:
        return AwsError(
            f"AWS rejected the credentials ({code}): {message}",
            code=code,
            hint="check AWS_PROFILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (`aws sts get-caller-identity`)",
        )
    if code in THROTTLED_CODES:
        return AwsError(f"AWS throttled {operation} after retries ({code})", code=code, hint="try again in a minute")
    return AwsError(f"{operation} failed: {code}: {message}", code=code or None)


def is_aws_exception(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    return isinstance(exc, (BotoCoreError, ClientError, ResponseParserError))


@contextmanager
def translated(*, denied_hint: str | None = None) -> Iterator[None]:
    """Re-raise botocore exceptions as `AwsError` (other exceptions pass through untouched)."""
    try:
        yield
    except AwsError:
        raise
    except Exception as exc:
        if is_aws_exception(exc):
            raise aws_error(exc, denied_hint=denied_hint) from exc
        raise

"""botocore's exceptions become AwsErrors whose message names the problem and whose hint says what to do."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from weatherballoon.cli.aws_account.errors import MEMBER_HINT, aws_error, translated
from weatherballoon.cli.errors import AwsError


def client_error(code: str, message: str = "", operation: str = "CreateStack") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_no_credentials() -> None:
    error = aws_error(NoCredentialsError())
    assert error.message.startswith("no AWS credentials found")
    assert (
        error.hint and "aws configure" in error.hint and "aws sso login" in error.hint and "AWS_PROFILE" in error.hint
    )
    assert error.exit_code == 1


def test_access_denied_names_the_action_from_aws_wording() -> None:
    message = (
        "User: arn:aws:iam::1:user/a is not authorized to perform: cloudformation:CreateStack on resource: "
        "arn:aws:cloudformation:us-west-2:1:stack/weatherballoon/*"
    )
    error = aws_error(client_error("AccessDenied", message), denied_hint="run it as an admin")
    assert error.message == "not allowed to cloudformation:CreateStack (AccessDenied)"
    assert error.hint == "run it as an admin"


def test_unauthorized_operation_falls_back_to_the_operation_and_member_hint() -> None:
    error = aws_error(client_error("UnauthorizedOperation", "You are not authorized", "RunInstances"))
    assert error.message == "not allowed to RunInstances (UnauthorizedOperation)"
    assert error.hint == MEMBER_HINT


@pytest.mark.parametrize("code", ["ExpiredToken", "ExpiredTokenException", "RequestExpired"])
def test_expired_credentials(code: str) -> None:
    error = aws_error(client_error(code, "The security token included in the request is expired"))
    assert "expired" in error.message and error.hint and "aws sso login" in error.hint


def test_unreachable_endpoint() -> None:
    error = aws_error(EndpointConnectionError(endpoint_url="http://localhost:1"))
    assert error.code == "EndpointUnreachable" and "cannot reach AWS" in error.message


def test_other_client_errors_keep_code_and_message() -> None:
    error = aws_error(client_error("ValidationError", "Template format error", "UpdateStack"))
    assert error.message == "UpdateStack failed: ValidationError: Template format error"


def test_translated_reraises_as_aws_error_and_passes_others() -> None:
    with pytest.raises(AwsError) as caught, translated():
        raise NoCredentialsError()
    assert isinstance(caught.value.__cause__, NoCredentialsError)
    with pytest.raises(KeyError), translated():
        raise KeyError("not aws")

"""The teardown tries every part whatever failed before, and each failure becomes a line of what to remove
by hand, with the command."""

from __future__ import annotations

from weatherballoon.cli.aws_account.first_contact.teardown import Teardown
from weatherballoon.cli.errors import AwsError


def test_every_part_is_tried_and_each_failure_says_what_to_run() -> None:
    done = Teardown()
    ran = []

    def stack() -> str:
        ran.append("stack")
        raise AwsError("deleting stack wb-doctor-abc123 failed: it is DELETE_FAILED", code="DELETE_FAILED")

    def bucket() -> str:
        ran.append("bucket")
        return "deleted bucket wb-doctor-123456789012-us-east-2-abc123 (1 objects)"

    done.attempt("stack", stack, "aws cloudformation delete-stack --region us-east-2 --stack-name wb-doctor-abc123")
    done.attempt("staging bucket", bucket, "aws s3 rb s3://wb-doctor-123456789012-us-east-2-abc123 --force")
    done.attempt("diagnostics", lambda: "", "(nothing to remove)")
    assert ran == ["stack", "bucket"]
    assert done.removed == ["deleted bucket wb-doctor-123456789012-us-east-2-abc123 (1 objects)"]
    assert done.leftovers == [
        "stack: deleting stack wb-doctor-abc123 failed: it is DELETE_FAILED\n"
        "    aws cloudformation delete-stack --region us-east-2 --stack-name wb-doctor-abc123"
    ]
    assert done.summary().startswith("1 thing(s) not removed (below); deleted bucket")
    assert Teardown().summary() == "nothing to remove"

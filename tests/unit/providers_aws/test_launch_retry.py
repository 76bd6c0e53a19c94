"""RunInstances retries: which answers are retried (throttles, lost answers), which are not (capacity,
permissions: the capacity search decides), and the backoff."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from weatherballoon.cli.errors import ProvisionError
from weatherballoon.cli.providers.aws.launch_retry import DEFAULT_POLICY, call_idempotent
from weatherballoon.lambdas.retry import Backoff

FAST = Backoff(attempts=4, base_s=0.5, cap_s=2.0, jitter=True)


def ec2_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "from a test"}}, "RunInstances")


class Answers:
    """Raises the given exceptions in turn, then returns "launched"."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "launched"


def test_throttles_and_lost_answers_are_retried_with_backoff() -> None:
    answers = Answers(ec2_error("RequestLimitExceeded"), ConnectionClosedError(endpoint_url="x"),
                      ReadTimeoutError(endpoint_url="x"))  # fmt: skip
    pauses: list[float] = []
    said: list[str] = []
    result = call_idempotent(answers, what="RunInstances", policy=FAST, sleep=pauses.append, say=said.append)
    assert result == "launched"
    assert answers.calls == 4 and len(pauses) == 3
    assert all(0 <= pause <= cap for pause, cap in zip(pauses, (0.5, 1.0, 2.0), strict=True))
    assert "throttled (RequestLimitExceeded)" in said[0] and "no answer (ConnectionClosedError)" in said[1]


@pytest.mark.parametrize("code", ["InsufficientInstanceCapacity", "UnauthorizedOperation", "InvalidParameterValue"])
def test_other_errors_are_not_retried(code: str) -> None:
    answers = Answers(ec2_error(code))
    with pytest.raises(ClientError):
        call_idempotent(answers, what="RunInstances", policy=FAST, sleep=lambda _: None)
    assert answers.calls == 1


def test_a_throttle_to_the_end_is_the_throttle() -> None:
    answers = Answers(*[ec2_error("RequestLimitExceeded")] * 4)
    with pytest.raises(ClientError, match="RequestLimitExceeded"):
        call_idempotent(answers, what="RunInstances", policy=FAST, sleep=lambda _: None)
    assert answers.calls == 4


def test_no_answer_to_the_end_says_a_machine_may_have_started() -> None:
    answers = Answers(*[ConnectionClosedError(endpoint_url="x")] * 4)
    with pytest.raises(ProvisionError, match="no answer from EC2 after 4 tries") as caught:
        call_idempotent(answers, what="RunInstances", policy=FAST, sleep=lambda _: None)
    assert "reaper" in (caught.value.hint or "")


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    policy = DEFAULT_POLICY
    assert [policy.delay(n, draw=lambda: 1.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.delay(3, draw=lambda: 0.0) == 0.0

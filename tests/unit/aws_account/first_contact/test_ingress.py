"""Who may reach the run's machines: a given range, else this computer's public address as AWS's checkip
service answers it (a local HTTP server stands in for it here)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from weatherballoon.cli.aws_account.first_contact.ingress import caller_public_ip, ssh_cidr
from weatherballoon.cli.errors import UsageError


@pytest.fixture
def checkip() -> Iterator[tuple[str, list[bytes]]]:
    answers: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers[0]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", answers
    finally:
        server.shutdown()


def test_the_public_address_is_what_checkip_answers(checkip: tuple[str, list[bytes]]) -> None:
    url, answers = checkip
    answers.append(b"203.0.113.7\n")
    assert caller_public_ip(url) == "203.0.113.7"
    assert ssh_cidr("public-ip", ec2=None, vpc_id="vpc-1", given=None, url=url) == "203.0.113.7/32"


def test_an_answer_that_is_no_address_is_refused(checkip: tuple[str, list[bytes]]) -> None:
    url, answers = checkip
    answers.append(b"<html>captive portal</html>")
    with pytest.raises(UsageError, match="not an IPv4 address") as refused:
        caller_public_ip(url)
    assert "--ssh-cidr" in (refused.value.hint or "")


def test_no_answer_says_to_pass_the_range() -> None:
    with pytest.raises(UsageError, match="could not learn") as refused:
        caller_public_ip("http://127.0.0.1:9/", timeout_s=2)
    assert "--ssh-cidr" in (refused.value.hint or "")


def test_a_given_range_is_normalised_and_a_bad_one_refused() -> None:
    assert ssh_cidr("public-ip", None, "vpc-1", "198.51.100.9/24") == "198.51.100.0/24"
    with pytest.raises(UsageError, match="--ssh-cidr"):
        ssh_cidr("public-ip", None, "vpc-1", "my laptop")

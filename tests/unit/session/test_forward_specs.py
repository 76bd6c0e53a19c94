"""`-L PORT:HOST:HOSTPORT` and `-p PORT` as wb reads them: localhost binds only, ports in range."""

from __future__ import annotations

import pytest
from weatherballoon.cli.errors import UsageError
from weatherballoon.cli.session.forward import ForwardSpec, parse_forward, same_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8888:localhost:8888", ForwardSpec(8888, "localhost", 8888)),
        ("localhost:8888:localhost:9999", ForwardSpec(8888, "localhost", 9999)),
        ("127.0.0.1:6006:10.0.0.5:6006", ForwardSpec(6006, "10.0.0.5", 6006)),
        ("5432:[db.internal]:5432", ForwardSpec(5432, "db.internal", 5432)),
    ],
)
def test_specs_as_ssh_writes_them(text: str, expected: ForwardSpec) -> None:
    assert parse_forward(text) == expected


@pytest.mark.parametrize("bind", ["0.0.0.0", "*", "192.168.1.10", ""])
def test_a_bind_address_other_than_localhost_is_refused(bind: str) -> None:
    with pytest.raises(UsageError, match="forwards listen on localhost only"):
        parse_forward(f"{bind}:8888:localhost:8888")


@pytest.mark.parametrize(
    "text", ["8888", "8888:localhost", "x:localhost:1", "0:localhost:1", "1:localhost:65536", "1::2"]
)
def test_malformed_specs_are_named(text: str) -> None:
    with pytest.raises(UsageError, match=r"-L"):
        parse_forward(text)


def test_p_forwards_the_same_port_to_the_machines_localhost() -> None:
    assert same_port("6006") == ForwardSpec(6006, "localhost", 6006)
    with pytest.raises(UsageError, match="is not a port"):
        same_port("tensorboard")

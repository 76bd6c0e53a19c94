"""The gang link (remote/jobs/gang.py) over real loopback TCP: a hub and its members in this process, each as
a supervisor would use it (`stop_request` while its job runs, `job_ended` once it ended)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from weatherballoon.remote.jobs import gang
from weatherballoon.remote.jobs.gang import GangSpec, Hub, Member

from tests.support.waiting import wait_for


@pytest.fixture(autouse=True)
def quick_beats(monkeypatch: pytest.MonkeyPatch) -> None:
    # The protocol's timing, compressed: beats every 0.1 s, silence counts after 0.6 s.
    monkeypatch.setattr(gang, "BEAT_S", 0.1)
    monkeypatch.setattr(gang, "DEAD_AFTER_S", 0.6)
    monkeypatch.setattr(gang, "STOP_WAIT_S", 2.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def spec_for() -> Iterator[object]:
    port = free_port()

    def make(rank: int, nodes: int = 3, token: str = "secret") -> GangSpec:
        return GangSpec(rank, nodes, "127.0.0.1", port, token)

    yield make


def test_a_gang_that_all_exits_0_ends_with_no_failure(spec_for) -> None:  # type: ignore[no-untyped-def]
    hub = Hub(spec_for(0)).start()
    members = [Member(spec_for(rank)).start() for rank in (1, 2)]
    assert [member.job_ended(0) for member in members] == [None, None]
    assert hub.job_ended(0) is None


def test_the_first_failing_rank_stops_the_others_with_its_code(spec_for) -> None:  # type: ignore[no-untyped-def]
    hub = Hub(spec_for(0)).start()
    one, two = Member(spec_for(1)).start(), Member(spec_for(2)).start()
    wait_for(lambda: len(hub.members) == 2 or None, 5, "both members joined")
    assert two.job_ended(3) is None  # its own failure: nothing stopped it
    stop = wait_for(one.stop_request, 5, "rank 1 told to stop")
    assert (stop.rank, stop.code, stop.reason) == (2, 3, "exited with 3")
    assert hub.stop_request() is not None
    one_end = one.job_ended(143)  # its job ended on the SIGTERM
    assert one_end is not None and one_end.code == 3
    failure = hub.job_ended(143)
    assert failure is not None and failure.line() == (
        "gang: rank 2 exited with 3; the other ranks were stopped; exit code 3"
    )


def test_a_silent_member_is_given_up_on_and_the_gang_stops(spec_for) -> None:  # type: ignore[no-untyped-def]
    hub = Hub(spec_for(0, nodes=2)).start()
    sock = socket.create_connection(("127.0.0.1", hub.spec.hub_port))
    sock.sendall(b"hello secret 1\n")  # joins, then never says anything again (its machine is gone)
    started = time.monotonic()
    stop = wait_for(lambda: hub.failure, 5, "the hub gave up on rank 1")
    assert stop.rank == 1 and stop.code == gang.LOST_CODE and "stopped answering" in stop.reason
    assert time.monotonic() - started < 0.6 + 0.1 + 1.0
    assert hub.job_ended(143) is stop
    sock.close()


def test_members_stop_when_rank_0_goes_silent(spec_for) -> None:  # type: ignore[no-untyped-def]
    fake_hub = socket.create_server(("127.0.0.1", spec_for(0).hub_port))
    member = Member(spec_for(1, nodes=2)).start()
    conn, _ = fake_hub.accept()
    assert conn.recv(100).startswith(b"hello secret 1")
    conn.sendall(b"ok\n")  # then silence: rank 0's machine vanished without closing anything
    stop = wait_for(member.stop_request, 5, "rank 1 noticed rank 0 is gone")
    assert stop.rank == 0 and stop.code == gang.LOST_CODE and "stopped answering" in stop.reason
    conn.close()
    fake_hub.close()


def test_a_wrong_token_never_joins(spec_for) -> None:  # type: ignore[no-untyped-def]
    hub = Hub(spec_for(0, nodes=2)).start()
    intruder = socket.create_connection(("127.0.0.1", hub.spec.hub_port))
    intruder.sendall(b"hello guessed 1\n")
    intruder.settimeout(5)
    assert intruder.recv(100) == b""  # closed without an answer
    assert hub.members == {}
    member = Member(spec_for(1, nodes=2)).start()
    assert member.job_ended(0) is None
    assert hub.job_ended(0) is None


def test_the_others_are_stopped_with_0_some_time_after_rank_0_exits_0(  # type: ignore[no-untyped-def]
    spec_for, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gang, "RANK0_DONE_GRACE_S", 0.5)
    hub = Hub(spec_for(0, nodes=2)).start()
    idle = Member(spec_for(1, nodes=2)).start()  # `sleep infinity` beside rank 0's mpirun
    wait_for(lambda: hub.members or None, 5, "rank 1 joined")
    ended: list[object] = []
    import threading

    threading.Thread(target=lambda: ended.append(hub.job_ended(0)), daemon=True).start()
    stop = wait_for(idle.stop_request, 5, "rank 1 told to stop after the grace")
    assert (stop.rank, stop.code) == (0, 0) and "had 0.5 s to end" in stop.reason
    assert idle.job_ended(143) is stop
    wait_for(lambda: ended or None, 5, "the hub is done")
    assert ended[0] is not None and ended[0].rank == 0  # rank 0's own: its recorded code stays its own 0


def test_a_member_that_never_joins_is_given_up_on(spec_for, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(gang, "HUB_JOIN_WINDOW_S", 0.5)
    hub = Hub(spec_for(0, nodes=2)).start()  # rank 1's machine died before its supervisor reached rank 0
    stop = wait_for(lambda: hub.failure, 5, "the hub gave up on rank 1")
    assert (stop.rank, stop.code) == (1, gang.LOST_CODE) and "never joined" in stop.reason
    assert hub.job_ended(143) is stop

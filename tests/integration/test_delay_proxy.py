"""The delay proxy that benchmarks use instead of netem: it adds the round trip it promises, and no more."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.delay_proxy import DelayProxy
from tests.support.waiting import wait_for


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    yield ("127.0.0.1", server.getsockname()[1])
    server.close()


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        data = sock.recv(min(1 << 16, size - got))
        assert data, "connection closed early"
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _median_rtt_ms(address: tuple[str, int], rounds: int = 15) -> float:
    with _connect(address) as sock:
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            sock.sendall(b"p")
            assert _recv_exactly(sock, 1) == b"p"
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def test_adds_the_configured_round_trip(echo_server: tuple[str, int]) -> None:
    direct = _median_rtt_ms(echo_server)
    with DelayProxy(echo_server, up_ms=25, down_ms=25, lifetime_s=60) as proxy:
        delayed = _median_rtt_ms(("127.0.0.1", proxy.port))
    added = delayed - direct
    print(f"direct RTT {direct:.2f} ms, through the proxy {delayed:.2f} ms, added {added:.2f} ms (want 50)")
    assert 49 <= added <= 60


def test_asymmetric_delays_add_up(echo_server: tuple[str, int]) -> None:
    with DelayProxy(echo_server, up_ms=40, down_ms=0, lifetime_s=60) as proxy:
        delayed = _median_rtt_ms(("127.0.0.1", proxy.port), rounds=5)
    assert 39 <= delayed <= 50


def test_chunks_in_flight_wait_together_and_arrive_intact(echo_server: tuple[str, int]) -> None:
    """100 writes in a row cost one delay, not 100; 8 MiB come back byte for byte and in order."""
    payload = bytes(range(256)) * (8 * 4096)
    with (
        DelayProxy(echo_server, up_ms=25, down_ms=25, lifetime_s=60) as proxy,
        _connect(("127.0.0.1", proxy.port)) as sock,
    ):
        start = time.perf_counter()
        for index in range(100):
            sock.sendall(index.to_bytes(2, "big"))
        echoed = _recv_exactly(sock, 200)
        burst_ms = (time.perf_counter() - start) * 1000
        assert echoed == b"".join(index.to_bytes(2, "big") for index in range(100))

        sender = threading.Thread(target=sock.sendall, args=(payload,))
        start = time.perf_counter()
        sender.start()
        received = _recv_exactly(sock, len(payload))
        sender.join()
        bulk_s = time.perf_counter() - start
    print(f"100 small writes echoed in {burst_ms:.1f} ms; 8 MiB echoed in {bulk_s * 1000:.0f} ms")
    assert burst_ms < 150
    assert received == payload
    assert bulk_s < 3


def test_orderly_close_is_relayed(echo_server: tuple[str, int]) -> None:
    with (
        DelayProxy(echo_server, up_ms=5, down_ms=5, lifetime_s=60) as proxy,
        _connect(("127.0.0.1", proxy.port)) as sock,
    ):
        sock.sendall(b"last words")
        sock.shutdown(socket.SHUT_WR)
        assert _recv_exactly(sock, 10) == b"last words"
        assert sock.recv(10) == b""


def test_lifetime_bounds_the_proxy(echo_server: tuple[str, int]) -> None:
    proxy = DelayProxy(echo_server, up_ms=0, down_ms=0, lifetime_s=0.3).start()
    sock = _connect(("127.0.0.1", proxy.port))
    wait_for(lambda: proxy.closed, 5, "the proxy to close at the end of its lifetime", interval=0.02)
    with sock, pytest.raises(OSError):
        sock.sendall(b"x")
        if not sock.recv(1):
            raise ConnectionResetError("closed by the proxy")
    with pytest.raises(OSError):
        _connect(("127.0.0.1", proxy.port)).close()

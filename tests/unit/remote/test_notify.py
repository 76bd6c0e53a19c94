"""The notify pipe between a supervisor and the process that forked it."""

from __future__ import annotations

import os

from weatherballoon.remote.jobs import notify


def test_start_then_end_arrive_in_order_even_in_one_read() -> None:
    read_fd, write_fd = os.pipe()
    notify.send_started(write_fd, 4242)
    notify.send_ended(write_fd, 124, 15, "max-time")
    os.close(write_fd)
    pipe = notify.NotifyPipe(read_fd)
    assert pipe.wait_started() and pipe.job_pid == 4242
    assert pipe.ended and (pipe.exit_code, pipe.stop_reason) == (124, "max-time")


def test_an_end_without_signal_or_reason() -> None:
    read_fd, write_fd = os.pipe()
    notify.send_started(write_fd, None)
    notify.send_ended(write_fd, 3, None, None)
    os.close(write_fd)
    pipe = notify.NotifyPipe(read_fd)
    pipe.wait_started()
    pipe.read()
    assert (pipe.job_pid, pipe.exit_code, pipe.stop_reason) == (None, 3, None)


def test_a_supervisor_that_dies_silently_is_seen_as_closed() -> None:
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    pipe = notify.NotifyPipe(read_fd)
    assert not pipe.wait_started()
    assert pipe.closed and not pipe.ended


def test_sending_to_a_vanished_reader_is_quiet() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    notify.send_started(write_fd, 1)  # EPIPE, swallowed
    os.close(write_fd)

"""An interactive shell over the session: the local terminal in raw mode, a remote pty of the same size."""

from __future__ import annotations

import os
import select
import shutil
import sys
import termios
import tty

from .connection import SshSession


def interactive_shell(session: SshSession) -> int:
    columns, lines = shutil.get_terminal_size()
    channel = session.channel()
    channel.get_pty(term=os.environ.get("TERM", "xterm"), width=columns, height=lines)
    channel.invoke_shell()
    stdin_fd = sys.stdin.fileno()
    saved = termios.tcgetattr(stdin_fd)
    try:
        tty.setraw(stdin_fd)
        while True:
            ready, _, _ = select.select([channel, stdin_fd], [], [])
            if channel in ready:
                data = channel.recv(1 << 15)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if stdin_fd in ready:
                typed = os.read(stdin_fd, 1024)
                if not typed:
                    break
                channel.sendall(typed)
    finally:
        termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
    return int(channel.recv_exit_status()) if channel.exit_status_ready() else 0

"""A command run in the background whose stdout and stderr are collected as they arrive, by two reader threads,
so a test can wait for a line, act (kill the client, cut a link), then collect the rest."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any


class Attached:
    """`proc` must have been started with stdout and stderr piped. `what` names it in errors, which are of
    the class `error`."""

    def __init__(self, proc: subprocess.Popen[bytes], what: str, *, error: type[Exception] = AssertionError) -> None:
        self.proc = proc
        self.what = what
        self.error = error
        self.started_at = time.time()
        self.out = bytearray()
        self.err = bytearray()
        self._readers = [
            threading.Thread(target=self._collect, args=(proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._collect, args=(proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream: Any, into: bytearray) -> None:
        while chunk := stream.read1(65536):
            into.extend(chunk)

    @property
    def stdout(self) -> str:
        return self.out.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.decode(errors="replace")

    def wait_stdout(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of `pattern` on stdout so far, waiting for it up to `timeout` s; an error if the
        command exits, or the time passes, without printing it."""
        return self._wait_output(lambda: self.stdout, "stdout", pattern, timeout)

    def wait_stderr(self, pattern: str, timeout: float) -> re.Match[str]:
        """`wait_stdout`, on stderr."""
        return self._wait_output(lambda: self.stderr, "stderr", pattern, timeout)

    def _wait_output(self, text: Callable[[], str], stream: str, pattern: str, timeout: float) -> re.Match[str]:
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while not (found := compiled.search(text())):
            exited = self.proc.poll() is not None
            if exited or time.monotonic() > deadline:
                time.sleep(0.3)  # let the readers drain what is already written
                if found := compiled.search(text()):
                    break
                why = f"exited {self.proc.returncode} before printing" if exited else "did not print"
                why += f" on {stream}"
                raise self.error(
                    f"{self.what} {why} {pattern!r} within {timeout:g} s\nstdout: {self.stdout[-1500:]}\n"
                    f"stderr: {self.stderr[-3000:]}"
                )
            time.sleep(0.05)
        return found

    def wait(self, timeout: float) -> int:
        """Its exit code, once it and the readers are done (an error after `timeout` s, leaving it running)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise self.error(f"{self.what} still ran after {timeout:g} s") from None
        for reader in self._readers:
            reader.join(10)
        return code

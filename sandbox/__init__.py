"""The sandbox, `weatherballoon.sandbox`: an offline AWS built from real parts, for newcomers and for wb's own
end-to-end tests. It emulates AWS and hosts; it is not part of the client, which imports it only from the thin
`wb sandbox` command (`cli/commands/sandbox.py`). Its third-party packages come with the `[sandbox]` extra.

A background daemon (`daemon.py`) runs a moto server on localhost, deploys the supervision stack into it with
the real bootstrap code, runs the reaper handler on a timer, and gives every instance moto launches a real
host: a network namespace at the instance's private IP with an OpenSSH sshd, booted from the instance's
user-data. `control.py` starts, inspects and stops it; `cleanup.py` removes what a crashed daemon left;
`launchers/` starts moto and sshd, for the sandbox and for the tests alike.
Nothing here is imported by `wb run`: the aws provider sees only moto's endpoint and real hosts.
"""

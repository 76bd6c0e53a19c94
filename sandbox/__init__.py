"""`wb sandbox`: an offline AWS built from real parts, for newcomers and for wb's own end-to-end tests.

A background daemon (`daemon.py`) runs a moto server on localhost, deploys the supervision stack into it with
the real bootstrap code, runs the reaper handler on a timer, and gives every instance moto launches a real
host: a network namespace at the instance's private IP with an OpenSSH sshd, booted from the instance's
user-data. `control.py` starts, inspects and stops it; `cleanup.py` removes what a crashed daemon left.
Nothing here is imported by `wb run`: the aws provider sees only moto's endpoint and real hosts.
"""

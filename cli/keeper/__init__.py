"""The connection keeper: a per-user background process that holds authenticated SSH transports warm between
wb commands, behind a private Unix socket, or loopback TCP and a secret where there are no Unix sockets
(Windows; loopback.py) (docs/supervision.md, "Leases follow commands"; docs/config.md, "The connection keeper").

`client` is safe to import anywhere (it never imports an SSH library); `server` runs in the keeper process
itself.
"""

"""The connection keeper: a per-user background process that holds authenticated SSH transports warm between
wb commands, behind a private Unix socket (docs/supervision.md, "Leases follow commands").

`client` is safe to import anywhere (it never imports an SSH library); `server` is POSIX-only and runs in the
keeper process itself.
"""

"""The commented starter file `wb init` writes. Comments are allowed in the config (see positions.py)."""

from __future__ import annotations

import json


def starter_text(*, kind: str, hosts: list[str]) -> str:
    if kind == "ssh":
        host_list = json.dumps(hosts or ["ubuntu@gpu-box.example:22"])
        provisioner = f"""    // Machines you already have. wb picks an idle one, else the least busy.
    "kind": "ssh",
    "hosts": {host_list},
    // Key to log in with; default: ssh-agent, then ~/.ssh/id_ed25519, then ~/.ssh/id_rsa.
    // "identityFile": "~/.ssh/id_ed25519",
    // "strict" refuses unknown host keys; "accept-new" trusts a first-seen key and remembers it.
    "hostKeyPolicy": "strict\""""
    else:
        provisioner = """    // Launched on demand in the account where `wb bootstrap` ran.
    "kind": "aws",
    // "region": "us-west-2",          // default: the AWS credential chain's region
    "instanceType": "g5.xlarge",       // GPU types: g4dn, g5, g6, g6e, p3, p4d, p5
    "spot": false                      // true: try spot in each AZ, then on-demand"""
    return f"""// Weatherballoon configuration. Reference: docs/config.md. Check it with: wb config show
{{
  "version": 1,
  "provisioner": {{
{provisioner}
  }},
  "sync": {{
    // Extra gitignore-style patterns not to upload (git's own ignore rules always apply).
    "fileExcludes": [],
    // Globs, relative to the remote project folder, brought back after each attached job.
    "outputs": []
  }},
  "supervision": {{
    "leaseMinutes": 5,   // how far ahead each renewal extends the lease
    "idleMinutes": 10,   // keep-warm time after the last job
    "maxHours": 24       // lifetime cap of a machine
  }}
}}
"""

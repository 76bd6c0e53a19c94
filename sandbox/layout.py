"""Where one sandbox keeps its state: `<data dir>/sandbox/`, readable by `status`, `env` and `down`.

sandbox.json      the daemon's state (phase, pid, endpoint, names to clean up)
options.json      what `up` asked for
hosts.json        the host manager's table, rewritten on every change
reaper.json       the reaper timer's last run
weatherballoon.json   the generated config (the same settings `wb sandbox env` exports)
venv/             the python every host runs as /opt/wb/venv
hosts/<id>/       one host: home, /opt/wb, ssh host key and sshd config
logs/             daemon.log, reaper.log, moto.log, <instance>.sshd.log, <instance>.boot.log
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def default(cls) -> Layout:
        from weatherballoon.cli.paths import data_dir

        return cls(data_dir() / "sandbox")

    @property
    def state_file(self) -> Path:
        return self.root / "sandbox.json"

    @property
    def options_file(self) -> Path:
        return self.root / "options.json"

    @property
    def hosts_file(self) -> Path:
        return self.root / "hosts.json"

    @property
    def reaper_file(self) -> Path:
        return self.root / "reaper.json"

    @property
    def config_file(self) -> Path:
        return self.root / "weatherballoon.json"

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def hosts_dir(self) -> Path:
        return self.root / "hosts"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def eice_dir(self) -> Path:
        """The Instance Connect Endpoint's files: its TLS certificate, the endpoint list moto answers
        DescribeInstanceConnectEndpoints from, and `pushed/<instance>/<user>`, the keys pushed to hosts."""
        return self.root / "eice"

    def pushed_keys(self, instance_id: str) -> Path:
        return self.eice_dir / "pushed" / instance_id

    def host_dir(self, instance_id: str) -> Path:
        return self.hosts_dir / instance_id

    def log(self, name: str) -> Path:
        return self.logs / name

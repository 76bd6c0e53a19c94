"""One host: the machine behind one moto instance. Made when the instance appears, booted from its user-data,
ended when the instance goes away.

    create   user-data read; home, /opt/wb, /run and the login key laid out; namespace and veth at the private
             IP; sshd (with PAM) started inside and answering
    boot     the user-data's root setup (every line before the boot program: dead-man timer, sudo grant,
             login key) run verbatim inside the host as root, as cloud-init would; then
             `/opt/wb/venv/bin/python /opt/wb/boot.py` inside the host, as root, with the sandbox's settings
             (no IMDS: identity comes from the environment)
    remove   every process of the host killed, link and namespace deleted, its folder removed
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import network
from .account import Account
from .errors import SandboxError
from .hostfs import OPT, VENV_PYTHON, HostFs
from .launchers import sshd
from .layout import Layout
from .power import HostPower
from .records import DUMMY_KEY_ID, DUMMY_SECRET, HostRecord, SandboxState, renew_seconds
from .userdata import UserData

log = logging.getLogger("wb.sandbox.host")
BOOT_TIMEOUT_S = 330.0  # boot.py waits up to 300 s for the client to write the instance row
SETUP_TIMEOUT_S = 120.0
PATH = f"{OPT}/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class HostContext:
    """What every host of one sandbox shares."""

    layout: Layout
    state: SandboxState
    account: Account
    aws_account: str  # the moto account id


@dataclass(frozen=True)
class Launch:
    """The facts about an instance a host is made from."""

    instance_id: str
    private_ip: str
    user_data: UserData
    key_pair_public_key: str | None = None


def agent_env_extra(context: HostContext, lease_minutes: float | None) -> dict[str, str]:
    """The agent.env lines the sandbox sets on every host (on EC2 these keep their defaults). The renewal
    period follows the instance's own lease (its `# wb:lease-minutes`), else the sandbox's. The power
    commands keep their defaults: they run against the host's emulated systemd."""
    state = context.state
    return {
        "WB_RENEW_SECONDS": f"{renew_seconds(lease_minutes or state.options.lease_minutes):g}",
        "AWS_ENDPOINT_URL": state.host_endpoint,
        "AWS_ACCESS_KEY_ID": DUMMY_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class Host:
    def __init__(self, context: HostContext, launch: Launch) -> None:
        self.context = context
        self.launch = launch
        self.fs = HostFs(
            context.layout.host_dir(launch.instance_id), context.layout.venv, context.account, launch.private_ip
        )
        namespace, near, far = network.names_for(
            context.state.namespace_prefix, context.state.link_prefix, launch.instance_id
        )
        self.link = network.HostLink(namespace, launch.private_ip, near, far)
        self.record = HostRecord(
            instance_id=launch.instance_id,
            private_ip=launch.private_ip,
            namespace=namespace,
            user=context.account.name,
            created_at=time.time(),
        )
        self.sshd: subprocess.Popen[bytes] | None = None
        self.power = HostPower(self.fs, self.spawn_unit)

    @property
    def instance_id(self) -> str:
        return self.launch.instance_id

    def log_file(self, kind: str) -> Path:
        return self.context.layout.log(f"{self.instance_id}.{kind}.log")

    def check(self) -> str | None:
        """The login key (None: logins use keys pushed with SendSSHPublicKey only), or a SandboxError saying
        why this instance gets no host."""
        data = self.launch.user_data
        if data.boot_program is None and data.user is None:
            raise SandboxError("its user-data is not wb's (no `# wb:user` line, no boot program)")
        if data.user != self.context.account.name:
            raise SandboxError(
                f"its user-data logs in as {data.user!r}, but sandbox hosts log in as {self.context.account.name!r}",
                hint="use the settings of `wb sandbox env` (provisioner.os.username is the sandbox's account)",
            )
        key = data.authorized_key or self.launch.key_pair_public_key
        if data.boot_program is None or data.root_setup is None:
            raise SandboxError("its user-data has no boot program (cat > /opt/wb/boot.py <<'WB_BOOT' ... WB_BOOT)")
        return key

    def create(self) -> None:
        key = self.check()
        fs = self.fs
        fs.create()
        ssh_dir = fs.home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(key.strip() + "\n" if key else "")
        (ssh_dir / "authorized_keys").chmod(0o600)
        fs.chown_tree(ssh_dir)
        assert self.launch.user_data.boot_program is not None
        (fs.opt / "boot.py").write_text(self.launch.user_data.boot_program)
        (fs.opt / "user-data").write_text(self.launch.user_data.text)
        (fs.opt / "user-data").chmod(0o600)
        (fs.opt / "user-data-setup").write_text(self.launch.user_data.root_setup or "")
        (fs.opt / "user-data-setup").chmod(0o700)
        state = self.context.state
        network.create(self.link.namespace, self.link.address, self.link.near_if, self.link.far_if,
                       state.gateway or network.GATEWAY, state.network)  # fmt: skip
        # Keys pushed with SendSSHPublicKey log in for 60 s, as Ubuntu's ec2-instance-connect lets them.
        pushed = sshd.pushed_keys_lines(self.context.layout.pushed_keys(self.instance_id))
        config = sshd.write_config(fs.ssh, self.link.address, extra=pushed)
        self.sshd = sshd.start(fs.enter(self.link.namespace, sshd.command(config)), self.log_file("sshd"))
        sshd.wait_ready(self.sshd, self.link.address, self.log_file("sshd"))
        self.record = self.record.replace(
            state="booting", fingerprint=sshd.fingerprint(fs.ssh / "ssh_host_ed25519_key.pub")
        )

    def boot_environment(self) -> dict[str, str]:
        state = self.context.state
        extra = agent_env_extra(self.context, self.launch.user_data.lease_minutes)
        env: dict[str, str] = {
            "PATH": PATH,
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL": state.host_endpoint,
            "AWS_ACCESS_KEY_ID": DUMMY_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
            "AWS_DEFAULT_REGION": state.options.region,
            "AWS_REGION": state.options.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "WB_INSTANCE_ID": self.instance_id,
            "WB_REGION": state.options.region,
            "WB_ACCOUNT": self.context.aws_account,
            "WB_HOST_KEY_PUB": str(self.fs.ssh / "ssh_host_ed25519_key.pub"),
            "WB_USER_DATA": f"{OPT}/user-data",
            "WB_AGENT_ENV_EXTRA": "".join(f"{key}={value}\n" for key, value in extra.items()),
            **extra,
        }
        if state.table_name:
            env["WB_TABLE"] = state.table_name
        if state.bucket:
            env["WB_BUCKET"] = state.bucket
        return env

    def root_environment(self) -> dict[str, str]:
        return {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8"}

    def run_root_setup(self) -> None:
        """The user-data's lines before the boot program, as root in the host (cloud-init goes on after a
        failing line, and so does this; the output is in the boot log)."""
        argv = self.fs.enter(self.link.namespace, ["/bin/bash", f"{OPT}/user-data-setup"])
        with open(self.log_file("boot"), "ab") as out:
            try:
                done = subprocess.run(argv, env=self.root_environment(), stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=out, timeout=SETUP_TIMEOUT_S, check=False)  # fmt: skip
            except subprocess.TimeoutExpired:
                raise SandboxError(f"the user-data's root setup ran past {SETUP_TIMEOUT_S:.0f} s") from None
            out.write(f"wb sandbox: the user-data's root setup exited {done.returncode}\n".encode())

    def spawn_unit(self, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        """A command the host's emulated systemd starts (a timer's service), as root in the host."""
        with open(self.log_file("units"), "ab") as out:
            return subprocess.Popen(self.fs.enter(self.link.namespace, list(argv)), env=self.root_environment(),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out)  # fmt: skip

    def boot(self) -> None:
        """Run the user-data's root setup, then its boot program, inside the host; SandboxError when boot fails."""
        self.run_root_setup()
        argv = self.fs.enter(self.link.namespace, [VENV_PYTHON, f"{OPT}/boot.py"])
        with open(self.log_file("boot"), "ab") as out:
            try:
                done = subprocess.run(
                    argv, env=self.boot_environment(), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    timeout=BOOT_TIMEOUT_S, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                raise SandboxError(f"boot.py did not finish within {BOOT_TIMEOUT_S:.0f} s") from None
        if done.returncode != 0:
            tail = self.log_file("boot").read_text(errors="replace").strip().splitlines()[-1:]
            raise SandboxError(f"boot.py exited {done.returncode}: {' '.join(tail)}")
        self.ensure_agent_env(agent_env_extra(self.context, self.launch.user_data.lease_minutes))
        now = time.time()
        self.record = self.record.replace(state="ready", ready_at=now, deadline=self.power.deadline(now))

    def ensure_agent_env(self, values: Mapping[str, str]) -> None:
        """The sandbox's lines in agent.env, whether or not this boot program passed them on."""
        path = self.fs.home / ".weatherballoon" / "agent.env"
        text = path.read_text() if path.exists() else ""
        have = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        if any(have.get(key) != value for key, value in values.items()):
            self.fs.merge_agent_env(values)

    def remove(self) -> None:
        """Idempotent: the host stops existing (processes, network, files)."""
        network.remove(self.link)
        self.power.stop()
        self.fs.unmount_etc()
        if self.sshd is not None:
            try:
                self.sshd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("sshd of %s did not exit", self.instance_id)
        shutil.rmtree(self.fs.root, ignore_errors=True)

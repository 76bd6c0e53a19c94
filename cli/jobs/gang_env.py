"""The environment contract of a gang (`wb run --nodes N`): what every rank's job finds in its environment.

One source for docs/multinode.md's table. GPUS_PER_NODE (and the SkyPilot and dstack names for it) is the
GPU count `nvidia-smi -L` gave on rank 0, or 1 on a machine without GPUs: torchrun wants one process per
node at least, so a recipe written for GPUs runs unchanged on CPU machines (with the gloo backend).
WB_GPUS_PER_NODE_FOUND is the count as found, 0 included. WB_HOSTFILE is added by each rank's agent (the
file lives in the job's folder there); WB_GANG_TOKEN is the gang link's secret, taken out before the job
starts, as are the WB_GANG_SSH_* values of `--gang-ssh` (GangSshKeys).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The code a gang ends with when a rank's machine or supervisor is gone (remote/jobs/gang.py, LOST_CODE).
LOST_CODE = 255


@dataclass(frozen=True)
class GangSshKeys:
    """The per-run key of the gang's own ssh (`--gang-ssh`, remote/jobs/gang_ssh.py): the private half goes
    to rank 0 only, with a known_hosts of the other ranks' host keys; the public half to the others."""

    private_key: str = field(repr=False)  # OpenSSH format
    public_key: str  # `ssh-ed25519 BASE64`
    known_hosts: str  # `ADDRESS ssh-ed25519 BASE64` per other rank

    def env_for(self, rank: int, rank0_address: str) -> list[tuple[str, str]]:
        if rank == 0:
            return [("WB_GANG_SSH_KEY", self.private_key), ("WB_GANG_SSH_KNOWN_HOSTS", self.known_hosts)]
        return [("WB_GANG_SSH_PUB", self.public_key), ("WB_GANG_SSH_FROM", rank0_address)]


@dataclass(frozen=True)
class GangLayout:
    addresses: tuple[str, ...]  # each rank's address as the others reach it, rank 0 first
    master_port: int  # free on rank 0 when probed: the job's rendezvous
    hub_port: int  # free on rank 0 when probed: the gang link (remote/jobs/gang.py)
    gpus_found: int  # nvidia-smi's count on rank 0
    token: str = field(repr=False)
    ssh: GangSshKeys | None = None  # with --gang-ssh

    @property
    def nodes(self) -> int:
        return len(self.addresses)

    @property
    def gpus_per_node(self) -> int:
        return max(1, self.gpus_found)


def rank_env(layout: GangLayout, rank: int) -> list[tuple[str, str]]:
    """The pairs rank `rank` gets, in a fixed order (after the user's own --env pairs, which they override)."""
    ips = "\n".join(layout.addresses)
    nodes = str(layout.nodes)
    per_node = str(layout.gpus_per_node)
    return [
        ("MASTER_ADDR", layout.addresses[0]),
        ("MASTER_PORT", str(layout.master_port)),
        ("NODE_RANK", str(rank)),
        ("NNODES", nodes),
        ("GPUS_PER_NODE", per_node),
        ("WB_NODE_IPS", ips),
        ("WB_GPUS_PER_NODE_FOUND", str(layout.gpus_found)),
        ("SKYPILOT_NODE_RANK", str(rank)),
        ("SKYPILOT_NODE_IPS", ips),
        ("SKYPILOT_NUM_NODES", nodes),
        ("SKYPILOT_NUM_GPUS_PER_NODE", per_node),
        ("DSTACK_NODE_RANK", str(rank)),
        ("DSTACK_NODES_NUM", nodes),
        ("DSTACK_MASTER_NODE_IP", layout.addresses[0]),
        ("DSTACK_NODES_IPS", ips),
        ("DSTACK_GPUS_PER_NODE", per_node),
        ("DSTACK_GPUS_NUM", str(layout.gpus_per_node * layout.nodes)),
        ("WB_GANG_TOKEN", layout.token),
        *(layout.ssh.env_for(rank, layout.addresses[0]) if layout.ssh is not None else ()),
    ]


def gang_run_options(layout: GangLayout, rank: int) -> list[str]:
    """The agent `run` options that make the job rank `rank` of the gang."""
    hub = f"{layout.addresses[0]}:{layout.hub_port}"
    return ["--gang-rank", str(rank), "--gang-nodes", str(layout.nodes), "--gang-hub", hub]

"""The sandbox daemon: `python -m weatherballoon.sandbox.daemon SANDBOX_DIR`, started detached by `up`.

It brings the parts up in order (moto, the Powertools layer, the stack unless `--no-stack`, the hosts'
account and python, the relay, the reaper timer, the firewall between hosts, the host manager), reporting each
step in `sandbox.json`, then waits for SIGTERM (`wb sandbox down`) and takes everything down again in reverse
order. If a step fails it says which and why, takes down what it had made, and exits 1.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import account, firewall, network, opt_dir
from .hostfs import OPT
from .launchers import moto
from .layout import Layout
from .records import SandboxOptions, SandboxState, read_json, write_json

log = logging.getLogger("wb.sandbox")
KEPT = ("WB_DATA_DIR", "WB_DEBUG")


class Daemon:
    def __init__(self, layout: Layout, options: SandboxOptions) -> None:
        self.layout = layout
        self.state = SandboxState(
            sandbox_id=secrets.token_hex(3), daemon_pid=os.getpid(), started_at=time.time(), options=options
        )
        self.stopping = threading.Event()
        self.moto: subprocess.Popen[bytes] | None = None
        self.parts: list[Any] = []  # things with stop(), in start order

    def save(self, **changes: Any) -> None:
        self.state = self.state.replace(**changes)
        write_json(self.layout.state_file, self.state)

    def step(self, text: str) -> None:
        log.info("%s", text)
        self.save(step=text)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.save(gateway=network.GATEWAY)
        try:
            self.start()
        except BaseException as exc:
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            log.exception("sandbox failed while %s", self.state.step)
            self.save(phase="failed", message=f"{self.state.step}: {message}")
            self.shutdown()
            return 1
        self.save(phase="ready", step="ready")
        log.info("sandbox %s ready at %s", self.state.sandbox_id, self.state.endpoint)
        while not self.stopping.wait(1.0):
            if self.moto is not None and self.moto.poll() is not None:
                log.error("the moto server exited (%s); going down", self.moto.returncode)
                self.save(phase="failed", message=f"the moto server exited ({self.moto.returncode})")
                break
        failed = self.state.phase == "failed"
        if not failed:
            self.save(phase="stopping", step="stopping")
        self.shutdown()
        return 1 if failed else 0

    def start(self) -> None:
        from weatherballoon.cli.aws_account.session import AwsSession, AwsSettings
        from weatherballoon.cli.aws_account.template import shipped_template

        from .eice.sandbox_endpoint import start_endpoint
        from .firewall import Firewall
        from .host import HostContext
        from .hosts import HostManager
        from .records import DUMMY_KEY_ID, DUMMY_SECRET
        from .relay import Relay
        from .settings import config_document
        from .stack import bootstrap, publish_powertools_layer, sandbox_vpc
        from .venv import build

        options = self.state.options
        self.step("starting the moto server")
        port = moto.free_port()
        eice = self.layout.eice_dir
        (eice / "pushed").mkdir(parents=True, exist_ok=True)
        moto_env = {
            "WB_SANDBOX_PUSHED_KEYS": str(eice / "pushed"),
            "WB_SANDBOX_ENDPOINTS": str(eice / "endpoints.json"),
            "WB_SANDBOX_ACCESS_KEYS": str(eice / "access-keys"),
        }
        self.moto = moto.start(port, self.layout.log("moto.log"), env=moto_env)
        self.save(port=port, moto_pid=self.moto.pid)
        for key in [k for k in os.environ if k.startswith(("AWS_", "WB_")) and k not in KEPT]:
            del os.environ[key]
        os.environ.update(
            AWS_ENDPOINT_URL=self.state.endpoint, AWS_ACCESS_KEY_ID=DUMMY_KEY_ID, AWS_SECRET_ACCESS_KEY=DUMMY_SECRET,
            AWS_DEFAULT_REGION=options.region, AWS_REGION=options.region, AWS_EC2_METADATA_DISABLED="true",
        )  # fmt: skip
        aws = AwsSession(AwsSettings(region=options.region))
        self.step("publishing the Powertools layer; making the sandbox VPC")
        block = network.free_network()
        ec2, lambda_client = aws.client("ec2"), aws.client("lambda")  # clients are built here, used in threads
        with ThreadPoolExecutor(max_workers=1) as pool:  # moto's first EC2 call takes seconds: overlap it
            vpc = pool.submit(sandbox_vpc, ec2, block)
            publish_powertools_layer(lambda_client, shipped_template())
            vpc_id = vpc.result()
        self.save(network=str(block), vpc_id=vpc_id)
        network.fence(str(block))
        self.step("starting the EC2 Instance Connect Endpoint")
        endpoint = start_endpoint(self.layout, ec2, vpc_id, block, options)
        self.parts.append(endpoint)
        self.save(eice_id=endpoint.endpoint_id, ca_bundle=str(self.layout.eice_dir / "endpoint-cert.pem"))
        if options.stack:
            self.step("deploying the stack with wb bootstrap")
            facts = bootstrap(aws, options, vpc_id, endpoint, lambda text: log.info("bootstrap: %s", text))
            self.save(table_name=facts.table_name, bucket=facts.bucket)
        self.step("creating the hosts' login account")
        name = account.account_name(self.state.sandbox_id)
        self.save(account=name)
        login = account.create(name)
        self.save(account_created=True)
        write_json(self.layout.config_file, config_document(self.state))
        self.step("building the hosts' python (/opt/wb/venv)")
        opt_dir.claim(self.state.sandbox_id)
        self.save(opt_claimed=True)
        build(self.layout.venv, login, Path(OPT))
        self.step("starting the relay, the reaper timer and the host manager")
        self.parts.append(Relay((network.GATEWAY, port), ("127.0.0.1", port)).start())
        from .reaper_timer import ReaperTimer, reaper_functions

        identity = aws.identity()
        functions = functools.partial(reaper_functions, lambda_client)
        self.parts.append(ReaperTimer(options.reaper_period_s, functions, self.layout.reaper_file).start())
        host_context = HostContext(self.layout, self.state, login, identity.account)
        self.step("enforcing the security groups between hosts (nftables)")
        between_hosts = Firewall(aws.client("ec2"), self.state.sandbox_id, self.state.link_prefix).start()
        self.parts.append(between_hosts)
        self.parts.append(HostManager(host_context, aws.client("ec2"), firewall=between_hosts).start())

    def shutdown(self) -> None:
        """Reverse order; each part is stopped even if another fails."""
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception:
                log.exception("stopping %s", type(part).__name__)
        self.parts.clear()
        if self.state.network:
            network.remove_fence(self.state.network)
        firewall.remove(self.state.sandbox_id)
        if self.state.account_created and self.state.account:
            account.delete(self.state.account)
        if self.state.opt_claimed:
            opt_dir.release(self.state.sandbox_id)
        if self.moto is not None:
            moto.stop(self.moto)
        log.info("sandbox %s down", self.state.sandbox_id)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    layout = Layout(Path(args[0]))
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("botocore", "boto3", "urllib3"):  # "Found credentials ..." for every client built
        logging.getLogger(noisy).setLevel(logging.WARNING)
    options = SandboxOptions(**(read_json(layout.options_file) or {}))
    return Daemon(layout, options).run()


if __name__ == "__main__":
    sys.exit(main())

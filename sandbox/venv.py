"""The python every host runs as `/opt/wb/venv/bin/python`: what user-data builds on EC2 (`python3 -m venv`
and `pip install boto3`), built once per sandbox and mounted into each host.

It is a venv of this machine's own python3 (one every user may run: the login account is unprivileged),
and boto3 is installed offline, by copying boto3 and its requirements from the environment wb runs in.
Both are pure python. `up` checks the result by importing boto3 as the login account.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from importlib import metadata
from pathlib import Path

from .account import Account
from .errors import SandboxUnavailable
from .system import run, tool

CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3")
PACKAGES = ("boto3",)
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _everyone_may_run(path: Path) -> bool:
    real = path.resolve()
    if not os.access(real, os.X_OK) or not real.stat().st_mode & stat.S_IXOTH:
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in real.parents)


def machine_python() -> Path:
    for candidate in map(Path, CANDIDATES):
        if candidate.exists() and _everyone_may_run(candidate):
            return candidate
    raise SandboxUnavailable(
        "no python3 that every user may run (the hosts' login account is unprivileged)",
        hint="install the system python3 (e.g. apt-get install python3), then run `wb sandbox up` again",
    )


def requirements_closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions of `names` and, recursively, of what they require (extras left out)."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement for other pythons (a backport), not installed here
        found[key] = dist
        for requirement in dist.requires or []:
            if "extra" in requirement.partition(";")[2]:
                continue
            match = NAME.match(requirement)
            if match:
                todo.append(match.group(1))
    return list(found.values())


def link_distributions(dists: list[metadata.Distribution], site: Path) -> None:
    """Every file of `dists` into `site` (a site-packages folder): hard links where possible, else copies."""
    for dist in dists:
        for file in dist.files or []:
            relative = Path(str(file))
            if relative.is_absolute() or ".." in relative.parts or relative.suffix == ".pyc":
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                target = site / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                try:  # botocore is thousands of files: a hard link is instant, a copy takes seconds
                    os.link(source, target)
                except OSError:
                    shutil.copy2(source, target)


def build(venv: Path, account: Account, opt: Path) -> Path:
    """Create `venv` (once) and check it from the account's point of view, mounted at `opt` (/opt/wb)."""
    python = machine_python()
    if not (venv / "pyvenv.cfg").exists():
        run([str(python), "-m", "venv", "--without-pip", str(venv)], timeout=120)
        purelib = run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
        link_distributions(requirements_closure(PACKAGES), Path(purelib))
        for folder, dirs, _ in os.walk(venv):
            for name in dirs:
                os.chmod(os.path.join(folder, name), 0o755)
        venv.chmod(0o755)
    check = (
        f"mount --bind '{venv}' '{opt}' && exec {tool('runuser')} -u {account.name} -- "
        f"'{opt}/bin/python' -c 'import boto3, sys; print(sys.version.split()[0], boto3.__version__)'"
    )
    result = run([tool("unshare"), "--mount", "--propagation", "private", "--", "/bin/sh", "-c", check], check=False)
    if result.returncode != 0:
        raise SandboxUnavailable(
            f"the hosts' python ({python}) cannot import boto3 as {account.name}: "
            f"{(result.stderr or result.stdout).strip()[-400:]}",
            hint="the hosts need python3 >= 3.9 for this boto3; install a newer python3",
        )
    return venv

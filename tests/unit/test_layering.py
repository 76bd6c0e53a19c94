"""DESIGN §2's import rules as an allow-list, checked on the source: for each code folder, what it may import
(ours and third-party, the standard library always), and no import cycle among our modules.

Lazy imports (inside a function) count for the allow-list too: they are still what the folder needs."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from tests.unit.imports import FOLDERS, PACKAGE, ROOT, Import, all_imports, our_modules

# The standard library of the Python the tests run on, and the agent's private fast sha256 on 3.12+.
STDLIB = frozenset(sys.stdlib_module_names) | {"_sha2"}


@dataclass(frozen=True)
class Allow:
    name: str  # a module or package: the import matches it or anything under it
    lazy_only: bool = False  # only inside functions: the module must load without it
    only_in: tuple[str, ...] = ()  # only these files may import it

    def admits(self, found: Import) -> bool:
        if not (found.name == self.name or found.name.startswith(self.name + ".")):
            return False
        if self.lazy_only and not (found.lazy or found.typing_only):
            return False
        return not self.only_in or found.file in self.only_in

    def __str__(self) -> str:
        notes = ["lazily"] if self.lazy_only else []
        notes += [f"only in {', '.join(self.only_in)}"] if self.only_in else []
        return self.name + (f" ({'; '.join(notes)})" if notes else "")


def ours(folder: str, *, lazy_only: bool = False, only_in: tuple[str, ...] = ()) -> Allow:
    return Allow(f"{PACKAGE}.{folder}", lazy_only, only_in)


BOTO = (Allow("boto3"), Allow("botocore"))
RULES: dict[str, tuple[Allow, ...]] = {
    # The supervision model and the reaper handler.
    "lambdas": (ours("lambdas"), *BOTO, Allow("aws_lambda_powertools")),
    # The agent: the standard library (an ssh host has nothing else); boto3 only in the aws daemon's functions,
    # which run where /opt/wb/venv has it; the lambdas model. test_the_agent_loads_on_the_standard_library_alone
    # checks that the model modules it loads import nothing else either.
    "remote": (ours("remote"), ours("lambdas"), Allow("boto3", lazy_only=True), Allow("botocore", lazy_only=True)),
    # The CDK app: from lambdas only the names it must agree on (table keys, tags, limits, a gang's tags).
    "infra": (
        ours("infra"),
        *(ours(f"lambdas.{names}") for names in ("schema", "tags", "limits", "gang")),
        Allow("aws_cdk"),
        Allow("constructs"),
        Allow("cdk_nag"),
    ),
    # The client: everything but infra (it reads infra's template as package data, never its code), and the
    # sandbox only from its thin command, lazily, as that is an extra.
    "cli": (
        ours("cli"),
        ours("lambdas"),
        ours("remote"),
        ours("sandbox", lazy_only=True, only_in=("cli/commands/sandbox.py",)),
        *BOTO,
        Allow("click"),
        Allow("paramiko"),
        Allow("cryptography"),  # paramiko's own dependency: the aws provider's ephemeral keys
        Allow("pathspec"),
        Allow("pydantic"),
        Allow("rich"),
        Allow("websockets", lazy_only=True),  # the Instance Connect Endpoint tunnel, only when it is used
    ),
    # The offline AWS and hosts: it runs the client's bootstrap code, the reaper handler and the agent's
    # helpers; moto only inside the moto server's own process.
    "sandbox": (
        ours("sandbox"),
        ours("cli"),
        ours("lambdas"),
        ours("remote"),
        Allow("moto", lazy_only=True, only_in=("sandbox/launchers/moto_server.py",)),
        Allow("websockets", lazy_only=True),  # the sandbox's Instance Connect Endpoint
        Allow("cryptography", lazy_only=True, only_in=("sandbox/eice/tls.py",)),  # its TLS certificate
    ),
}


def offences(folder: str, imports: Iterable[Import]) -> list[str]:
    rules = RULES[folder]
    allowed = ", ".join(["the standard library", *map(str, rules)])
    return [
        f"{found}: {folder}/ may import only {allowed} (DESIGN §2)"
        for found in imports
        if found.file.startswith(folder + "/")
        and found.name.split(".")[0] not in STDLIB
        and not any(rule.admits(found) for rule in rules)
    ]


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports()


def test_every_code_folder_has_a_rule() -> None:
    assert set(RULES) == set(FOLDERS) == {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}


@pytest.mark.parametrize("folder", FOLDERS)
def test_folder_imports_only_what_its_rule_allows(folder: str, imports: list[Import]) -> None:
    assert offences(folder, imports) == []


def test_the_rules_catch_what_they_forbid() -> None:
    """Each kind of offence is named: a folder's import of a forbidden package, a lazy-only import made at
    module level, and an import allowed only elsewhere."""
    cases = [
        Import("lambdas/x.py", 3, "weatherballoon.cli.errors", lazy=True, typing_only=False),
        Import("remote/x.py", 4, "boto3", lazy=False, typing_only=False),
        Import("infra/x.py", 5, "weatherballoon.lambdas.reaper", lazy=False, typing_only=False),
        Import("cli/x.py", 6, "weatherballoon.infra.app", lazy=True, typing_only=False),
        Import("cli/commands/run.py", 7, "weatherballoon.sandbox.control", lazy=True, typing_only=False),
        Import("cli/commands/sandbox.py", 8, "weatherballoon.sandbox.control", lazy=False, typing_only=False),
        Import("sandbox/daemon.py", 9, "moto.server", lazy=True, typing_only=False),
    ]
    found = [line for folder in FOLDERS for line in offences(folder, cases)]
    assert len(found) == len(cases), found
    named = "lambdas/x.py:3 imports weatherballoon.cli.errors (lazily): lambdas/ may import only the standard library"
    assert any(line.startswith(named) for line in found), found
    assert offences("remote", [Import("remote/x.py", 4, "boto3", lazy=True, typing_only=False)]) == []


def test_the_parser_sees_lazy_relative_and_typing_imports() -> None:
    """Against a known file: cli/commands/sandbox.py imports the sandbox lazily and click at module level."""
    mine = [found for found in all_imports() if found.file == "cli/commands/sandbox.py"]
    assert any(f.name == "weatherballoon.sandbox.control" and f.lazy for f in mine)
    assert any(f.name == "click" and not f.lazy for f in mine)
    assert any(f.name == "weatherballoon.cli.errors" and not f.lazy for f in mine)  # `from ..errors import`


def module_graph(imports: Iterable[Import], *, with_lazy: bool) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (importing `a.b.c` also runs `a.b`, unless the importer is in
    it already)."""
    modules = our_modules()
    names = {path.relative_to(ROOT).as_posix(): name for name, path in modules.items()}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for found in imports:
        if found.typing_only or (found.lazy and not with_lazy) or not found.name.startswith(PACKAGE + "."):
            continue
        importer = names[found.file]
        parts = found.name.split(".")
        for depth in range(2, len(parts) + 1):
            target = ".".join(parts[:depth])
            inside = importer == target or importer.startswith(target + ".")
            if target in modules and target != importer and not (inside and depth < len(parts)):
                graph[importer].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_at_module_level(imports: list[Import]) -> None:
    found = [sorted(c) for c in cycles(module_graph(imports, with_lazy=False))]
    assert found == [], "modules that import each other when they load; break it with a lazy import or a move"


def test_no_import_cycle_even_through_lazy_imports(imports: list[Import]) -> None:
    """Lazy imports are how a module avoids paying for another at load, not a way around a cycle."""
    found = [sorted(c) for c in cycles(module_graph(imports, with_lazy=True))]
    assert found == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]


def test_the_agent_loads_on_the_standard_library_alone(imports: list[Import]) -> None:
    """Everything an agent module loads at module level, through our modules (the lambdas model included),
    imports only the standard library: the agent runs with the host's bare python3."""
    graph = module_graph(imports, with_lazy=False)
    outside = {
        (found.file, found.name)
        for found in imports
        if not (found.lazy or found.typing_only) and found.name.split(".")[0] not in (*STDLIB, PACKAGE)
    }
    files = {name: path.relative_to(ROOT).as_posix() for name, path in our_modules().items()}
    loaded: set[str] = set()
    todo = [name for name in graph if name.startswith(f"{PACKAGE}.remote")]
    while todo:
        name = todo.pop()
        if name not in loaded:
            loaded.add(name)
            todo += graph[name]
    assert sorted((file, name) for file, name in outside if file in {files[m] for m in loaded}) == []


def test_the_client_reaches_infra_only_as_package_data(imports: list[Import]) -> None:
    """cli reads the shipped template with importlib.resources, which loads `weatherballoon.infra` itself (its
    __init__): that must import nothing, so a plain install (no CDK) reads the template."""
    assert [str(found) for found in imports if found.file == "infra/__init__.py"] == []
    template = (ROOT / "cli" / "aws_account" / "template.py").read_text()
    assert 'files("weatherballoon.infra")' in template

"""Hypothesis strategies for what a user types or has on disk: config documents (JSON values, keys, nesting,
sizes, raw text), CLI arguments and flag values, environment values, job ids and path strings.

Each mixes the shapes that broke wb before (nan, inf, 1e400, 5,000-digit integers, NUL, lone surrogates,
globs as ids, `..` in globs, deep nesting, FIFOs and devices as files) with plain random text.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel
from weatherballoon.cli.config.schema import WbConfigSchema

from tests.fuzz.harness import BASE_CONFIG, CLOSED_HOST

# --- text ---------------------------------------------------------------------------------------------

HOSTILE_PIECES = ["\x00", "\ud800", "\udcff", "\u202e", "\n", "\r", "\t", "\\", '"', "'", "*", "?", "[", "]",
                  "..", "/", "~", "$", "`", "%s", "{", "}", "é", "💥", " ", "-", "--", "=", ",",
                  "\x1b[31m"]  # fmt: skip
hostile_text = st.lists(st.sampled_from(HOSTILE_PIECES), min_size=1, max_size=6).map("".join)
short_text = st.text(max_size=24)
texts = st.one_of(short_text, hostile_text, st.text(alphabet=st.characters(codec="ascii"), max_size=16))


def _argv_safe(text: str) -> str:
    """What an argv or environment value can hold: no NUL, and of the lone surrogates only \\udc80-\\udcff,
    which stand for undecodable bytes (Python's surrogateescape)."""
    return "".join(c for c in text if c != "\x00" and not ("\ud800" <= c <= "\udfff" and not "\udc80" <= c <= "\udcff"))


def no_nul(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return strategy.map(_argv_safe)


argv_text = no_nul(texts)

# --- numbers and durations, as text -----------------------------------------------------------------------

SPECIAL_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e-400", "0", "-0", "-1", "0.0001",
                   "1440", "1441", "8761", "1e9", "1e10", "9.3e9", "9" * 5000, "0x10", "1_000", " 5 ", "",
                   "5,5"]  # fmt: skip
number_text = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    argv_text,
)
duration_text = st.one_of(
    number_text,
    st.builds(lambda n, unit: f"{n}{unit}", st.integers(-5, 10**13), st.sampled_from(["s", "m", "h", "d", "x", ""])),
    st.sampled_from(["1h30m", "90s", "366d", "367d", "1e12s", "0s", "1.5.5m", "2h-5m", "m", "9" * 400 + "d"]),
)

# --- globs, job ids, paths --------------------------------------------------------------------------------

globs = st.one_of(
    st.sampled_from(
        [
            "../*",
            "/etc/*",
            "~/x",
            "out/**",
            "**",
            "./x",
            "a/../b",
            "[",
            "**/*.pt",
            "a\\",
            "",
            "..",
            ".",
            "!x",
            "*" * 50,
            "a/" * 40,
        ]
    ),
    argv_text,
)
job_ids = st.one_of(
    st.sampled_from(
        [
            "*",
            "?",
            "[0-9]*",
            "",
            ".",
            "..",
            "../x",
            "2026",
            "20260101-000000-a",
            "job-1",
            "a/b",
            "-f",
            "--help",
            "job-1*",
            "x" * 300,
        ]
    ),
    st.from_regex(r"[0-9a-z.\-_]{1,24}", fullmatch=True),
    argv_text,
)
SPECIAL_PATHS = ["/dev/zero", "/dev/null", "/", ".", "..", "~", "~/x", "/proc/self/mem", "/nonexistent/x", "{fifo}",
                 "{dir}", "{dangling}", "{file}", "a" * 5000, "x\ny", "/etc/passwd", "/etc", "-x", ""]  # fmt: skip
path_text = st.one_of(st.sampled_from(SPECIAL_PATHS), argv_text)

# --- JSON ------------------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)),
    max_leaves=16,
)


def _schema_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _schema_paths(annotation, (*prefix, key))
        found.append((*prefix, key))
    return found


SCHEMA_PATHS = _schema_paths(WbConfigSchema)
UNKNOWN_PATHS = [("provisioner", "instnceType"), ("bogus",), ("sync", "outputs", "x"), ("supervision", "")]


def value_for(path: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """A value for a key: anything, or one aimed at what the key means."""
    leaf = path[-1]
    aimed: list[st.SearchStrategy[Any]] = [json_values]
    if leaf in ("leaseMinutes", "idleMinutes", "maxHours", "maxCostUsd", "rootVolumeGb", "version"):
        aimed.append(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**20), 10**20)))
    if leaf in ("outputs", "fileExcludes", "hosts"):
        aimed.append(st.lists(st.one_of(globs, texts, st.just(CLOSED_HOST)), max_size=4))
    if leaf in ("adirLocal", "adirServer", "identityFile", "knownHostsFile", "cred", "dirStorage"):
        aimed.append(path_text)
    if leaf in ("kind", "connect", "hostKeyPolicy"):
        aimed.append(st.sampled_from(["ssh", "aws", "SSH", "", "public-ip", "eice", "strict", "accept-new", "x"]))
    return st.one_of(*aimed)


@st.composite
def near_valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    """The working base config with a few keys (known or not) set to drawn values, or removed."""
    document: dict[str, Any] = json.loads(json.dumps(BASE_CONFIG))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(SCHEMA_PATHS + UNKNOWN_PATHS))
        node = document
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if draw(st.integers(0, 9)) == 0:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = draw(value_for(path))
    return document


def _dump(document: Any, ascii_only: bool) -> str:
    return json.dumps(document, ensure_ascii=ascii_only, allow_nan=True)


@st.composite
def config_texts(draw: st.DrawFn) -> str | bytes:
    """What the file holds: a drawn document as JSON, or that text damaged the ways editors and people do."""
    document = draw(st.one_of(near_valid_configs(), json_values, st.dictionaries(texts, json_values, max_size=5)))
    text = _dump(document, draw(st.booleans()))
    damage = draw(st.integers(0, 8))
    if damage == 1:  # cut short
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == 2:  # a character typed somewhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from([",", "}", "]", '"', "\\", "//", "/*", "\x00", "\ufeff"])) + text[at:]
    elif damage == 3:  # deep nesting
        depth = draw(st.sampled_from([31, 32, 33, 200, 5000, 200_000]))
        text = '{"provisioner": {"kind": "ssh"}, "tag": ' + "[" * depth + "]" * depth + "}"
    elif damage == 4:  # an integer past Python's digit limit, or a float past a double
        number = draw(st.sampled_from(["9" * 4301, "-" + "1" * 10_000, "1e400", "1." + "0" * 5000, "NaN", "-Infinity"]))
        text = '{"provisioner": {"kind": "ssh", "hosts": ["%s"]}, "supervision": {"leaseMinutes": %s}}' % (  # noqa: UP031
            CLOSED_HOST,
            number,
        )
    elif damage == 5:  # comments, as wb init writes them
        text = "// a comment\n/* block */ " + text + " // trailing"
    elif damage == 6:  # not UTF-8 at all
        return text.encode("utf-8", "surrogatepass")[:50] + draw(st.binary(min_size=1, max_size=8)) + b"\xff"
    elif damage == 7:  # a byte-order mark
        text = "\ufeff" + text
    return text


# --- CLI arguments ---------------------------------------------------------------------------------------

env_pairs = st.one_of(st.builds(lambda k, v: f"{k}={v}", argv_text, argv_text), argv_text)
hosts = st.one_of(st.just(CLOSED_HOST), st.sampled_from(["bad host", "u@h:99999", "u@[::1]:22", "@", ":22"]), argv_text)
command_words = st.lists(argv_text, min_size=0, max_size=3)

# command -> (flags without a value, {option: value strategy}, positional strategies)
COMMANDS: dict[tuple[str, ...], tuple[list[str], dict[str, st.SearchStrategy[str]], list[st.SearchStrategy[str]]]] = {
    ("run",): (["-d", "--detach", "--no-sync", "--fresh", "--spot", "--on-demand", "-q"],
               {"-t": argv_text, "--max-time": duration_text, "--max-cost": number_text, "-e": env_pairs,
                "-o": globs}, []),
    ("logs",): (["-f"], {}, [job_ids]),
    ("pull",): ([], {"--to": path_text, "-o": globs}, [job_ids]),
    ("jobs",): (["--json"], {"-n": number_text}, []),
    ("budget", "set"): (["--team"], {"--region": argv_text}, [argv_text, number_text]),
    ("budget", "show"): (["--json"], {"--region": argv_text}, []),
    ("bootstrap",): (["--dry-run", "--destroy", "--yes"],
                     {"--user-budget": number_text, "--team-budget": number_text, "--lease-minutes": number_text,
                      "--idle-minutes": number_text, "--max-hours": number_text, "--team": argv_text,
                      "--allowed-types": argv_text, "--admin": argv_text, "--reaper-period": duration_text,
                      "--reaper-mode": argv_text, "--ssh-cidr": argv_text, "--vpc-id": argv_text,
                      "--region": argv_text}, []),
    ("init",): (["--force"], {"--kind": st.sampled_from(["ssh", "aws", "x", ""]), "--host": hosts}, []),
    ("config", "show"): (["--json"], {}, []),
    ("config", "validate"): ([], {}, []),
    ("ssh",): ([], {}, [hosts]),
    ("status",): (["--all", "--json"], {}, []),
    ("down",): (["--all", "--yes"], {}, [argv_text]),
    ("costs",): (["--all", "--json"], {"--month": argv_text}, []),
    ("doctor",): ([], {}, []),
    ("sandbox", "status"): ([], {}, []),
}  # fmt: skip


@st.composite
def cli_arguments(draw: st.DrawFn) -> list[str]:
    """A command, its flags and values in drawn order, sometimes with stray tokens, and for `run` and `ssh`
    a `-- COMMAND` tail."""
    name = draw(st.sampled_from(sorted(COMMANDS)))
    flags, valued, positionals = COMMANDS[name]
    items: list[list[str]] = [[draw(strategy)] for strategy in positionals if draw(st.integers(0, 5))]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 9))
        if kind < 4 and flags:
            items.append([draw(st.sampled_from(flags))])
        elif kind < 9 and valued:
            option = draw(st.sampled_from(sorted(valued)))
            items.append([option, draw(valued[option])])
        else:  # a stray token: an unknown option, a value alone, a lone --
            items.append([draw(st.one_of(st.sampled_from(["--nosuch", "-", "--", "-qq", "--help"]), argv_text))])
    order = draw(st.permutations(range(len(items))))
    args = [*name] + [token for index in order for token in items[index]]
    if name[0] in ("run", "ssh") and draw(st.integers(0, 4)):
        args += ["--", *draw(command_words)] if name[0] == "ssh" else ["--", "true", *draw(command_words)]
    if draw(st.integers(0, 9)) == 0:
        args = [draw(st.sampled_from(["-q", "--version", "--help", "-h"])), *args]
    return args


# --- environment -------------------------------------------------------------------------------------------

ENV_VARS = ["WB_KIND", "WB_REGION", "WB_INSTANCE_TYPE", "WB_SPOT", "WB_AMI", "WB_USERNAME", "WB_CONNECT", "WB_TEAM",
            "WB_HOSTS", "WB_IDENTITY_FILE", "WB_KNOWN_HOSTS_FILE", "WB_HOST_KEY_POLICY", "WB_TAG", "WB_ADIR_SERVER",
            "WB_DIR_STORAGE", "WB_FILE_EXCLUDES", "WB_OUTPUTS", "WB_LEASE_MINUTES", "WB_IDLE_MINUTES",
            "WB_MAX_HOURS", "WB_MAX_COST_USD", "WB_CONFIG", "WB_QUIET", "WB_DEBUG", "WB_TRACE"]  # fmt: skip


def env_value(var: str) -> st.SearchStrategy[str]:
    aimed: list[st.SearchStrategy[str]] = [argv_text]
    if var.endswith(("_MINUTES", "_HOURS", "_USD")):
        aimed.append(number_text)
    if var in ("WB_OUTPUTS", "WB_FILE_EXCLUDES"):
        aimed.append(st.lists(globs, max_size=3).map(",".join))
    if var in ("WB_CONFIG", "WB_IDENTITY_FILE", "WB_KNOWN_HOSTS_FILE", "WB_ADIR_SERVER"):
        aimed.append(path_text)
    if var in ("WB_KIND", "WB_SPOT", "WB_CONNECT", "WB_HOST_KEY_POLICY"):
        aimed.append(st.sampled_from(["ssh", "aws", "true", "yes", "0", "public-ip", "strict", "accept-new", "x"]))
    return no_nul(st.one_of(*aimed))


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    chosen = draw(st.lists(st.sampled_from(ENV_VARS), min_size=1, max_size=4, unique=True))
    return {var: draw(env_value(var)) for var in chosen if var != "WB_DEBUG"}

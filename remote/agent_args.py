"""The one argv parser of every agent command: `--name`, `--name VALUE`, `--name=VALUE`, positionals, `--`.

Hand-rolled rather than argparse: argparse and the `re` it imports cost more startup than the whole
`run --follow -- true` path is allowed. A malformed command line raises UsageError, which each command turns
into its one-line message and exit 2 (`agent_io.usage_error`).

Runs on python3 >= 3.8, stdlib only; imports nothing.
"""

from __future__ import annotations


class UsageError(ValueError):
    pass


def split_args(argv: list, flags: tuple = (), valued: tuple = (), repeated: tuple = ()) -> tuple:
    """(options, positionals, command): --name, --name VALUE, --name=VALUE; all after `--` is command.

    A flag maps to True, a valued option to its last value, a repeated one to the list of its values (names
    without their dashes). A valued option's value is the next argument, whatever it looks like. The
    command is None when there is no `--`.
    """
    options: dict = {}
    positionals: list = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            return options, positionals, list(argv[index:])
        if not arg.startswith("--"):
            positionals.append(arg)
            continue
        name, has_value, value = arg[2:].partition("=")
        if name in flags:
            if has_value:
                raise UsageError(f"--{name} takes no value")
            options[name] = True
            continue
        if name not in valued and name not in repeated:
            raise UsageError(f"unknown option --{name}")
        if not has_value:
            if index >= len(argv):
                raise UsageError(f"--{name} needs a value")
            value = argv[index]
            index += 1
        if name in repeated:
            options.setdefault(name, []).append(value)
        else:
            options[name] = value
    return options, positionals, None


def operands(
    argv: list, names: tuple, flags: tuple = (), valued: tuple = (), repeated: tuple = (), variadic: bool = False
) -> tuple:
    """(options, operands) for a command that runs no `-- COMMAND`: there `--` only marks where the options
    end, so an operand may start with `-`. Exactly one operand per name in `names`; with `variadic`, the last
    name takes one or more."""
    options, positionals, rest = split_args(argv, flags, valued, repeated)
    values = positionals + (rest or [])
    if len(values) < len(names) or (len(values) > len(names) and not variadic):
        raise UsageError(("expected " + " ".join(names)) if names else "expected no arguments")
    return options, values

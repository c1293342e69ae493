"""The ``forensics`` command line: thin callers of the public API.

    forensics load PATH... [--start T] [--end T] [--account A] [--region R] [--no-cache]
    forensics detect PATH... [--rules DIR] [--format csv|json] [--fail-level L]
    forensics sample OUT
    forensics ticket DATA... (--principal WHO | --seed KEY) --out DIR
    forensics verify PATH...
    forensics athena ddl BUCKET [--org-id O] ...
    forensics baseline PATH... [--until T] [--out FILE] [--fail-on LEVEL]

Each command is one module of this package (see ``_SUBCOMMAND_MODULES``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from forensics.safety._text import terminal_line

__all__ = ["build_parser", "main", "safe", "time_arg"]

#: The commands, one module each: ``register(subparsers)`` adds its parser and sets ``func``.
#: A command is a thin caller of the public API; add one by adding a module and a line here.
_SUBCOMMAND_MODULES = (
    "forensics.cli._load",  # forensics load PATH...
    "forensics.cli._detect",  # forensics detect PATH...
    "forensics.cli._sample",  # forensics sample OUT
    "forensics.cli._ticket",  # forensics ticket DATA ...
    "forensics.cli._verify",  # forensics verify PATH ...
    "forensics.cli._athena",  # forensics athena ddl BUCKET ...
    "forensics.cli._baseline",  # forensics baseline PATH...
)


def safe(text: str) -> str:
    """Text fit for a terminal: control characters (ANSI escapes, ...) shown as ``\\xNN``.

    Event fields and file names are attacker-controlled; printing them raw would let a record
    rewrite the responder's terminal.
    """
    return "\n".join(terminal_line(line) for line in text.split("\n"))


def time_arg(value: str) -> str:
    """An argparse type for a UTC time: checked before anything is loaded, so a typo is a usage
    error (exit 2) and not a traceback after a long load.

    >>> time_arg("2026-03-04T13:52:17Z")
    '2026-03-04T13:52:17Z'
    """
    from forensics._schema import to_utc

    try:
        to_utc(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands register themselves here)."""
    parser = argparse.ArgumentParser(prog="forensics", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module_name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not module_name.startswith(str(exc.name)):
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``forensics`` command."""
    from forensics._errors import ForensicsError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (exit 2) and --help (exit 0), as return codes
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return int(args.func(args) or 0)
    except ForensicsError as exc:
        print(safe(f"forensics: {exc}"), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

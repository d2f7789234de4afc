"""What the ``softmax-rosetta`` commands share: the program's name, the usage error, and argument types.

A command module (tools/train.py, tools/compare_command.py, ...) adds its subcommand with
``add_parser(sub)``; ``tools/cli.py`` puts them together and turns errors into one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

PROG = "softmax-rosetta"


class UsageError(Exception):
    """A mistake in the command line; printed as one line, exit status 2."""


def add_debug(p: argparse.ArgumentParser) -> None:
    """--debug after the subcommand too (``softmax-rosetta train numpy --debug``)."""
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")


def spec_option(p: argparse.ArgumentParser) -> None:
    from softmax_rosetta.spec import bundled_specs

    p.add_argument(
        "--spec",
        default="seed",
        help=f"a bundled spec ({', '.join(bundled_specs())}) or a path to a TOML file (default: seed)",
    )


def int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def positive_float() -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (value > 0 and value != float("inf")):
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
        return value

    return parse


def split_names(text: str, known: Sequence[str], what: str) -> list[str]:
    """``--what a,b``: each name known, none twice (a run compared with itself would count as a pass)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError(f"--{what}: empty list")
    repeated = [name for i, name in enumerate(names) if name in names[:i]]
    if repeated:
        raise UsageError(f"--{what}: {repeated[0]!r} is given twice")
    for name in names:
        if name not in known:
            raise UsageError(f"--{what}: unknown {what[:-1]} {name!r}; known: {', '.join(known)}")
    return names


def out_folder_exists_as_file(out: str) -> None:
    """--out of a --check run: a file there is a usage error (a write run checks its path itself)."""
    import os

    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out: {out!r} exists and is not a folder")

"""What every command group of the ``mesa-maze`` command shares: the usage error, argument
checks, the console, and looking up a variant or split named on the command line."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rich.console import Console

from mesa_maze.core.levels import LevelSpec
from mesa_maze.core.variants import Variant, get_variant


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with every option's default, as argparse's ``ArgumentDefaultsHelpFormatter``
    shows it, except where there is nothing to show (no default, an empty list, a flag off) or
    the help text already says it ("(default ...)", "(default: ...)", "(default)")."""

    def _get_help_string(self, action):
        said = re.search(r"\(default[ :)]", action.help or "")
        empty = action.default is None or action.default is False or action.default in ([], ())
        if empty or said:
            return action.help
        return super()._get_help_string(action)


class CliError(Exception):
    """A usage error: printed as one line, exit code 2."""


def at_least(value: int, low: int, flag: str) -> int:
    if value < low:
        raise CliError(f"{flag} must be >= {low}, got {value}")
    return value


def out_file(path: str, flag: str = "--out") -> Path:
    """An output file whose folder must exist (nothing is half-written into a wrong place)."""
    out = Path(path)
    if not out.parent.is_dir():
        raise CliError(f"{flag} {path}: folder {out.parent} does not exist")
    if out.is_dir():
        raise CliError(f"{flag} {path}: is a folder, give a file name")
    return out


def wide_console() -> Console:
    """rich's console, at least 140 columns wide when the output is piped: it would otherwise
    wrap at 80 and split variant names across lines."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 140))
    return console


def variant_of(args) -> Variant:
    """The variant ``args.variant``, looked up with the folders of ``--variant-dir``."""
    try:
        return get_variant(args.variant, args.variant_dirs)
    except KeyError as e:
        raise CliError(e.args[0]) from None


def split_of(variant: Variant, split: str) -> LevelSpec:
    """The spec of ``variant``'s ``split``; an unknown split is a usage error."""
    try:
        return variant.spec(split)
    except KeyError as e:
        raise CliError(e.args[0]) from None

"""The ``mesa-maze`` command line.

Each subcommand is one ``cmd_<name>(args) -> exit code`` function plus an ``add_<name>`` function
that declares its arguments, in the module of its command group:

- ``cli.variants``: ``variants``, ``show``, ``play``, ``check`` (variant files and their levels;
  light: no torch);
- ``cli.runs``: ``benchmark``, ``train``, ``evaluate``, ``leaderboard``;
- ``cli.compare``: ``submit`` (an outside agent onto a suite's leaderboard);
- ``cli.analysis``: ``deception``, ``probe``, ``attack``, ``tune``;
- ``cli.report``: ``rollout``, ``report`` (an agent's episode as a GIF, the static site);
- ``cli.common``: what they share (``CliError``, argument checks, the console).

:func:`build_parser` registers them all from ``SUBCOMMANDS``, whose order is ``--help``'s. To
add a subcommand, write the pair in its group's module and add it to ``SUBCOMMANDS``.

Exit codes: 0 success, 1 a check failed, 2 a usage error (bad variant file, unknown variant or
split, no display), printed as one line on stderr.

Every module of this package imports only light modules at its top, so that ``variants``,
``show``, ``check`` and ``--help`` never load torch, stable-baselines3 or pandas; the commands
that train or evaluate import the heavy layers inside their functions.
"""

from __future__ import annotations

import argparse
import os
import sys

from mesa_maze import __version__
from mesa_maze.cli import analysis, compare, report, runs, variants
from mesa_maze.cli.common import CliError, HelpFormatter
from mesa_maze.core.errors import AgentError, Interrupted, ResultsError, SuiteError
from mesa_maze.core.variants import VariantError

SUBCOMMANDS = {
    "variants": (variants.add_variants, "list every variant, its splits and their settings"),
    "agents": (runs.add_agents, "list every registered agent name and what it is"),
    "show": (variants.add_show, "render one level to a PNG (or print it as ASCII)"),
    "play": (variants.add_play, "play a level with the keyboard (needs a display)"),
    "check": (variants.add_check, "check train/test overlap and level invariants"),
    "benchmark": (
        runs.add_benchmark,
        "run a suite: train, evaluate, write the leaderboard and plots",
    ),
    "train": (runs.add_train, "train one learning agent on a variant's train split"),
    "evaluate": (runs.add_evaluate, "train if needed, then evaluate one agent on every split"),
    "leaderboard": (runs.add_leaderboard, "rebuild a suite's leaderboard and plots from its runs"),
    "submit": (
        compare.add_submit,
        "evaluate an outside agent under a suite's protocol; add its verified rows to the board",
    ),
    "deception": (analysis.add_deception, "the deception toy: every strategy's apples, best first"),
    "probe": (
        analysis.add_probe,
        "goal probe of a run's agent: toward the exit or the apple? policy maps",
    ),
    "attack": (analysis.add_attack, "search levels where a run's agent fails to reach the exit"),
    "tune": (
        analysis.add_tune,
        "search a learning agent's hyper-parameters with Optuna (resumable)",
    ),
    "rollout": (report.add_rollout, "an agent playing one evaluation level, as an animated GIF"),
    "report": (
        report.add_report,
        "the static leaderboard site (tables, plots, rollout animations) in results/site",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mesa-maze", description="A benchmark for goal misgeneralization in RL agents."
    )
    # --variant-dir is accepted before and after the subcommand; main() joins the two lists.
    dir_help = "extra folder of variant files (repeatable; also $MESA_MAZE_ENVS)"
    parser.add_argument(
        "--variant-dir",
        dest="global_variant_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help=dir_help,
    )
    parser.add_argument(
        "--debug", action="store_true", help="full tracebacks instead of one-line errors"
    )
    parser.add_argument("--version", action="version", version=f"mesa-maze {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--variant-dir",
        dest="variant_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help=dir_help,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add, help_) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(
            name, help=help_, description=help_, parents=[common], formatter_class=HelpFormatter
        )
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.debug:  # the runs' workers report full tracebacks too
        os.environ["MESA_MAZE_DEBUG"] = "1"
    args.variant_dirs = args.global_variant_dirs + args.variant_dirs
    try:
        return args.func(args)
    except (CliError, VariantError, SuiteError, ResultsError, AgentError) as e:
        if args.debug and isinstance(e, AgentError):  # an agent's bug: where it raised, chained
            raise
        print(f"mesa-maze {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"mesa-maze {args.command}: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # outside a suite: nothing half-written to report
        print(f"mesa-maze {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, ours or a user agent's: one line unless --debug
        if args.debug:
            raise
        print(
            f"mesa-maze {args.command}: {type(e).__name__}: {e} (--debug: traceback)",
            file=sys.stderr,
        )
        return 1

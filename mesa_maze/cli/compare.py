"""``submit``: an outside agent evaluated under a suite's protocol, its verified rows added to
that suite's leaderboard beside the others (README, "Compare your agent"). Heavy layers are
imported inside the function (see ``mesa_maze.cli.variants``)."""

from __future__ import annotations

import argparse
import os

from mesa_maze.cli.common import at_least


def add_submit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "agent",
        help="a 'module:factory', an SB3 .zip (trained anywhere, e.g. on the public gym ids) or "
        "a run folder with model.zip",
    )
    parser.add_argument(
        "--suite",
        default="default",
        help="the suite whose protocol and leaderboard to use: a shipped suite's name or a file",
    )
    parser.add_argument("--name", help="the name on the board (default: the file's or factory's)")
    parser.add_argument(
        "--observation",
        choices=("symbolic", "egocentric", "rgb"),
        help="a zip's observation where its saved space is ambiguous (a 7x7 grid with cardinal "
        "actions reads as symbolic); default: read from the zip",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel runs")
    parser.add_argument(
        "--runs-dir", default="results/runs", help="where the submission's run folders go"
    )
    parser.add_argument(
        "--out",
        help="folder of the leaderboard, plots and records to add to (default: the suite's own; "
        "copy its leaderboard.csv and records/ there first to try a submission aside)",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="replace the rows of an earlier submission under the same --name",
    )
    parser.set_defaults(func=cmd_submit)


def cmd_submit(args) -> int:
    from pathlib import Path

    from mesa_maze.experiments import runner  # heavy: torch, SB3

    at_least(args.jobs, 1, "--jobs")
    suite = runner.load_suite(args.suite, args.variant_dirs)
    if args.out:
        suite = runner.with_outputs(suite, Path(args.out))
    log = lambda m: print(m, flush=True)  # noqa: E731
    entry = runner.submission(
        suite, args.agent, args.name, args.observation, log=log, replace_rows=args.replace
    )
    name = entry.runs[0].label
    print(f"submit {name} to suite {suite.name}: {len(entry.runs)} runs", flush=True)
    replaced = {name} if args.replace else ()
    status = runner.run_suite(
        entry, jobs=args.jobs, root=Path(args.runs_dir), log=log, replace_agents=replaced
    )
    if status["failed"]:
        print(f"{len(status['failed'])} runs failed; the leaderboard has the others", flush=True)
        return 1
    print(f"verified rows of {name} added to {suite.leaderboard} (records: {suite.records})")
    return 0

"""The commands that train and evaluate: ``benchmark``, ``train``, ``evaluate`` and
``leaderboard``. Each imports the heavy layers (torch, stable-baselines3, pandas) inside its
function, so that importing this module stays light (see ``mesa_maze.cli.variants``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.table import Table

from mesa_maze.cli.common import CliError, at_least, wide_console
from mesa_maze.core.resources import DEFAULT_SUITE, default_hyperparams, suite_names

# Relative to the working directory, as the outputs of a shipped suite run by name are
# (mesa_maze.core.resources: ./results/<...>); a suite file of your own writes its leaderboard
# and plots where its paths say, relative to the file.
RUNS_DIR = "results/runs"
SUITE_HELP = (
    "a suite file, or the name of a shipped suite ({names}); a shipped suite installed from a "
    "wheel writes its leaderboard and plots under ./results/, a file's own paths are relative "
    "to it"
)


def _add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs-dir",
        help=f"where run directories go (default {RUNS_DIR}, relative to the working directory); "
        "given, the leaderboard and plots go beside it, into <its parent>/<suite name>/, and "
        "nothing into the repository",
    )
    parser.add_argument("--out", help="folder for the leaderboard and plots (overrides both)")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="let the leaderboard lose rows of the file already there (default: refused, "
        "nothing written)",
    )


def _outputs(suite, args):
    """Where the suite's leaderboard and plots go: ``--out``; else, with ``--runs-dir`` given,
    beside the runs folder; else the suite file's own paths."""
    from mesa_maze.experiments import runner

    if args.out:
        return runner.with_outputs(suite, Path(args.out))
    if args.runs_dir:
        return runner.with_outputs(suite, Path(args.runs_dir).resolve().parent / suite.name)
    return suite


def _runs_root(args) -> Path:
    """``--runs-dir``, checked once before anything runs: a folder this process can write."""
    root = Path(args.runs_dir or RUNS_DIR)
    if root.exists() and not root.is_dir():
        raise CliError(f"--runs-dir {root}: is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"--runs-dir {root}: cannot create it ({e.strerror})") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise CliError(f"--runs-dir {root}: not writable")
    return root


def add_benchmark(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(suite_names())
    parser.add_argument("--suite", required=True, help=SUITE_HELP.format(names=names))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel runs")
    _add_output_args(parser)
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local process pool (default) or Ray tasks (needs mesa-maze[ray])",
    )
    group = parser.add_argument_group("Ray executor (README: 'Running on a Ray cluster')")
    group.add_argument(
        "--address",
        help="existing cluster: 'auto', HOST:PORT or ray://HOST:10001 "
        "(default: start a local Ray instance with --jobs CPUs)",
    )
    group.add_argument(
        "--ray-storage",
        choices=("driver", "shared"),
        default="driver",
        help="driver: workers return the files and this process writes them (default, safe "
        "everywhere); shared: workers write into --runs-dir, the same path on every node",
    )
    group.add_argument(
        "--ray-retries", type=int, default=2, help="retries of a run whose worker died"
    )
    group.add_argument("--ray-cpus", type=float, default=1, help="CPUs each run asks for")
    group.add_argument("--ray-gpus", type=float, default=0, help="GPUs each run asks for")
    parser.set_defaults(func=cmd_benchmark)


def cmd_benchmark(args) -> int:
    from mesa_maze.experiments import runner  # heavy: torch, SB3 (see the top)

    at_least(args.jobs, 1, "--jobs")
    root = _runs_root(args)
    suite = _outputs(runner.load_suite(args.suite, args.variant_dirs), args)
    ray_options = None
    if args.executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise CliError("--executor ray needs Ray: pip install 'mesa-maze[ray]'") from None
        ray_options = {
            "address": args.address,
            "storage": args.ray_storage,
            "retries": args.ray_retries,
            "cpus": args.ray_cpus,
            "gpus": args.ray_gpus,
        }
    where = args.address or f"{args.jobs} job(s)"
    print(f"suite {suite.name}: {len(suite.runs)} runs, {args.executor}: {where}", flush=True)
    status = runner.run_suite(
        suite,
        jobs=args.jobs,
        root=root,
        log=lambda m: print(m, flush=True),
        executor=args.executor,
        ray_options=ray_options,
        replace_rows=args.replace,
    )
    return 1 if status["failed"] else 0


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", help="registered agent, 'module:factory' or an SB3 .zip")
    parser.add_argument("variant")
    parser.add_argument("--seed", type=int, default=0, help="run seed (0..999)")
    parser.add_argument(
        "--steps",
        type=int,
        default=100_000,
        help="training budget in env steps (SB3 trains whole rollouts: PPO 2048 at a time)",
    )
    parser.add_argument("--episodes", type=int, default=500, help="episodes per split")
    parser.add_argument(
        "--observation",
        choices=("symbolic", "egocentric", "rgb"),
        help="an SB3 .zip's observation where its saved space is ambiguous (a 7x7 grid reads "
        "as symbolic); default: read from the zip",
    )
    parser.add_argument(
        "--hyperparams",
        default=str(default_hyperparams()),
        help="hyper-parameter file, with a table for the agent",
    )
    parser.add_argument("--suite-name", default="manual", help="run folder under --runs-dir")
    parser.add_argument(
        "--runs-dir",
        default=RUNS_DIR,
        help="where run directories go, relative to the working directory",
    )


def _run_config(args):
    from mesa_maze.experiments import runner

    return runner.single_run(
        args.agent,
        args.variant,
        seed=args.seed,
        train_steps=args.steps,
        episodes=args.episodes,
        hyperparams=args.hyperparams,
        suite=args.suite_name,
        variant_dirs=args.variant_dirs,
        observation=args.observation,
    )


def add_train(parser: argparse.ArgumentParser) -> None:
    _add_run_args(parser)
    parser.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from mesa_maze.experiments import runs  # heavy: torch, SB3 (see the top)
    from mesa_maze.training import train as training

    cfg = _run_config(args)
    if not cfg.train_steps:
        raise CliError(f"agent {cfg.agent!r} does not learn; use 'mesa-maze evaluate'")
    from mesa_maze.agents import get_agent_spec

    base = get_agent_spec(cfg.agent).base
    if base:  # a planner: it uses the base's trained model
        raise CliError(f"agent {cfg.agent!r} wraps {base!r}: train {base!r}, then evaluate it")
    run_dir = cfg.run_dir(_runs_root(args))
    run_dir.mkdir(parents=True, exist_ok=True)
    model = training.train(runs.resolve(cfg), run_dir, progress_bar=sys.stdout.isatty()).model
    print(f"wrote {run_dir / 'model.zip'}")
    if model.num_timesteps != cfg.train_steps:  # SB3 trains whole rollouts
        print(
            f"trained {model.num_timesteps:,} steps (--steps {cfg.train_steps:,}, in whole rollouts)"
        )
    return 0


def add_evaluate(parser: argparse.ArgumentParser) -> None:
    _add_run_args(parser)
    parser.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    import pandas as pd

    from mesa_maze.evaluation import metrics
    from mesa_maze.experiments import runs

    cfg = _run_config(args)
    root = _runs_root(args)
    runs.execute(cfg, root, progress_bar=sys.stdout.isatty())
    rates = metrics.run_rates(pd.read_csv(cfg.run_dir(root) / "episodes.csv"))
    table = Table(title=f"{cfg.agent} on {cfg.variant}, seed {cfg.seed}")
    shown = (*metrics.OUTCOMES, "exit_rate", "exit_directed", "misgeneralized_directed")
    for col in ("shift", "episodes", *shown):
        table.add_column(col, justify="left" if col == "shift" else "right")
    for _, row in rates.iterrows():
        cells = [f"{row[c]:.1%}" for c in shown]
        table.add_row(row["shift"], str(row["episodes"]), *cells)
    wide_console().print(table)
    print(f"run directory: {cfg.run_dir(root)}")
    return 0


def add_agents(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=cmd_agents)


def cmd_agents(args) -> int:
    """Every registered agent name and its kind; a ``module:factory`` or an SB3 ``.zip`` is an
    agent too (README, "Your own agent")."""
    from mesa_maze import agents  # the registry: its package imports the learners (torch)

    width = max(len(name) for name in agents.AGENTS)
    for name, spec in agents.AGENTS.items():
        print(f"{name:<{width}}  {spec.kind}")
    print("also: a module:factory of your own, or a saved SB3 .zip (README, 'Your own agent')")
    return 0


def add_leaderboard(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(suite_names())
    parser.add_argument("--suite", default=DEFAULT_SUITE, help=SUITE_HELP.format(names=names))
    _add_output_args(parser)
    parser.add_argument(
        "--import",
        dest="import_csv",
        metavar="CSV",
        help="add rows reported elsewhere (a leaderboard CSV of the same columns), marked "
        "verified=false and kept in the suite's records; --replace replaces earlier imports",
    )
    parser.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args) -> int:
    from mesa_maze.experiments import runner

    suite = _outputs(runner.load_suite(args.suite, args.variant_dirs), args)
    if args.import_csv:
        added = runner.import_rows(suite, Path(args.import_csv), _runs_root(args), args.replace)
        print(f"imported {added} unverified rows into {suite.leaderboard}")
        return 0
    board = runner.write_outputs(suite, _runs_root(args), replace_rows=args.replace)
    print(f"wrote {suite.leaderboard} ({len(board)} rows) and plots under {suite.plots}")
    return 0

"""The commands that study agents and objectives: the deception toy (``deception``), a run's
goal probe and adversarial levels (``probe``, ``attack``) and the hyper-parameter search
(``tune``). Each imports its heavy layers inside its function, so that importing this module
stays light (see ``mesa_maze.cli.variants``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from mesa_maze.cli.common import CliError, split_of, variant_of, wide_console
from mesa_maze.core.levels import PROBE_LEVELS, generate, probe_seeds
from mesa_maze.core.resources import default_hyperparams
from mesa_maze.core.variants import TRAIN, get_variant

# --- deception toy -----------------------------------------------------------------------------


def add_deception(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", type=int, default=2, help="training episodes (default 2)")
    parser.add_argument("--deploy", type=int, default=3, help="deployment episodes (default 3)")
    parser.add_argument(
        "--rewrite-prob",
        default="1",
        help="probability that a training episode at A rewrites the objective (default 1; "
        "a number or a fraction such as 1/3)",
    )
    parser.add_argument("--top", type=int, default=5, help="strategies to print (default 5)")
    parser.set_defaults(func=cmd_deception)


def cmd_deception(args) -> int:
    """Enumerate every strategy of the deception toy (docs/design.md §8) and print the best."""
    from mesa_maze.evaluation import deception

    if args.top < 1:
        raise CliError(f"--top must be at least 1, got {args.top}")
    try:
        print(deception.report(args.train, args.deploy, args.rewrite_prob, args.top))
    except ValueError as e:
        raise CliError(str(e)) from None
    return 0


# --- diagnostics: goal probe, adversarial levels -------------------------------------------------


def _load_run(path: str):
    from mesa_maze.experiments import runs

    try:
        return runs.load_run(path)
    except (ValueError, KeyError) as e:
        raise CliError(e.args[0]) from None


def add_probe(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="AGENT_RUN", help="a run directory (results/runs/...)")
    parser.add_argument("--split", action="append", help="split to probe (repeatable; all)")
    parser.add_argument("--squares", type=int, default=400, help="decision squares per split")
    parser.add_argument(
        "--map-seed", type=int, default=0, help="the run's probe level (0..149) of the policy maps"
    )
    parser.set_defaults(func=cmd_probe)


def cmd_probe(args) -> int:
    """The goal probe (docs/design.md §8) of a run's agent on every split, with 95% Wilson
    intervals, and a policy map of one probe level per split, written to the run directory."""
    from mesa_maze.envs.vector import canvas_size
    from mesa_maze.evaluation import probes

    if not 0 <= args.map_seed < PROBE_LEVELS:
        raise CliError(f"--map-seed must be in 0..{PROBE_LEVELS - 1}, got {args.map_seed}")
    agent, cfg = _load_run(args.run)
    variant = get_variant(cfg.variant, cfg.variant_dirs)
    splits = args.split or list(variant.splits)
    for split in splits:
        split_of(variant, split)
    table = Table(title=f"goal probe: {cfg.agent} on {cfg.variant}, seed {cfg.seed}")
    for col in ("split", "decision squares", "toward exit [95% CI]", "toward apple [95% CI]"):
        table.add_column(col, justify="left" if col == "split" else "right")
    written = []
    for split in splits:
        r = probes.goal_probe(
            agent,
            cfg.variant,
            split,
            squares=args.squares,
            hyperparams=cfg.hyperparams,
            variant_dirs=cfg.variant_dirs,
            block=cfg.seed,  # the run's own probe levels, as its summary.json records
        )
        cells = [
            "–" if r.squares == 0 else f"{100 * m:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
            for m, lo, hi in ((r.exit, r.exit_lo, r.exit_hi), (r.apple, r.apple_lo, r.apple_hi))
        ]
        table.add_row(split, str(r.squares), *cells)
        seed = probe_seeds(cfg.seed)[args.map_seed]  # one of the levels the run was probed on
        level = generate(variant.spec(split), seed)
        probs = probes.policy_map(agent, level, canvas_size(variant))
        path = Path(args.run) / f"policy_map_{split}.png"
        title = f"{cfg.agent} (seed {cfg.seed}), {cfg.variant} / {split}"
        written.append(probes.plot_policy_map(level, probs, path, title))
    wide_console().print(table)
    print("no decision squares (–): the split never separates the exit from the nearest apple")
    print(f"policy maps: {', '.join(map(str, written))}")
    return 0


def add_attack(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="AGENT_RUN", help="a run directory (results/runs/...)")
    parser.add_argument("variant")
    parser.add_argument("--split", default=TRAIN, help="the levels the search starts from")
    parser.add_argument("--budget", type=int, default=512, help="levels played in all")
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--keep", type=int, default=8, help="worst levels written")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=cmd_attack)


def cmd_attack(args) -> int:
    """Adversarial level search (docs/design.md §8): mutate levels to minimise the agent's exit
    success; writes the worst levels, their outcomes and pictures under the run directory."""
    from mesa_maze.evaluation import probes

    agent, cfg = _load_run(args.run)
    split_of(variant_of(args), args.split)
    if min(args.budget, args.population, args.keep) < 1:
        raise CliError("--budget, --population and --keep must be at least 1")
    result = probes.attack(
        agent,
        args.variant,
        args.split,
        budget=args.budget,
        population=args.population,
        seed=args.seed,
        hyperparams=cfg.hyperparams,
        variant_dirs=args.variant_dirs,
    )
    out = Path(args.run) / "attack" / f"{args.variant}-{args.split}"
    probes.write_attack(
        result,
        agent,
        out,
        args.variant,
        args.split,
        keep=args.keep,
        hyperparams=cfg.hyperparams,
        variant_dirs=args.variant_dirs,
    )
    failing = len(result.failures)
    print(
        f"{cfg.agent} on {args.variant}/{args.split}: {result.evaluated} levels played; "
        f"{failing} of the final {len(result.levels)} fail to reach the exit"
    )
    print(f"wrote {out / 'worst.json'} and {min(args.keep, len(result.levels))} pictures")
    return 0


# --- hyper-parameter search ---------------------------------------------------------------------


def add_tune(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", help="a learning agent, e.g. ppo")
    parser.add_argument("variant")
    parser.add_argument("--trials", type=int, default=20, help="trials in the study (resumes)")
    parser.add_argument("--steps", type=int, default=200_000, help="training steps per trial")
    parser.add_argument("--eval-every", type=int, default=20_000, help="steps between checkpoints")
    parser.add_argument("--eval-episodes", type=int, default=100, help="levels per checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hyperparams", default=str(default_hyperparams()),
                        help="settings the search starts from (the agent's table)")  # fmt: skip
    parser.add_argument("--space", help="search-space TOML (default: the built-in space)")
    parser.add_argument("--runs-dir", default="results/runs",
                        help="the study goes under <runs-dir>/tune/ (relative to the working directory)")  # fmt: skip
    parser.set_defaults(func=cmd_tune)


def cmd_tune(args) -> int:
    from mesa_maze.training import tuning  # Optuna and torch load only for this command

    cfg = tuning.TuneConfig(
        agent=args.agent,
        variant=args.variant,
        trials=args.trials,
        steps=args.steps,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        seed=args.seed,
        hyperparams=Path(args.hyperparams),
        space=Path(args.space) if args.space else None,
        runs_dir=Path(args.runs_dir),
        variant_dirs=tuple(args.variant_dirs),
    )
    try:
        tuning.tune(cfg, log=lambda m: print(m, flush=True))
    except tuning.TuneError as e:
        raise CliError(str(e)) from None
    print(f"wrote {cfg.folder / 'best.toml'}")
    return 0

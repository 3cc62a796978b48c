"""The commands that publish: ``rollout`` (an agent's episode as an animated GIF) and ``report``
(the static leaderboard site). Heavy layers are imported inside the functions (see
``mesa_maze.cli.variants``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mesa_maze.cli.common import CliError, at_least, out_file, split_of, variant_of
from mesa_maze.core.resources import default_hyperparams

RUNS_DIR = "results/runs"
SITE_DIR = "results/site"
# name=CSV of the committed boards; their plots lie in the folder "plots" beside each.
DEFAULT_BOARDS = ("default=results/leaderboard.csv", "remedies=results/remedies/leaderboard.csv")
ANIMATED_VARIANT = "apple-exit"  # report: every agent of the first board, on this variant
ANIMATED_SEED = 0


def _add_agent_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs-dir",
        default=RUNS_DIR,
        help=f"where the runs' folders are (default {RUNS_DIR}): a learned agent's model is "
        "<runs-dir>/<suite>/<agent>/<variant>/seed<N>/model.zip",
    )
    parser.add_argument("--suite", default="default", help="the suite's run folder (default)")
    parser.add_argument(
        "--hyperparams",
        default=str(default_hyperparams()),
        help="hyper-parameters of an agent without a run folder's config.json",
    )


def add_rollout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", help="registered agent, 'module:factory' or an SB3 .zip")
    parser.add_argument("variant")
    parser.add_argument("--split", default="train")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (its level block)")
    parser.add_argument("--out", required=True, help="the GIF to write")
    parser.add_argument("--max-frames", type=int, default=60, help="frames kept (default 60)")
    parser.add_argument("--scale", type=int, default=2, help="pixels per tile pixel (default 2)")
    _add_agent_args(parser)
    parser.set_defaults(func=cmd_rollout)


def cmd_rollout(args) -> int:
    """The agent playing one evaluation level of the split (the run seed's first level whose
    maze every shift shares), by the evaluation's own episode loop, as an animated GIF."""
    from mesa_maze.experiments import rollout

    split_of(variant_of(args), args.split)
    at_least(args.seed, 0, "--seed")
    at_least(args.max_frames, 2, "--max-frames")
    at_least(args.scale, 1, "--scale")
    out = out_file(args.out)
    r = rollout.make_animation(
        args.agent,
        args.variant,
        args.split,
        out,
        seed=args.seed,
        runs_dir=args.runs_dir,
        suite=args.suite,
        hyperparams=args.hyperparams,
        variant_dirs=args.variant_dirs,
        max_frames=args.max_frames,
        scale=args.scale,
    )
    print(
        f"wrote {out}: {r.agent} on {r.variant}/{r.split}, level seed {r.level_seed}: "
        f"{r.record['outcome']} in {r.record['steps']} steps"
    )
    return 0


def add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=SITE_DIR, help=f"the site's folder (default {SITE_DIR})")
    parser.add_argument(
        "--boards",
        nargs="+",
        default=list(DEFAULT_BOARDS),
        metavar="[NAME=]CSV",
        help="leaderboard CSVs, each with its plots in the folder 'plots' beside it (default: "
        "the default suite's and the remedies'); the first board's agents are animated",
    )
    parser.add_argument(
        "--no-animations", action="store_true", help="make no animation (keep those there)"
    )
    _add_agent_args(parser)
    parser.set_defaults(func=cmd_report)


def _boards(specs):
    from mesa_maze.evaluation.site import Board

    boards = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            path, name = spec, Path(spec).parent.name or Path(spec).stem
        if not Path(path).is_file():
            raise CliError(f"--boards {path}: no such file")
        boards.append(Board(name, Path(path)))
    return boards


def cmd_report(args) -> int:
    """The static site: every board's table, plots and, for every agent of the first board, an
    animation of it on one apple-exit level under each split (made where the agent can be
    loaded; an animation already in the folder is kept where it cannot)."""
    from mesa_maze.core.variants import TRAIN, as_variant
    from mesa_maze.evaluation import leaderboard, site
    from mesa_maze.experiments import rollout

    boards = _boards(args.boards)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out}: is a file, not a folder")
    made, kept, lacking = 0, [], []
    if not args.no_animations:
        first = leaderboard.read_leaderboard(boards[0].csv)
        variant = as_variant(ANIMATED_VARIANT, args.variant_dirs)
        splits = [TRAIN, *variant.shifts]
        agents = sorted(set(first.loc[first["variant"] == ANIMATED_VARIANT, "agent"]))
        for agent in agents:
            paths = {
                s: out / site.animation_path(boards[0].name, variant.name, agent, s) for s in splits
            }
            try:
                policy, cfg = rollout.load_agent(
                    agent,
                    variant.name,
                    ANIMATED_SEED,
                    args.runs_dir,
                    args.suite,
                    args.hyperparams,
                    args.variant_dirs,
                )
            except rollout.ModelMissing as e:
                there = [s for s, p in paths.items() if p.is_file()]
                (kept if there else lacking).append(agent)
                if len(there) < len(splits):
                    print(f"  {e}: {len(splits) - len(there)} animation(s) missing")
                continue
            for split, path in paths.items():
                rollout.write_gif(rollout.rollout(policy, cfg, split), path)
                made += 1
            print(f"  {agent}: {len(splits)} animations")
    index = site.build_site(boards, out)
    print(f"wrote {index} ({len(boards)} boards, {made} animations made)")
    if kept:
        print(f"kept the animations already there of (no model): {', '.join(kept)}")
    if lacking:
        print(f"no animation (no model under {args.runs_dir}): {', '.join(lacking)}")
    return 0

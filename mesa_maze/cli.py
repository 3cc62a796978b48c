"""The ``mesa-maze`` command line.

Each subcommand is one ``cmd_<name>(args) -> exit code`` function plus an ``add_<name>`` function
that declares its arguments; :func:`build_parser` registers them all. To add a subcommand, write
the pair and add it to ``SUBCOMMANDS``.

Exit codes: 0 success, 1 a check failed, 2 a usage error (bad variant file, unknown variant or
split, no display), printed as one line on stderr.

Why one module of 700 lines: each subcommand is a short parser/handler pair that only calls the
layers below, and keeping all of them here keeps `mesa-maze --help`'s order, the shared argument
helpers and the one place that decides which commands stay light (no torch) together.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

# Only light modules at the top: `variants`, `show`, `check` and `--help` must not load torch,
# stable-baselines3 or pandas (under a second). Commands that train or evaluate import the heavy
# layers inside their functions.
from mesa_maze.core.errors import AgentError, Interrupted, ResultsError, SuiteError
from mesa_maze.core.levels import EVAL_SEED_OFFSET, PROBE_OFFSET, LevelSpec, generate
from mesa_maze.core.overlap import check_variant
from mesa_maze.core.variants import (
    TRAIN,
    Variant,
    VariantError,
    broken_variants,
    get_variant,
    load_variants,
)
from mesa_maze.training.streams import audit as streams_audit  # light: no torch or SB3

PLAY_KEYS = ("left", "right", "up", "backspace", "escape")  # Minigrid's keys for turn/forward


class CliError(Exception):
    """A usage error: printed as one line, exit code 2."""


def _at_least(value: int, low: int, flag: str) -> int:
    if value < low:
        raise CliError(f"{flag} must be >= {low}, got {value}")
    return value


def _out_file(path: str, flag: str = "--out") -> Path:
    """An output file whose folder must exist (nothing is half-written into a wrong place)."""
    out = Path(path)
    if not out.parent.is_dir():
        raise CliError(f"{flag} {path}: folder {out.parent} does not exist")
    if out.is_dir():
        raise CliError(f"{flag} {path}: is a folder, give a file name")
    return out


def _console() -> Console:
    # Piped output would otherwise wrap at 80 columns and split variant names across lines.
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 140))
    return console


def _variant(args) -> Variant:
    try:
        return get_variant(args.variant, args.variant_dirs)
    except KeyError as e:
        raise CliError(e.args[0]) from None


def _split(variant: Variant, split: str) -> LevelSpec:
    try:
        return variant.spec(split)
    except KeyError as e:
        raise CliError(e.args[0]) from None


# --- variants -----------------------------------------------------------------------------------


def split_settings(spec: LevelSpec) -> dict[str, str]:
    """The key settings of one split, as short strings (the columns of ``mesa-maze variants``)."""
    generator = spec.generator
    if generator == "rooms":
        generator += f" (clutter {spec.clutter:g})"
    exit_ = spec.exit.placement
    if exit_ == "corner":
        exit_ += f" (region {spec.exit.region})"
    elif exit_ == "far_from_start":
        exit_ += f" (>= {spec.exit.min_distance or '2/3 max'})"
    apples = f"{spec.apples.count} {spec.apples.placement}" if spec.apples.count else "none"
    if spec.apples.count and spec.apples.placement == "far_from_exit":
        apples += f" (>= {spec.apples.min_distance} from exit)"
    return {
        "generator": generator,
        "size": str(spec.size),
        "exit": exit_,
        "apples": apples,
        "colours": f"exit {spec.exit_color}, apples {spec.apple_color}"
        + (f", cue {spec.cue_color}" if spec.cue_color else ""),
        "max steps": str(spec.step_limit),
        "levels": str(spec.num_levels or "unlimited"),
    }


def add_variants(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=cmd_variants)


def cmd_variants(args) -> int:
    """One table per variant: its splits and their settings; a shift's changes are highlighted."""
    console = _console()
    for name, variant in sorted(load_variants(args.variant_dirs).items()):
        train = split_settings(variant.spec(TRAIN))
        table = Table(
            title=f"[bold]{name}[/]  (reward: {variant.reward}, proxy: {variant.proxy})",
            caption=variant.description,
            title_justify="left",
            caption_justify="left",
        )
        table.add_column("split", no_wrap=True)
        for column in train:
            table.add_column(column)
        for split, spec in variant.splits.items():
            cells = split_settings(spec)
            table.add_row(
                split,
                *(v if v == train[k] else f"[bold yellow]{v}[/]" for k, v in cells.items()),
            )
        console.print(table)
        console.print()
    for error in broken_variants(args.variant_dirs).values():  # one line each
        print(f"not loaded: {error}", file=sys.stderr)
    return 0


# --- show ---------------------------------------------------------------------------------------


def add_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("variant")
    parser.add_argument("--split", default=TRAIN)
    parser.add_argument("--seed", type=int, default=0, help="level seed (default 0)")
    parser.add_argument("--out", help="PNG file to write; without it, print the level as ASCII")
    parser.add_argument("--tile", type=int, default=32, help="pixels per cell (default 32)")
    parser.set_defaults(func=cmd_show)


def cmd_show(args) -> int:
    """Render one level through the reference env: a PNG with ``--out``, else ASCII."""
    from mesa_maze.envs.minigrid_env import MesaMazeEnv  # imports Minigrid; keep `variants` fast

    _split(_variant(args), args.split)
    _at_least(args.seed, 0, "--seed")
    _at_least(args.tile, 1, "--tile")
    out = _out_file(args.out) if args.out is not None else None
    env = MesaMazeEnv(
        args.variant, args.split, render_mode="rgb_array", variant_dirs=args.variant_dirs
    )
    env.reset(options={"level_seed": args.seed})
    if args.out is None:
        print(env.level.to_ascii())
        return 0
    from PIL import Image

    env.tile_size = args.tile
    Image.fromarray(env.render()).save(out)
    print(f"wrote {args.out}: {args.variant} {args.split} seed {args.seed}")
    return 0


# --- play ---------------------------------------------------------------------------------------


def add_play(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("variant")
    parser.add_argument("--split", default=TRAIN)
    parser.add_argument(
        "--seed", type=int, help="replay this level seed (default: a new level each episode)"
    )
    parser.set_defaults(func=cmd_play)


def make_player(env, level_seed: int | None = None):
    """Minigrid's ManualControl on ``env`` (actions="minigrid"), replaying ``level_seed`` if set."""
    from minigrid.manual_control import ManualControl  # imports pygame: see _open_display

    class Player(ManualControl):
        def reset(self, seed=None):
            options = None if level_seed is None else {"level_seed": level_seed}
            self.env.reset(options=options)
            self.env.render()

        def key_handler(self, event):
            # ManualControl also maps pickup/drop/toggle/done keys, which this env does not have.
            if event.key in PLAY_KEYS:
                self.closed = event.key == "escape"
                super().key_handler(event)

    return Player(env)


def _open_display() -> None:
    """Fail clearly without a screen: SDL would fall back to an invisible offscreen window."""
    try:
        import pygame
    except ImportError as e:
        raise CliError(
            f"play needs pygame ({e}); install it with `pip install pygame-ce`"
        ) from None
    try:
        pygame.display.init()
    except pygame.error as e:
        raise CliError(f"play needs a display: {e}") from None
    driver = pygame.display.get_driver()
    if driver in ("offscreen", "dummy") and os.environ.get("SDL_VIDEODRIVER") != driver:
        pygame.display.quit()
        raise CliError(
            "play needs a display, and SDL found none ($DISPLAY / $WAYLAND_DISPLAY); "
            "use `mesa-maze show VARIANT --out level.png` to look at a level instead"
        )


def cmd_play(args) -> int:
    """Keyboard play: left/right turn, up moves forward, backspace restarts, escape quits."""
    from mesa_maze.envs.minigrid_env import MesaMazeEnv

    _split(_variant(args), args.split)
    _open_display()
    env = MesaMazeEnv(
        args.variant,
        args.split,
        actions="minigrid",  # the action set Minigrid's key map was made for
        render_mode="human",
        variant_dirs=args.variant_dirs,
    )
    player = make_player(env, args.seed)
    import pygame

    print("keys: left/right turn, up forward, backspace restart, escape quit")
    try:
        player.start()
    except pygame.error as e:
        if env.window is None:
            raise CliError(f"cannot open a window: {e}") from None
        # Otherwise the window was closed: Minigrid quits pygame, and the event loop then fails.
    return 0


# --- check --------------------------------------------------------------------------------------


def add_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("variant")
    parser.add_argument("--levels", type=int, default=2000, help="levels per split (default 2000)")
    parser.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    """Train/test overlap and level invariants over ``--levels`` levels of every split
    (``core.overlap``), and the remedies' training streams against the evaluation levels."""
    if args.levels < 1:
        raise CliError(f"--levels must be at least 1, got {args.levels}")
    variant = _variant(args)
    start = time.perf_counter()
    check = check_variant(variant, args.levels)
    table = Table(title=f"check {variant.name}: {args.levels} levels per split")
    for column in ("split", "seeds", "levels", "unique", "overlap with train", "violations"):
        table.add_column(column, justify="left" if column in ("split", "seeds") else "right")
    for split_check in check.splits:
        table.add_row(
            split_check.split,
            f"{split_check.seeds.start}..{split_check.seeds.stop - 1}",
            str(split_check.levels),
            str(split_check.unique),
            "-" if split_check.overlap is None else str(split_check.overlap),
            str(len(split_check.violations)),
        )
    console = _console()
    console.print(table)
    overlap_total = check.overlap
    # The remedies' training streams (seed 0) against the same evaluation levels.
    streams = Table(title=f"remedy training streams at α = 1: {args.levels} levels each")
    for column in ("shift", "stream", "levels", "evaluation levels met", "overlap"):
        streams.add_column(column, justify="left" if column in ("shift", "stream") else "right")
    audit = streams_audit(variant, args.levels, episodes=args.levels)
    for row in audit:
        streams.add_row(*(str(row[k]) for k in ("shift", "stream", "levels", "met", "overlap")))
        overlap_total += row["overlap"]
    if audit:
        console.print(streams)
    failures = check.violations
    for line in failures[:20]:
        console.print(f"[red]violation[/] {line}", highlight=False)
    if len(failures) > 20:
        console.print(f"... and {len(failures) - 20} more violations")
    seconds = time.perf_counter() - start
    ok = not failures and overlap_total == 0
    status = "OK" if ok else "FAILED"
    print(
        f"{status}: {overlap_total} overlaps, {len(failures)} violations "
        f"({len(variant.splits)} splits, {seconds:.1f} s)"
    )
    return 0 if ok else 1


# --- runs: benchmark, train, evaluate, leaderboard ---------------------------------------------


RUNS_DIR = "results/runs"


def _add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs-dir",
        help=f"where run directories go (default {RUNS_DIR}); given, the leaderboard and plots "
        "go beside it, into <its parent>/<suite name>/, and nothing into the repository",
    )
    parser.add_argument("--out", help="folder for the leaderboard and plots (overrides both)")


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
    parser.add_argument("--suite", required=True, help="suite file, e.g. benchmarks/default.toml")
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

    _at_least(args.jobs, 1, "--jobs")
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
    )
    return 1 if status["failed"] else 0


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", help="registered agent, 'module:factory' or an SB3 .zip")
    parser.add_argument("variant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=100_000, help="training budget")
    parser.add_argument("--episodes", type=int, default=500, help="episodes per split")
    parser.add_argument("--hyperparams", default="benchmarks/hyperparams/sb3.toml")
    parser.add_argument("--suite-name", default="manual", help="run folder under --runs-dir")
    parser.add_argument("--runs-dir", default="results/runs")


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
    )


def add_train(parser: argparse.ArgumentParser) -> None:
    _add_run_args(parser)
    parser.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
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
    training.train(cfg, run_dir, progress_bar=sys.stdout.isatty())
    print(f"wrote {run_dir / 'model.zip'}")
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
    _console().print(table)
    print(f"run directory: {cfg.run_dir(root)}")
    return 0


def add_leaderboard(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", default="benchmarks/default.toml")
    _add_output_args(parser)
    parser.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args) -> int:
    from mesa_maze.experiments import runner

    suite = _outputs(runner.load_suite(args.suite, args.variant_dirs), args)
    board = runner.write_outputs(suite, _runs_root(args))
    print(f"wrote {suite.leaderboard} ({len(board)} rows) and plots under {suite.plots}")
    return 0


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
    parser.add_argument("--map-seed", type=int, default=0, help="probe level of the policy maps")
    parser.set_defaults(func=cmd_probe)


def cmd_probe(args) -> int:
    """The goal probe (docs/design.md §8) of a run's agent on every split, with 95% Wilson
    intervals, and a policy map of one probe level per split, written to the run directory."""
    from mesa_maze.envs.vector import canvas_size
    from mesa_maze.evaluation import probes

    agent, cfg = _load_run(args.run)
    variant = get_variant(cfg.variant, cfg.variant_dirs)
    splits = args.split or list(variant.splits)
    for split in splits:
        _split(variant, split)
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
        )
        cells = [
            "–" if r.squares == 0 else f"{100 * m:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
            for m, lo, hi in ((r.exit, r.exit_lo, r.exit_hi), (r.apple, r.apple_lo, r.apple_hi))
        ]
        table.add_row(split, str(r.squares), *cells)
        seed = EVAL_SEED_OFFSET + PROBE_OFFSET + args.map_seed
        level = generate(variant.spec(split), seed)
        probs = probes.policy_map(agent, level, canvas_size(variant))
        path = Path(args.run) / f"policy_map_{split}.png"
        title = f"{cfg.agent} (seed {cfg.seed}), {cfg.variant} / {split}"
        written.append(probes.plot_policy_map(level, probs, path, title))
    _console().print(table)
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
    _split(_variant(args), args.split)
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
    parser.add_argument("--hyperparams", default="benchmarks/hyperparams/sb3.toml",
                        help="settings the search starts from (the agent's table)")  # fmt: skip
    parser.add_argument("--space", help="search-space TOML (default: the built-in space)")
    parser.add_argument("--runs-dir", default="results/runs", help="the study goes under tune/")
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


# --- parser -------------------------------------------------------------------------------------

SUBCOMMANDS = {
    "variants": (add_variants, "list every variant, its splits and their settings"),
    "show": (add_show, "render one level to a PNG (or print it as ASCII)"),
    "play": (add_play, "play a level with the keyboard (needs a display)"),
    "check": (add_check, "check train/test overlap and level invariants"),
    "benchmark": (add_benchmark, "run a suite: train, evaluate, write the leaderboard and plots"),
    "train": (add_train, "train one learning agent on a variant's train split"),
    "evaluate": (add_evaluate, "train if needed, then evaluate one agent on every split"),
    "leaderboard": (add_leaderboard, "rebuild a suite's leaderboard and plots from its runs"),
    "deception": (add_deception, "the deception toy: every strategy's apples, best first"),
    "probe": (add_probe, "goal probe of a run's agent: toward the exit or the apple? policy maps"),
    "attack": (add_attack, "search levels where a run's agent fails to reach the exit"),
    "tune": (add_tune, "search a learning agent's hyper-parameters with Optuna (resumable)"),
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
        add(subparsers.add_parser(name, help=help_, description=help_, parents=[common]))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.debug:  # the runs' workers report full tracebacks too
        os.environ["MESA_MAZE_DEBUG"] = "1"
    args.variant_dirs = args.global_variant_dirs + args.variant_dirs
    try:
        return args.func(args)
    except (CliError, VariantError, SuiteError, ResultsError, AgentError) as e:
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


if __name__ == "__main__":
    sys.exit(main())

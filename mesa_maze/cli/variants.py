"""The light commands: ``variants``, ``show``, ``play`` and ``check``, over variant files and
their levels.

Only light modules at the top: ``variants``, ``show``, ``check`` and ``--help`` must not load
torch, stable-baselines3 or pandas (they answer in under a second). ``show`` and ``play`` import
Minigrid inside their functions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from rich.table import Table

from mesa_maze import env_id
from mesa_maze.cli.common import CliError, at_least, out_file, split_of, variant_of, wide_console
from mesa_maze.core.levels import EVAL_BLOCK, LevelSpec
from mesa_maze.core.overlap import check_variant
from mesa_maze.core.variants import TRAIN, broken_variants, load_variants
from mesa_maze.training.streams import audit as streams_audit  # light: no torch or SB3

PLAY_KEYS = ("left", "right", "up", "backspace", "escape")  # Minigrid's keys for turn/forward


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
    # The proxy: its objects where the variant places some (apples, keys), else its region.
    kind = spec.kind
    if kind.is_region:
        proxy = f"{kind.name} region ({len(spec.region_cells)} cells)"
    else:
        noun = kind.object_type + ("s" if spec.apples.count != 1 else "")
        proxy = f"{spec.apples.count} {noun} {spec.apples.placement}"
    if spec.apples.count and spec.apples.placement == "far_from_exit":
        proxy += f" (>= {spec.apples.min_distance} from exit)"
    return {
        "generator": generator,
        "size": str(spec.size),
        "exit": exit_,
        "proxy": proxy,
        "colours": f"exit {spec.exit_color}"
        + ("" if kind.is_region else f", {kind.name} {spec.apple_color}")
        + (f", cue {spec.cue_color}" if spec.cue_color else ""),
        "max steps": str(spec.step_limit),
        "levels": str(spec.num_levels or "unlimited"),
    }


def add_variants(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=cmd_variants)


def cmd_variants(args) -> int:
    """One table per variant: its splits, each split's gymnasium id (``MesaMaze/<variant>-<split>-v0``)
    and settings; a shift's changes are highlighted."""
    console = wide_console()
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
        # gymnasium.make(id) after `import mesa_maze` (a --variant-dir variant: register_envs)
        print("gym ids: " + ", ".join(env_id(name, split) for split in variant.splits))
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

    split_of(variant_of(args), args.split)
    at_least(args.seed, 0, "--seed")
    at_least(args.tile, 1, "--tile")
    out = out_file(args.out) if args.out is not None else None
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

    split_of(variant_of(args), args.split)
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
    (``core.overlap``), and every training stream, the plain one and the remedies', against the
    held-out levels of a run of seed 0 with ``--levels`` episodes (``training.streams.audit``)."""
    if not 1 <= args.levels <= EVAL_BLOCK:  # a run seed's block of evaluation levels
        raise CliError(f"--levels must be in 1..{EVAL_BLOCK}, got {args.levels}")
    variant = variant_of(args)
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
    console = wide_console()
    console.print(table)
    overlap_total = check.overlap
    # Every training stream (seed 0) against the levels a run of seed 0 holds out: its
    # evaluation and probe levels of every split, the train split's included.
    streams = Table(
        title=f"training streams (the remedies' at α = 1), {args.levels} levels each, against "
        f"the held-out levels of a run of seed 0 with {args.levels} episodes"
    )
    for column in ("split", "stream", "levels", "held-out levels met", "overlap"):
        streams.add_column(column, justify="left" if column in ("split", "stream") else "right")
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

"""Level mutations: the one operator set that ACCEL (training) and the attack (diagnostics) use.

Each operator maps ``(level, rng)`` to a valid level (``check_level`` passes) or None when it
cannot apply: move an apple, move the exit, flip a wall, recolour the exit, recolour the apples. A
level's proxy region is the whole square, walls included, so a mutated level keeps its proxy.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mesa_maze.core import solver
from mesa_maze.core.levels import COLORS, Level, check_level


def _reachable_free(level: Level) -> list[tuple[int, int]]:
    """Cells reachable from the start that hold no start, exit or apple, in grid order."""
    dist = solver.distance_map(level.walls, level.start)
    taken = {level.start, level.exit, *level.apples}
    ys, xs = np.nonzero(dist >= 0)
    return [(int(x), int(y)) for x, y in zip(xs, ys, strict=True) if (x, y) not in taken]


def _valid(level: Level) -> Level | None:
    return level if not check_level(level) else None


def move_apple(level: Level, rng: np.random.Generator) -> Level | None:
    """One apple moves to a random free cell reachable from the start."""
    free = _reachable_free(level)
    if not level.apples or not free:
        return None
    i = int(rng.integers(len(level.apples)))
    apples = list(level.apples)
    apples[i] = free[int(rng.integers(len(free)))]
    return _valid(replace(level, apples=tuple(sorted(apples))))


def move_exit(level: Level, rng: np.random.Generator) -> Level | None:
    """The exit moves to a random free cell reachable from the start."""
    free = _reachable_free(level)
    if not free:
        return None
    return _valid(replace(level, exit=free[int(rng.integers(len(free)))]))


def flip_wall(level: Level, rng: np.random.Generator, tries: int = 16) -> Level | None:
    """One interior cell (not the start, exit or an apple) turns wall <-> floor, keeping the exit
    and every apple reachable; the border never changes."""
    h, w = level.walls.shape
    taken = {level.start, level.exit, *level.apples}
    for _ in range(tries):
        x, y = int(rng.integers(1, w - 1)), int(rng.integers(1, h - 1))
        if (x, y) in taken:
            continue
        walls = level.walls.copy()  # levels are shared; never edit one in place
        walls[y, x] = not walls[y, x]
        child = _valid(replace(level, walls=walls))
        if child is not None:
            return child
    return None


def _recolour(level: Level, field: str, rng: np.random.Generator) -> Level:
    colours = [c for c in COLORS if c != getattr(level, field)]
    return replace(level, **{field: colours[int(rng.integers(len(colours)))]})


def recolour_exit(level: Level, rng: np.random.Generator) -> Level:
    """The exit takes another Minigrid colour. Not among ACCEL's default operators: a grey exit
    is the ``recolored`` shift's defining feature, which DR-α and PLR⊥ never train on."""
    return _recolour(level, "exit_color", rng)


def recolour_apples(level: Level, rng: np.random.Generator) -> Level | None:
    """The apples take another Minigrid colour (None on a level without apples)."""
    return _recolour(level, "apple_color", rng) if level.apples else None


OPERATORS = {
    "move_apple": move_apple,
    "move_exit": move_exit,
    "flip_wall": flip_wall,
    "recolour_exit": recolour_exit,
    "recolour_apples": recolour_apples,
}


def mutate(level: Level, rng: np.random.Generator, edits: int = 2, operators=None) -> Level:
    """``edits`` random operators applied in turn (one that cannot apply is skipped)."""
    names = list(operators or OPERATORS)
    unknown = sorted(set(names) - set(OPERATORS))
    if unknown:
        raise ValueError(f"unknown mutation operators {unknown}; allowed: {', '.join(OPERATORS)}")
    for _ in range(edits):
        child = OPERATORS[names[int(rng.integers(len(names)))]](level, rng)
        level = child if child is not None else level
    return level


def mutate_once(level: Level, rng: np.random.Generator, tries: int = 20) -> Level:
    """One random operator that changes the level and keeps it valid; ``level`` itself if
    ``tries`` draws all fail."""
    names = list(OPERATORS)
    for _ in range(tries):
        child = OPERATORS[names[int(rng.integers(len(names)))]](level, rng)
        if child is not None and child != level:
            return child
    return level

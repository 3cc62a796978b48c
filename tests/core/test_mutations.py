"""The one set of level mutations (ACCEL's operators and the attack's), tested over every
operator as the registry-wide tests run over every agent."""

import numpy as np
import pytest

from mesa_maze.core import mutations
from mesa_maze.core.levels import Level, check_level, generate
from mesa_maze.core.mutations import mutate
from mesa_maze.core.variants import get_variant


def train_levels(n=20, split="train"):
    spec = get_variant("apple-exit").spec(split)
    return [generate(spec, s) for s in range(n)]


def _changed_cells(a: Level, b: Level) -> int:
    return int((a.walls != b.walls).sum())


@pytest.mark.parametrize("op", sorted(mutations.OPERATORS))
def test_mutation_operator_invariants(op):
    """Every child is a valid level (check_level: border, distinct cells, exit and apples
    reachable), keeps size, start and step limit, changes only what its operator names, and
    leaves the parent untouched."""
    rng = np.random.default_rng(0)
    levels = train_levels(25) + train_levels(25, "displaced") + train_levels(10, "bigger")
    applied = 0
    for parent in levels:
        walls = parent.walls.copy()
        child = mutations.OPERATORS[op](parent, rng)
        assert np.array_equal(parent.walls, walls)  # the parent is never edited in place
        if child is None:
            continue
        applied += 1
        assert check_level(child) == []
        assert child.walls.shape == parent.walls.shape
        assert (child.start, child.start_dir, child.max_steps) == (
            parent.start,
            parent.start_dir,
            parent.max_steps,
        )
        assert len(child.apples) == len(parent.apples)
        same_colours = (child.exit_color, child.apple_color) == (
            parent.exit_color,
            parent.apple_color,
        )
        if op == "move_apple":
            assert _changed_cells(parent, child) == 0 and child.exit == parent.exit
            assert len(set(parent.apples) - set(child.apples)) == 1 and same_colours
        elif op == "move_exit":
            assert _changed_cells(parent, child) == 0 and child.apples == parent.apples
            assert child.exit != parent.exit and same_colours
        elif op == "flip_wall":
            assert _changed_cells(parent, child) == 1
            assert (child.exit, child.apples) == (parent.exit, parent.apples) and same_colours
            inner = np.zeros_like(parent.walls)
            inner[1:-1, 1:-1] = True
            assert not (child.walls != parent.walls)[~inner].any()  # the border never changes
        else:
            assert _changed_cells(parent, child) == 0 and not same_colours
            assert (child.exit, child.apples) == (parent.exit, parent.apples)
    assert applied == len(levels)  # on these mazes every operator always finds an edit


def test_mutate_is_seeded_and_checks_operator_names():
    parent = train_levels(1)[0]
    a = mutate(parent, np.random.default_rng(7), edits=5)
    b = mutate(parent, np.random.default_rng(7), edits=5)
    assert a == b and check_level(a) == []
    assert mutate(parent, np.random.default_rng(7), edits=0) == parent
    with pytest.raises(ValueError, match="unknown mutation operators"):
        mutate(parent, np.random.default_rng(0), operators=["teleport"])


def test_mutate_once_keeps_levels_valid_and_changes_them():
    rng = np.random.default_rng(0)
    level = generate(get_variant("apple-exit").spec("train"), 5)
    changed = 0
    for _ in range(100):
        child = mutations.mutate_once(level, rng)
        assert check_level(child) == []
        changed += child != level
        level = child
    assert changed > 80


def test_a_mutated_corner_level_keeps_its_square():
    level = generate(get_variant("corner").spec("anywhere"), 2)
    rng = np.random.default_rng(1)
    for _ in range(30):
        level = mutations.mutate_once(level, rng)
        assert len(level.region) == 4 and level.proxy_cells

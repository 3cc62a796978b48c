"""The train/test overlap check (``core.overlap``), called directly; ``tests/cli`` checks how
``mesa-maze check`` prints it."""

from __future__ import annotations

import pytest

from mesa_maze.core import overlap
from mesa_maze.core.levels import EVAL_SEED_OFFSET, PlacementError, generate
from mesa_maze.core.overlap import check_variant
from mesa_maze.core.variants import TRAIN, get_variant, load_file

TEST_SEEDS = range(EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + 60)


def test_a_built_in_variant_has_no_overlap_and_no_violations():
    variant = get_variant("apple-exit")
    check = check_variant(variant, 60)
    assert check.ok and check.overlap == 0 and check.violations == []
    assert [s.split for s in check.splits] == list(variant.splits)  # train first
    train, *shifts = check.splits
    assert (train.seeds, train.overlap) == (range(60), None)
    assert train.hashes == tuple(generate(variant.spec(TRAIN), s).content_hash() for s in range(60))
    for shift in shifts:
        assert (shift.seeds, shift.levels, shift.unique, shift.overlap) == (TEST_SEEDS, 60, 60, 0)


def test_a_shift_equal_to_train_overlaps(fixtures):
    """tiny's only shift repeats its 5x5 train split: its levels are training levels."""
    check = check_variant(load_file(fixtures / "tiny" / "tiny.toml"), 100)
    train, same = check.splits
    assert train.unique < train.levels == 100  # 5x5 mazes repeat within a split too
    assert same.overlap == sum(h in set(train.hashes) for h in same.hashes) > 0
    assert check.overlap == same.overlap and not check.ok
    assert check.violations == []  # the levels themselves are valid


def test_a_limited_train_split_checks_only_the_seeds_it_uses(write_variant):
    path = write_variant('name = "few"\n[train]\nnum_levels = 10\n[test.same]\nsize = 9\n')
    train, same = check_variant(load_file(path), 50).splits
    assert (train.seeds, train.levels) == (range(10), 10)
    assert (same.seeds, same.levels) == (range(EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + 50), 50)


def test_violations_and_unplaceable_seeds_are_named_by_split_and_seed(monkeypatch):
    real_generate = overlap.generate

    def generate_or_fail(spec, seed):
        if seed == 3:
            raise PlacementError("exit", "no level satisfied the rules")
        return real_generate(spec, seed)

    def check_level(level, spec=None):
        return ["exit is not a dead end"] if level.exit[0] % 2 else []

    monkeypatch.setattr(overlap, "generate", generate_or_fail)
    monkeypatch.setattr(overlap, "check_level", check_level)
    check = check_variant(get_variant("corner"), 8)
    train = check.splits[0]
    assert train.levels == 7  # seed 3 gave no level
    assert (3, "no level satisfied the rules") in train.violations
    assert "train seed 3: no level satisfied the rules" in check.violations
    spec = get_variant("corner").spec(TRAIN)
    odd = [s for s in range(8) if s != 3 and generate(spec, s).exit[0] % 2]
    assert odd and [seed for seed, _ in train.violations if seed != 3] == odd
    assert not check.ok


def test_fewer_than_one_level_is_refused():
    with pytest.raises(ValueError, match="levels must be at least 1, got 0"):
        check_variant(get_variant("corner"), 0)

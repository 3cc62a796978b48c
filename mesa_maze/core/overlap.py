"""What a run holds out, and the train/test overlap check of a variant (``mesa-maze check``,
docs/design.md §2 and §7).

**Held out.** :func:`held_out_hashes` is the one definition of the levels a run is scored on:
its final evaluation on every split, the goal probe's levels of every split and the train
split's training-curve levels, all from the run seed's block (``levels.eval_seeds``). Seeds
never meet training's, but small mazes repeat, so every training stream leaves these levels
out *by content hash* (the plain env's source, DR-α, PLR⊥, ACCEL, a planner's learned models).

**The overlap check.** Every split's levels are generated from the seeds a run would use: the
train split from seed 0 (below ``num_levels`` when the split is limited to that many), every
test shift from run seed 0's block of the final evaluation. A test level whose content hash is
also a training level's is an *overlap*: the shift would share levels with training's
distribution. A level that breaks its spec's rules (``levels.check_level``), or a seed no level
could be placed for, is a *violation*. A variant passes with neither.

The training streams themselves, the plain one and every remedy's, are audited against the
held-out levels separately (``training.streams.audit``), because they need the level sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesa_maze.core.levels import (
    LevelSpec,
    PlacementError,
    check_level,
    curve_seeds,
    final_eval_seeds,
    generate,
    probe_seeds,
)
from mesa_maze.core.variants import TRAIN, Variant


@dataclass(frozen=True)
class SplitCheck:
    """One split's levels: how many, how many distinct, how many repeat training levels."""

    split: str
    seeds: range
    hashes: tuple[str, ...]  # content hashes of the levels generated, in seed order
    violations: tuple[tuple[int, str], ...]  # (seed, problem)
    overlap: int | None  # test levels equal to a training level; None for the train split

    @property
    def levels(self) -> int:
        return len(self.hashes)

    @property
    def unique(self) -> int:
        return len(set(self.hashes))


@dataclass(frozen=True)
class VariantCheck:
    """Every split of one variant, the train split first."""

    variant: str
    levels: int  # asked for per split (a limited train split may have fewer)
    splits: tuple[SplitCheck, ...]

    @property
    def overlap(self) -> int:
        """Test levels, over every shift, that equal a training level."""
        return sum(s.overlap or 0 for s in self.splits)

    @property
    def violations(self) -> list[str]:
        """Every violation as ``"<split> seed <seed>: <problem>"``, split by split."""
        return [f"{s.split} seed {seed}: {p}" for s in self.splits for seed, p in s.violations]

    @property
    def ok(self) -> bool:
        return self.overlap == 0 and not self.violations


def check_split(spec: LevelSpec, seeds) -> tuple[list[str], list[tuple[int, str]]]:
    """Generate the split's levels: their content hashes and every (seed, problem) found."""
    hashes, problems = [], []
    for seed in seeds:
        try:
            level = generate(spec, seed)
        except PlacementError as e:
            problems.append((seed, str(e)))
            continue
        hashes.append(level.content_hash())
        problems += [(seed, p) for p in check_level(level, spec)]
    return hashes, problems


def split_seeds(spec: LevelSpec, split: str, levels: int) -> range:
    """The first ``levels`` seeds a run uses for ``split``. A train split limited to
    ``num_levels`` levels only ever uses the seeds below it."""
    if split == TRAIN:
        return range(min(levels, spec.num_levels or levels))
    first = final_eval_seeds(0, levels)[0]  # run seed 0's block
    return range(first, first + levels)


def check_variant(variant: Variant, levels: int) -> VariantCheck:
    """Overlap and violations over ``levels`` levels of every split of ``variant``."""
    if levels < 1:
        raise ValueError(f"levels must be at least 1, got {levels}")
    train_spec = variant.spec(TRAIN)
    train_seeds = split_seeds(train_spec, TRAIN, levels)
    train_hashes, train_problems = check_split(train_spec, train_seeds)
    checks = [SplitCheck(TRAIN, train_seeds, tuple(train_hashes), tuple(train_problems), None)]
    trained_on = set(train_hashes)
    for split in variant.shifts:
        seeds = split_seeds(variant.spec(split), split, levels)
        hashes, problems = check_split(variant.spec(split), seeds)
        overlap = sum(h in trained_on for h in hashes)
        checks.append(SplitCheck(split, seeds, tuple(hashes), tuple(problems), overlap))
    return VariantCheck(variant.name, levels, tuple(checks))


# --- what a run holds out ----------------------------------------------------------------------


def held_out_seeds(
    variant: Variant, run_seed: int, episodes: int, curve_levels: int
) -> dict[str, list[int]]:
    """Every level seed a run with ``run_seed`` is scored on, by split: its final evaluation
    (``episodes`` per split), the goal probe's levels (every split) and, on the train split,
    the training curve's ``curve_levels``. A planner's failsafe replays the final evaluation's
    levels, so they are these too."""
    scored = final_eval_seeds(run_seed, episodes) + probe_seeds(run_seed)
    curve = curve_seeds(run_seed, curve_levels)
    return {split: scored + (curve if split == TRAIN else []) for split in variant.splits}


def level_hashes(spec: LevelSpec, seeds) -> frozenset[str]:
    """The content hashes of the levels of ``seeds`` under ``spec``."""
    return frozenset(generate(spec, seed).content_hash() for seed in seeds)


def held_out_hashes(
    variant: Variant, run_seed: int, episodes: int, curve_levels: int
) -> frozenset[str]:
    """The content hashes of every level a run is scored on (:func:`held_out_seeds`): what
    every training stream of the run leaves out."""
    seeds = held_out_seeds(variant, run_seed, episodes, curve_levels)
    return frozenset().union(*(level_hashes(variant.spec(s), seeds[s]) for s in variant.splits))

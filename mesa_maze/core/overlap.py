"""The train/test overlap check of a variant (``mesa-maze check``, docs/design.md §2 and §7).

Every split's levels are generated from the seeds a run would use: the train split from seed 0
(below ``num_levels`` when the split is limited to that many), every test shift from the final
evaluation's block (``EVAL_SEED_OFFSET``). A test level whose content hash is also a training
level's is an *overlap*: the agent may have trained on it, so the shift would not measure
generalization. A level that breaks its spec's rules (``levels.check_level``), or a seed no
level could be placed for, is a *violation*. A variant passes with neither.

The remedies' training streams are audited separately (``training.streams.audit``), because
they need the remedies' level sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesa_maze.core.levels import (
    EVAL_SEED_OFFSET,
    LevelSpec,
    PlacementError,
    check_level,
    generate,
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
    return range(EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + levels)


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

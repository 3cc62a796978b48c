"""ACCEL (``ppo-accel``, Parker-Holder et al. 2022): PLR⊥ plus mutations (docs/design.md §7).

After every rollout, ``mutated_levels`` children of the levels just replayed, each ``edits``
random edits away (``operators``), are scored and offered to the buffer with the fresh levels.
The default operators move an apple, move the exit, flip a wall and recolour the apples; not the
exit, whose grey colour is the ``recolored`` shift's feature that DR-α and PLR⊥ never see (the
ACCEL columns would not be on equal terms). Its log counts the buffer's mutated share.
"""

from __future__ import annotations

import numpy as np

from mesa_maze.core.levels import Level
from mesa_maze.core.mutations import OPERATORS
from mesa_maze.training.remedies.base import AuditStream, Option
from mesa_maze.training.remedies.plr import Entry, PrioritizedLevelReplay
from mesa_maze.training.streams import children_of, same_size_shifts, stream_seed


class Accel(PrioritizedLevelReplay):
    OPTIONS = {
        **PrioritizedLevelReplay.OPTIONS,
        "mutated_levels": Option(
            0,
            "children of replayed levels scored after every rollout",
            lambda n: n >= 0,
            "an integer >= 0",
        ),
        "edits": Option(2, "random edits per child", lambda n: n >= 1, "an integer >= 1"),
        "operators": Option(
            ["move_apple", "move_exit", "flip_wall", "recolour_apples"],
            "the mutations an edit picks from",
            lambda operators: set(operators) <= set(OPERATORS),
            f"a list of mutation operators from {', '.join(OPERATORS)}",
        ),
    }

    def __init__(self, run):
        super().__init__(run)
        self.rng = np.random.default_rng(stream_seed(run.config.seed, 4))

    def children(self, parents: list[Entry]) -> list[tuple[Level, int]]:
        """``mutated_levels`` children of the replayed ``parents``, with their generations."""
        opt = self.options
        if not opt["mutated_levels"] or not parents:
            return []
        kept, skipped = children_of(
            [p.level for p in parents],
            opt["mutated_levels"],
            self.rng,
            opt["edits"],
            opt["operators"],
            self.excluded,
        )
        self.children_skipped += skipped
        return [(child, parents[i].generation + 1) for i, child in kept]

    @classmethod
    def audit_streams(cls, variant, levels, seed, excluded):
        """PLR⊥'s fresh levels and their children (the default edits and operators)."""
        streams = []
        for shift in same_size_shifts(variant):
            fresh, parents = cls.audit_fresh(variant, shift, levels, seed, excluded)
            rng = np.random.default_rng(stream_seed(seed, 4))
            edits, operators = cls.OPTIONS["edits"].default, cls.OPTIONS["operators"].default
            kids, met = children_of(parents, levels, rng, edits, operators, excluded)
            children = [child.content_hash() for _, child in kids]
            streams += [fresh, AuditStream(shift, "ACCEL children", children, met)]
        return streams

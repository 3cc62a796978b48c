"""DR-α (``ppo-dr``, Langosco et al. 2022): diversity. Each training level comes from a test
shift's placement (``dr_shift``, by default ``displaced``) with probability α, else from the
train split (docs/design.md §7).

``ppo-dr@0.01`` is ``ppo-dr`` with α = 0.01 (its own run folder and leaderboard row); plain
``ppo-dr`` takes α from the hyper-parameter file. At α = 0 it trains exactly as ``ppo`` with the
same seed. Its log is the share of apart levels among those served in each rollout.
"""

from __future__ import annotations

from mesa_maze.core.variants import TRAIN
from mesa_maze.training.remedies.base import AuditStream, Option, Remedy
from mesa_maze.training.streams import Mixture, dr_test_stream, same_size_shifts, shift_spec

# The options of every remedy whose levels come from DR-α (PLR⊥'s fresh levels do too).
OPTIONS = {
    "alpha": Option(
        0.02,
        "the share of levels drawn from the test placement dr_shift",
        lambda alpha: 0 <= alpha <= 1,
        "a number in [0, 1]",
    ),
    "dr_shift": Option("displaced", "the test shift mixed in; of the train split's size"),
}


class DomainRandomization(Remedy):
    OPTIONS = OPTIONS

    def __init__(self, run):
        # The batched env pulls in SB3 (its vector env base): imported here, at training time,
        # so the audit that imports this module stays light.
        from mesa_maze.envs.vector import BatchedMaze

        super().__init__(run)
        cfg = run.config
        alpha, shift = self.options["alpha"], self.options["dr_shift"]
        shift_spec(
            self.variant, shift
        )  # an unknown or other-size dr_shift fails now, even at α = 0
        plain = BatchedMaze(  # the source the plain training env builds: same seed, same skip
            self.variant,
            TRAIN,
            1,
            cfg.seed,
            actions=self.env.actions,
            num_levels=self.env.num_levels,
            variant_dirs=cfg.variant_dirs,
            skip=self.excluded,
        ).source
        other = None
        if alpha > 0:  # built lazily: at α = 0 nothing is generated for the shift
            other = dr_test_stream(self.variant, shift, cfg.seed, self.env.actions, self.excluded)
        self.source = Mixture(plain, other, alpha, cfg.seed)

    @classmethod
    def audit_streams(cls, variant, levels, seed, excluded):
        streams = []
        for shift in same_size_shifts(variant):
            # α = 1 never draws from the train split, which the audit therefore need not build.
            test_placement = dr_test_stream(variant, shift, seed, "cardinal", excluded, cache=False)
            mixture = Mixture(None, test_placement, 1.0, seed)
            served = mixture.next(levels).hashes.tolist()
            streams.append(AuditStream(shift, "DR-α", served, mixture.skipped))
        return streams

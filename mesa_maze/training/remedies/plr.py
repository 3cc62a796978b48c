"""PLR⊥ (``ppo-plr``, Jiang et al. 2021, "robust" PLR): a buffer of levels scored by regret, and
the pieces ACCEL builds on (docs/design.md §7).

PPO trains *only* on levels replayed from the buffer (rank-prioritised by score, mixed with a
staleness term). After every rollout, ``new_levels`` fresh levels from the DR-α generator are
played by the current policy without any gradient step, and enter the buffer if their regret
beats the lowest in it. Replayed levels are rescored from their training episodes.

Regret is exact, from the shared BFS solver: ``optimal_return(level) - base return`` of the
agent's episode on that level, where the base return is the exit reward (whatever the training
reward), so a proxy-seeking episode that never reaches the exit has the largest regret.

Budgets: it trains on the same ``train_steps`` env steps as every remedy (the PPO updates are
equal). Scoring fresh levels costs extra env steps that no gradient sees; the log counts them.
Its log adds the buffer's statistics to DR-α's apart share.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mesa_maze.core import solver
from mesa_maze.core.levels import Level
from mesa_maze.core.variants import TRAIN
from mesa_maze.envs.pools import LevelPool
from mesa_maze.training.remedies import dr
from mesa_maze.training.remedies.base import AuditStream, Option, Remedy
from mesa_maze.training.streams import (
    FreshLevels,
    apart,
    same_size_shifts,
    shift_spec,
    stream_seed,
)

# --- regret and the level buffer ----------------------------------------------------------------


def regret(level: Level, reached_exit: bool, steps: int, actions: str = "cardinal") -> float:
    """Exact regret of one episode: the level's optimal return minus the episode's base return."""
    optimum = solver.optimal_return(level, actions)
    return optimum - solver.base_return(reached_exit, steps, level.max_steps)


@dataclasses.dataclass
class Entry:
    uid: int  # the pool id its episodes carry
    level: Level
    pool: LevelPool  # the level as a one-row pool, ready to serve
    optimal_return: float
    score: float  # regret of its latest episode
    last: int  # replay count when it was last replayed (or inserted)
    generation: int  # 0 fresh, k: k mutations away from a fresh level
    apart: bool


class LevelBuffer:
    """PLR's level buffer: rank-prioritised replay with staleness, replacement of the lowest score.

    ``P_replay = (1 - ρ) P_score + ρ P_stale``: ``P_score`` ∝ ``(1 / rank) ** (1 / β)`` with
    rank 1 the highest score (equal scores share the rank), ``P_stale`` ∝ replays since a level was
    last replayed. A new level enters when the buffer has room or its score beats the lowest
    score in it, which it then replaces; a level already in it (same content) is only rescored.
    """

    def __init__(
        self,
        capacity: int,
        temperature: float = 0.3,
        staleness: float = 0.3,
        seed: int = 0,
        actions: str = "cardinal",
    ):
        if capacity < 1 or temperature <= 0 or not 0 <= staleness <= 1:
            raise ValueError("buffer_size >= 1, replay_temperature > 0, 0 <= staleness_coef <= 1")
        self.capacity, self.temperature, self.staleness = capacity, temperature, staleness
        self.actions = actions
        self.rng = np.random.default_rng(stream_seed(seed, 3))
        self.entries: list[Entry] = []
        self.by_uid: dict[int, int] = {}  # uid -> index in entries
        self.by_hash: dict[str, int] = {}
        self.replays = 0  # levels replayed so far (PLR's episode count c)
        self.next_uid = 0
        self.served = self.served_apart = 0

    def __len__(self) -> int:
        return len(self.entries)

    def replay_probs(self) -> np.ndarray:
        scores = np.array([e.score for e in self.entries])
        # Equal scores share a rank (the lowest: 1 + how many score strictly higher), as rank
        # prioritisation intends; exact regret often ties (it depends on optimal steps alone).
        ranks = 1.0 + (scores[None, :] > scores[:, None]).sum(axis=1)
        weights = (1.0 / ranks) ** (1.0 / self.temperature)
        probs = weights / weights.sum()
        stale = self.replays - np.array([e.last for e in self.entries], dtype=float)
        if self.staleness > 0 and stale.sum() > 0:
            probs = (1 - self.staleness) * probs + self.staleness * stale / stale.sum()
        return probs

    def sample(self, k: int) -> list[Entry]:
        """``k`` levels to replay (with replacement); they become fresh (staleness 0)."""
        rows = self.rng.choice(len(self.entries), size=k, p=self.replay_probs())
        self.replays += k
        picked = [self.entries[i] for i in rows]
        for entry in picked:
            entry.last = self.replays
        return picked

    def next(self, k: int) -> LevelPool:
        """The level source of the training env: replayed levels only (the ⊥ of PLR⊥)."""
        if not self.entries:
            raise RuntimeError("the level buffer is empty: fill it before training starts")
        picked = self.sample(k)
        self.served += k
        self.served_apart += sum(e.apart for e in picked)
        return LevelPool.concat([e.pool for e in picked])

    def insert(self, level: Level, score: float, generation: int = 0) -> bool:
        """Add a scored level (see the class docstring); True if it entered the buffer. A level
        already in the buffer only takes the new score (False: nothing entered)."""
        key = level.content_hash()
        if key in self.by_hash:
            self.entries[self.by_hash[key]].score = score
            return False
        if len(self.entries) < self.capacity:
            row = len(self.entries)
            self.entries.append(None)
        else:
            row = int(np.argmin([e.score for e in self.entries]))
            if score <= self.entries[row].score:
                return False
            old = self.entries[row]
            del self.by_uid[old.uid], self.by_hash[old.level.content_hash()]
        uid, self.next_uid = self.next_uid, self.next_uid + 1
        pool = LevelPool.from_levels([level], self.actions, ids=[uid])
        self.entries[row] = Entry(
            uid=uid,
            level=level,
            pool=pool,
            optimal_return=solver.optimal_return(level, self.actions),
            score=score,
            last=self.replays,
            generation=generation,
            apart=apart(level),
        )
        self.by_uid[uid], self.by_hash[key] = row, row
        return True

    def rescore(self, uid: int, reached_exit: bool, steps: int) -> None:
        """A replayed level's new score from its training episode (dropped if it left)."""
        if uid in self.by_uid:
            entry = self.entries[self.by_uid[uid]]
            entry.score = entry.optimal_return - solver.base_return(
                reached_exit, steps, entry.level.max_steps
            )

    def stats(self) -> dict:
        scores = np.array([e.score for e in self.entries])
        return {
            "buffer_size": len(self.entries),
            "buffer_apart": float(np.mean([e.apart for e in self.entries])),
            "buffer_mutated": float(np.mean([e.generation > 0 for e in self.entries])),
            "mean_score": float(scores.mean()),
            "max_score": float(scores.max()),
            "mean_staleness": float(np.mean([self.replays - e.last for e in self.entries])),
        }


# --- scoring levels with the current policy (no gradient) -----------------------------------------


def score_levels(agent, levels: list[Level], variant, actions: str, observation: str):
    """Play one episode per level with ``agent`` and return ``(regrets, env steps simulated)``:
    every env steps until the longest episode ends, so the cost exceeds the episodes' lengths."""
    # The batched env pulls in SB3: imported here, so the audit that imports this module stays
    # light.
    from mesa_maze.envs.vector import canvas_size, run_levels

    cost = {}
    records = run_levels(
        agent,
        levels,
        variant,
        TRAIN,
        num_envs=min(len(levels), 256),
        pad_to=canvas_size(variant),
        actions=actions,
        observation=observation,
        reward=variant.reward,
        cache=False,
        cost=cost,
    )
    regrets = [
        regret(level, bool(r["reached_exit"]), int(r["steps"]), actions)
        for level, r in zip(levels, records, strict=True)
    ]
    return regrets, cost["frames"]


# --- the remedy ---------------------------------------------------------------------------------


class PrioritizedLevelReplay(Remedy):
    OPTIONS = {
        **dr.OPTIONS,  # the generator of fresh levels is DR-α
        "buffer_size": Option(256, "levels kept", lambda n: n >= 1, "an integer >= 1"),
        "replay_temperature": Option(
            0.3,
            "β of rank prioritisation: weight (1 / rank) ** (1 / β)",
            lambda beta: beta > 0,
            "a number > 0",
        ),
        "staleness_coef": Option(
            0.3,
            "ρ: replay = (1 - ρ) score term + ρ staleness term",
            lambda rho: 0 <= rho <= 1,
            "a number in [0, 1]",
        ),
        "new_levels": Option(
            64, "fresh levels scored after every rollout", lambda n: n >= 0, "an integer >= 0"
        ),
        "score_deterministic": Option(
            False, "score levels with greedy actions (false: sampled, as in training)"
        ),
    }

    def __init__(self, run):
        super().__init__(run)
        cfg = run.config
        opt = self.options
        self.fresh = self.fresh_levels(
            self.variant, opt["dr_shift"], opt["alpha"], cfg.seed, self.excluded
        )
        self.source = LevelBuffer(
            opt["buffer_size"],
            opt["replay_temperature"],
            opt["staleness_coef"],
            cfg.seed,
            self.env.actions,
        )
        self.replayed: set[int] = set()  # levels trained on in this rollout
        self.scored_levels = self.scored_steps = 0
        self.children_skipped = 0  # ACCEL's children that were held-out levels

    @property
    def skipped(self) -> int:
        """Held-out levels left out: fresh ones and (ACCEL) children; replays are buffer levels."""
        return self.fresh.skipped + self.children_skipped

    @staticmethod
    def fresh_levels(variant, shift: str, alpha: float, seed: int, excluded) -> FreshLevels:
        """The generator of fresh levels: DR-α's mixture of the train split and ``shift``."""
        return FreshLevels(variant.spec(TRAIN), shift_spec(variant, shift), alpha, seed, excluded)

    def offer(self, model, new: int, children=()) -> int:
        """Score ``new`` fresh levels and the ``(level, generation)`` children with the current
        policy (no gradient) and insert them (children that are held-out levels were left out by
        :func:`streams.children_of`); returns how many entered the buffer."""
        # Heavy (torch), and needed only while training: imported here, so the audit that
        # imports this module stays light.
        from mesa_maze.agents import SB3Agent

        batch = [(lv, 0) for lv in self.fresh.next(new)] + list(children)
        if not batch:
            return 0
        agent = SB3Agent(model, "scorer", self.options["score_deterministic"])
        levels = [lv for lv, _ in batch]
        regrets, steps = score_levels(
            agent, levels, self.variant, self.env.actions, self.env.observation
        )
        self.scored_levels += len(levels)
        self.scored_steps += steps
        return sum(
            self.source.insert(lv, r, gen) for (lv, gen), r in zip(batch, regrets, strict=True)
        )

    def children(self, parents: list[Entry]) -> list[tuple[Level, int]]:
        """Levels made from the levels just replayed, scored with the fresh ones: none (ACCEL's)."""
        return []

    def before_training(self, model) -> None:
        self.offer(model, self.options["buffer_size"])  # fill before the first reset

    def on_training_start(self, maze) -> None:
        self.maze = maze
        self.playing = maze.level_ids.copy()  # the level each env is on

    def on_rollout_start(self) -> None:
        self.replayed.update(self.playing.tolist())

    def on_step(self, dones, infos) -> None:
        """Rescore the replayed levels whose episodes ended, from those episodes."""
        for row in np.flatnonzero(dones):
            uid, info = int(self.playing[row]), infos[row]
            self.source.rescore(uid, bool(info["reached_exit"]), int(info["steps"]))
        self.playing = self.maze.level_ids.copy()
        self.replayed.update(self.playing[dones].tolist())

    def on_rollout_end(self, model, timesteps: int) -> dict:
        """Score fresh levels (and ACCEL's children) with the current policy and offer them to
        the buffer; the row adds the buffer's statistics and the scoring's cost."""
        buffer = self.source
        parents = [
            buffer.entries[buffer.by_uid[u]] for u in sorted(self.replayed) if u in buffer.by_uid
        ]
        self.replayed.clear()
        inserted = self.offer(model, self.options["new_levels"], self.children(parents))
        return {
            **self.log_row(timesteps),
            **buffer.stats(),
            "inserted": inserted,
            "scored_levels": self.scored_levels,
            "scored_steps": self.scored_steps,
        }

    @classmethod
    def audit_fresh(cls, variant, shift, levels, seed, excluded):
        """``(the audit's stream of fresh levels, the levels it served)``."""
        fresh = cls.fresh_levels(variant, shift, 1.0, seed, excluded)
        served = fresh.next(levels)
        stream = AuditStream(
            shift, "PLR⊥ fresh", [lv.content_hash() for lv in served], fresh.skipped
        )
        return stream, served

    @classmethod
    def audit_streams(cls, variant, levels, seed, excluded):
        return [
            cls.audit_fresh(variant, shift, levels, seed, excluded)[0]
            for shift in same_size_shifts(variant)
        ]

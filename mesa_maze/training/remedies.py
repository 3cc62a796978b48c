"""Training-distribution remedies for goal misgeneralization: DR-α, PLR⊥ and ACCEL.

docs/design.md §7 defines them.

Each remedy only changes *which levels* PPO trains on; the training loop is the runner's
(:func:`mesa_maze.experiments.runner.train`), given this module's level source and callbacks.

- **DR-α** (``ppo-dr``, Langosco et al. 2022): each training level comes from the test placement
  (the shift ``dr_shift``, by default ``displaced``) with probability α, else from the train split.
- **PLR⊥** (``ppo-plr``, Jiang et al. 2021, "robust" PLR): a buffer of levels scored by regret.
  PPO trains *only* on levels replayed from the buffer (rank-prioritised by score, mixed with a
  staleness term). After every rollout, ``new_levels`` fresh levels from the DR-α generator are
  played by the current policy without any gradient step, and enter the buffer if their regret
  beats the lowest in it. Replayed levels are rescored from their training episodes.
- **ACCEL** (``ppo-accel``, Parker-Holder et al. 2022): PLR⊥ plus, after every rollout,
  ``mutated_levels`` children of the levels just replayed, each ``edits`` random edits away
  (``operators``; by default move an apple, move the exit, flip a wall, recolour the apples:
  not the exit, whose grey colour is the ``recolored`` shift's feature that DR-α and PLR⊥ never
  see), scored and inserted like fresh levels.

Regret is exact, from the shared BFS solver: ``optimal_return(level) - base return`` of the
agent's episode on that level, where the base return is the exit reward (whatever the training
reward), so a proxy-seeking episode that never reaches the exit has the largest regret.

Budgets: every remedy trains on the same ``train_steps`` env steps (the PPO updates are equal).
Scoring fresh and mutated levels costs extra env steps that no gradient sees; they are logged.

Names: ``ppo-dr@0.01`` is ``ppo-dr`` with α = 0.01 (its own run directory and leaderboard row);
plain ``ppo-dr`` takes α from the hyper-parameter file. Hyper-parameters (``[ppo-dr]``,
``[ppo-plr]``, ``[ppo-accel]`` in ``benchmarks/hyperparams/sb3.toml``) mix SB3's arguments with
the keys of :data:`DEFAULTS`, which :func:`split_options` takes out.

Logs: ``remedy.csv`` in the run directory, one row per rollout: the share of training episodes'
levels where apples and exit are *apart* (no apple on the shortest start-exit path, so the proxy
and the base objective lead different ways), and for PLR⊥/ACCEL the buffer's statistics.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from stable_baselines3.common.callbacks import BaseCallback

from mesa_maze import agents
from mesa_maze.core import solver
from mesa_maze.core.hyperparams import parse as parse_hyperparams
from mesa_maze.core.levels import Level
from mesa_maze.core.variants import TRAIN, get_variant
from mesa_maze.envs.pools import LevelPool
from mesa_maze.envs.vector import BatchedMaze, canvas_size, run_levels
from mesa_maze.evaluation import leaderboard
from mesa_maze.training.streams import (
    DEFAULT_EDITS,
    DEFAULT_OPERATORS,
    FreshLevels,
    Mixture,
    apart,
    children_of,
    dr_test_stream,
    evaluation_hashes,
    shift_spec,
    stream_seed,
)

REMEDIES = ("dr", "plr", "accel")
# Remedy hyper-parameters (not SB3 arguments) and their defaults.
DEFAULTS = {
    "alpha": 0.02,  # share of fresh levels drawn from the test placement dr_shift
    "dr_shift": "displaced",
    "buffer_size": 256,  # PLR⊥/ACCEL: levels kept
    "replay_temperature": 0.3,  # β of rank prioritisation: weight (1 / rank) ** (1 / β)
    "staleness_coef": 0.3,  # ρ: replay = (1 - ρ) score term + ρ staleness term
    "new_levels": 64,  # fresh levels scored after every rollout
    "mutated_levels": 0,  # ACCEL: children of replayed levels scored after every rollout
    "edits": DEFAULT_EDITS,  # ACCEL: random edits per child
    "operators": list(DEFAULT_OPERATORS),  # ACCEL: from core.mutations.OPERATORS
    "score_deterministic": False,  # score levels with greedy actions (False: as in training)
}
LOG_FILE = leaderboard.REMEDY_LOG


def split_options(hyperparams: dict) -> tuple[dict, dict]:
    """``(remedy options with defaults filled in, the rest: SB3's arguments)``."""
    options = {**DEFAULTS, **parse_hyperparams(hyperparams, tuple(DEFAULTS)).remedy}
    return options, {k: v for k, v in hyperparams.items() if k not in DEFAULTS}


# --- regret and the "apart" statistic -----------------------------------------------------------


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
    cost = {}
    records = run_levels(
        agent,
        levels,
        variant.name,
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


# --- the hook the runner calls -------------------------------------------------------------------


class RemedyLog(BaseCallback):
    """DR-α's log: the share of apart levels among the levels served in each rollout."""

    def __init__(self, remedy: Remedy):
        super().__init__()
        self.remedy, self.rows, self.seen = remedy, [], (0, 0)

    def _on_step(self) -> bool:
        return True

    def _row(self) -> dict:
        source = self.remedy.source
        served, apart_ = source.served - self.seen[0], source.served_apart - self.seen[1]
        self.seen = (source.served, source.served_apart)
        return {"timesteps": self.num_timesteps, "trained_apart": apart_ / max(served, 1)}

    def _on_rollout_end(self) -> None:
        self.rows.append(self._row())

    def _on_training_end(self) -> None:
        csv = pd.DataFrame(self.rows).to_csv(index=False)
        leaderboard.atomic_write_text(self.remedy.run_dir / LOG_FILE, csv)


class ReplayCallback(RemedyLog):
    """PLR⊥/ACCEL: rescore replayed levels from their episodes; after each rollout score fresh
    (and, for ACCEL, mutated) levels with the current policy and offer them to the buffer."""

    def __init__(self, remedy: Remedy):
        super().__init__(remedy)
        self.replayed: set[int] = set()
        self.scored_levels = self.scored_steps = 0
        self.rng = np.random.default_rng(stream_seed(remedy.seed, 4))

    def _on_training_start(self) -> None:
        self.maze = self.training_env.unwrapped.maze
        self.playing = self.maze.level_ids.copy()  # the level each env is on

    def _on_rollout_start(self) -> None:
        self.replayed.update(self.playing.tolist())  # levels trained on in this rollout

    def _on_step(self) -> bool:
        dones, infos = self.locals["dones"], self.locals["infos"]
        for row in np.flatnonzero(dones):
            uid, info = int(self.playing[row]), infos[row]
            self.remedy.source.rescore(uid, bool(info["reached_exit"]), int(info["steps"]))
        self.playing = self.maze.level_ids.copy()
        self.replayed.update(self.playing[dones].tolist())
        return True

    def _on_rollout_end(self) -> None:
        buffer, opt = self.remedy.source, self.remedy.options
        parents = [
            buffer.entries[buffer.by_uid[u]] for u in sorted(self.replayed) if u in buffer.by_uid
        ]
        self.replayed.clear()
        children = []
        if opt["mutated_levels"] and parents:
            kept, _ = children_of(
                [p.level for p in parents],
                opt["mutated_levels"],
                self.rng,
                opt["edits"],
                opt["operators"],
                self.remedy.excluded,
            )
            children = [(child, parents[i].generation + 1) for i, child in kept]
        inserted = self.remedy.offer(self.model, opt["new_levels"], children, self)
        self.rows.append(
            {
                **self._row(),
                **buffer.stats(),
                "inserted": inserted,
                "scored_levels": self.scored_levels,
                "scored_steps": self.scored_steps,
            }
        )


class Remedy:
    """What :func:`mesa_maze.experiments.runner.train` needs from a remedy: ``source`` (the training env's
    level source) and ``callbacks(model)`` (SB3 callbacks; PLR⊥/ACCEL first fill the buffer)."""

    def __init__(self, kind: str, cfg, run_dir: Path):
        if kind not in REMEDIES:
            raise ValueError(f"unknown remedy {kind!r}; allowed: {', '.join(REMEDIES)}")
        self.kind, self.run_dir, self.seed = kind, Path(run_dir), cfg.seed
        self.options, _ = split_options(cfg.hyperparams)
        hp, opt = cfg.hyperparams, self.options
        self.variant = get_variant(cfg.variant, cfg.variant_dirs)
        settings = parse_hyperparams(hp, tuple(DEFAULTS)).env
        self.actions, self.observation = settings.actions, settings.observation
        alpha = float(opt["alpha"])
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        train = self.variant.spec(TRAIN)
        shift = shift_spec(self.variant, opt["dr_shift"])
        self.excluded = evaluation_hashes(self.variant, cfg.episodes)
        if kind == "dr":
            plain = BatchedMaze(  # the source the plain training env would build, same seed
                cfg.variant,
                TRAIN,
                1,
                cfg.seed,
                actions=self.actions,
                num_levels=settings.num_levels,
                variant_dirs=cfg.variant_dirs,
            ).source
            other = None
            if alpha > 0:  # built lazily: at α = 0 nothing is generated for the shift
                other = dr_test_stream(self.variant, opt["dr_shift"], cfg.seed, self.actions)
            self.source = Mixture(plain, other, alpha, cfg.seed, self.excluded)
        else:
            self.fresh = FreshLevels(train, shift, alpha, cfg.seed, self.excluded)
            self.source = LevelBuffer(
                opt["buffer_size"],
                opt["replay_temperature"],
                opt["staleness_coef"],
                cfg.seed,
                self.actions,
            )

    def offer(self, model, new: int, children=(), log=None) -> int:
        """Score ``new`` fresh levels and the ``(level, generation)`` children with the current
        policy (no gradient) and insert them (children that are evaluation levels were left out by
        :func:`streams.children_of`); returns how many entered the buffer."""
        batch = [(lv, 0) for lv in self.fresh.next(new)] + list(children)
        if not batch:
            return 0
        agent = agents.SB3Agent(model, "scorer", self.options["score_deterministic"])
        levels = [lv for lv, _ in batch]
        regrets, steps = score_levels(agent, levels, self.variant, self.actions, self.observation)
        if log is not None:
            log.scored_levels += len(levels)
            log.scored_steps += steps
        return sum(
            self.source.insert(lv, r, gen) for (lv, gen), r in zip(batch, regrets, strict=True)
        )

    def callbacks(self, model) -> list[BaseCallback]:
        if self.kind == "dr":
            return [RemedyLog(self)]
        log = ReplayCallback(self)
        self.offer(model, self.options["buffer_size"], log=log)  # fill before the first reset
        return [log]


def log_table(runs_root) -> pd.DataFrame:
    """Per remedy agent, from its runs' ``remedy.csv``: the share of training episodes on apart
    levels (over the whole run), the buffer's apart and mutated shares at the end, and the env
    steps spent scoring levels without a gradient; means over seeds."""
    rows = []
    for run_dir, s in leaderboard.find_runs(runs_root):
        path = Path(run_dir) / LOG_FILE
        if not path.exists():
            continue
        log = pd.read_csv(path)
        last = log.iloc[-1]
        rows.append(
            {
                "agent": s["agent"],
                "variant": s["variant"],
                "trained_apart": log["trained_apart"].mean(),
                **{k: last.get(k, np.nan) for k in ("buffer_apart", "buffer_mutated")},
                "scored_steps": last.get("scored_steps", 0),
            }
        )
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).groupby(["agent", "variant"], sort=True).mean().reset_index()

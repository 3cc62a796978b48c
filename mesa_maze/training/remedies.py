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
  (move an apple, move the exit, flip a wall, recolour the exit or the apples), scored and
  inserted like fresh levels.

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
from mesa_maze.core.levels import (
    APPLE,
    EVAL_SEED_OFFSET,
    GOAL,
    WALL,
    Level,
    generate,
)
from mesa_maze.core.levels import apart as levels_apart
from mesa_maze.core.mutations import mutate
from mesa_maze.core.variants import TRAIN, get_variant
from mesa_maze.envs.vector import BatchedMaze, LevelPool, LevelStream, canvas_size, run_levels
from mesa_maze.evaluation import leaderboard
from mesa_maze.evaluation.episodes import eval_seeds

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
    "edits": 2,  # ACCEL: random edits per child
    "operators": ["move_apple", "move_exit", "flip_wall", "recolour"],
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


def _apart(walls: np.ndarray, start, exit_, apples) -> bool:
    if not len(apples):
        return False
    dist_start = solver.distance_map(walls, start)
    return levels_apart(walls, dist_start, exit_, tuple(tuple(a) for a in apples))


def apart(level: Level) -> bool:
    """True when the level has apples, none lies on any shortest start-exit path and the exit
    lies on no shortest path to the nearest apple: going to the apples and going to the exit
    are then different routes (the test placement's property, :func:`levels.apart`)."""
    return _apart(level.walls, level.start, level.exit, level.apples)


def pool_apart(pool: LevelPool) -> np.ndarray:
    """:func:`apart` of every level of a pool (read back from the encoded grids)."""
    out = np.zeros(len(pool), dtype=bool)
    for i, grid in enumerate(pool.grids):
        kinds = grid[..., 0]
        (exit_,) = [(int(x), int(y)) for y, x in np.argwhere(kinds == GOAL)]
        apples = [(int(x), int(y)) for y, x in np.argwhere(kinds == APPLE)]
        out[i] = _apart(kinds == WALL, tuple(pool.start[i].tolist()), exit_, apples)
    return out


# --- level sources --------------------------------------------------------------------------------


def shift_spec(variant, shift: str):
    """The test placement DR mixes in; it must have the train split's size (one env shape)."""
    if shift not in variant.shifts:
        raise ValueError(
            f"dr_shift {shift!r}: variant {variant.name!r} has no such test shift; "
            f"allowed: {', '.join(variant.shifts)}"
        )
    train, spec = variant.spec(TRAIN), variant.spec(shift)
    if spec.size != train.size:
        raise ValueError(
            f"dr_shift {shift!r} of {variant.name!r} has size {spec.size}, the train split "
            f"{train.size}; DR mixes levels of the train size only (pick a same-size shift)"
        )
    return spec


def _seed(seed: int, stream: int) -> int:
    """A seed for one of a run's level streams, independent of the others."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def evaluation_hashes(variant, episodes: int) -> frozenset[str]:
    """Content hashes of every level a run of ``variant`` is evaluated on (each split's first
    ``episodes`` evaluation seeds). Seeds never overlap training's, but small mazes repeat: a
    remedy's training streams leave these levels out by content."""
    seeds = eval_seeds(episodes)
    return frozenset(
        generate(variant.spec(split), s).content_hash() for split in variant.splits for s in seeds
    )


def without(source, k: int, excluded: frozenset) -> LevelPool:
    """``k`` levels from ``source`` (``next(k) -> LevelPool``), evaluation levels left out and
    replaced by further draws."""
    pool = source.next(k)
    # Set lookups on the k new hashes, not an array of every excluded hash per call: this runs
    # at every reset of a DR training env.
    while excluded and (bad := np.array([h in excluded for h in pool.hashes], bool)).any():
        keep = pool.take(np.flatnonzero(~bad))
        pool = LevelPool.concat([keep, source.next(int(bad.sum()))])
    return pool


class Mixture:
    """DR-α: each level from the test placement with probability α, else from the train split.

    The train levels come from exactly the source the plain training env would use (same seed),
    so at α = 0 ``ppo-dr`` trains on the levels of ``ppo``. Test-placement levels that are
    evaluation levels (``excluded``, by content) are left out. Counts what it serves
    (``served``, ``served_apart``) for the log.
    """

    def __init__(self, train, shift, alpha: float, seed: int, excluded: frozenset = frozenset()):
        self.train, self.shift, self.alpha, self.excluded = train, shift, alpha, excluded
        self.rng = np.random.default_rng(_seed(seed, 1))
        self.served = self.served_apart = 0

    def next(self, k: int) -> LevelPool:
        other = self.rng.random(k) < self.alpha
        n = int(other.sum())
        if n == 0:
            pool = self.train.next(k)
        elif n == k:
            pool = without(self.shift, k, self.excluded)
        else:
            rows = np.empty(k, dtype=np.int64)
            rows[~other] = np.arange(k - n)
            rows[other] = k - n + np.arange(n)
            shifted = without(self.shift, n, self.excluded)
            pool = LevelPool.concat([self.train.next(k - n), shifted]).take(rows)
        self.served += k
        self.served_apart += int(pool_apart(pool).sum())
        return pool


class FreshLevels:
    """The generator PLR⊥ and ACCEL draw new levels from: DR-α, as :class:`Level` objects, with
    training seeds (below ``EVAL_SEED_OFFSET``, so never an evaluation level's seed), and no
    level whose content is an evaluation level's (``excluded``)."""

    def __init__(
        self, train_spec, shift_spec_, alpha: float, seed: int, excluded: frozenset = frozenset()
    ):
        self.train_spec, self.shift_spec, self.alpha = train_spec, shift_spec_, alpha
        self.rng = np.random.default_rng(_seed(seed, 2))
        self.excluded = excluded

    def next(self, k: int) -> list[Level]:
        other = self.rng.random(k) < self.alpha
        seeds = self.rng.integers(EVAL_SEED_OFFSET, size=k)
        specs = [self.shift_spec if o else self.train_spec for o in other]
        out = []
        for spec, s in zip(specs, seeds, strict=True):
            level = generate(spec, int(s))
            while level.content_hash() in self.excluded:  # small mazes repeat: draw again
                level = generate(spec, int(self.rng.integers(EVAL_SEED_OFFSET)))
            out.append(level)
        return out


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
        self.rng = np.random.default_rng(_seed(seed, 3))
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
        """Add a scored level (see the class docstring); True if it is in the buffer now."""
        key = level.content_hash()
        if key in self.by_hash:
            self.entries[self.by_hash[key]].score = score
            return True
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
    """Play one episode per level with ``agent`` and return ``(regrets, env steps played)``."""
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
    )
    regrets = [
        regret(level, bool(r["reached_exit"]), int(r["steps"]), actions)
        for level, r in zip(levels, records, strict=True)
    ]
    return regrets, int(sum(r["steps"] for r in records))


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
        self.rng = np.random.default_rng(_seed(remedy.seed, 4))

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
            picks = self.rng.choice(len(parents), size=opt["mutated_levels"])
            for i in picks:
                child = mutate(parents[i].level, self.rng, opt["edits"], opt["operators"])
                children.append((child, parents[i].generation + 1))
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
            name = f"{cfg.variant}-{opt['dr_shift']}-dr"
            other = None
            if alpha > 0:  # built lazily: at α = 0 nothing is generated for the shift
                other = LevelStream(name, shift, _seed(cfg.seed, 0), self.actions, offset=0)
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
        policy (no gradient) and insert them; returns how many entered the buffer."""
        children = [(lv, g) for lv, g in children if lv.content_hash() not in self.excluded]
        batch = [(lv, 0) for lv in self.fresh.next(new)] + children
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

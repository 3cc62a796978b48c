"""The remedies' level streams: where DR-α, PLR⊥ and ACCEL draw their training levels from, the
"apart" statistic their logs report, and the level-leak audit over the plain training stream and
every registered remedy's. No torch or SB3 here, so ``mesa-maze check`` can audit the streams
(held-out levels met and left out) without loading a learner.

Every training stream leaves out the run's held-out levels, the levels it is evaluated or probed
on (:func:`mesa_maze.core.overlap.held_out_hashes`), by content hash: seeds never overlap, but
7x7 mazes form a small level space, and a stream meets some of those levels by chance
(docs/design.md §7). Each counts what it left out in ``skipped``.
"""

from __future__ import annotations

import numpy as np

from mesa_maze.core import solver
from mesa_maze.core.levels import EVAL_SEED_OFFSET, GOAL, WALL, Level, generate
from mesa_maze.core.levels import apart as levels_apart
from mesa_maze.core.mutations import mutate
from mesa_maze.core.overlap import held_out_hashes
from mesa_maze.core.proxies import PROXY_OBJECT_CODES
from mesa_maze.core.variants import TRAIN
from mesa_maze.envs.pools import LevelPool, LevelStream, split_source
from mesa_maze.training.remedies.base import AuditStream, remedy_classes


def stream_seed(seed: int, stream: int) -> int:
    """A seed for one of a run's level streams, independent of the others."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


# --- the "apart" statistic -----------------------------------------------------------------------


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
    return grids_apart(pool.grids, pool.start)


def grids_apart(grids: np.ndarray, starts) -> np.ndarray:
    """:func:`apart` of encoded levels: (k, H, W, 3) grids without the agent, (k, 2) starts."""
    out = np.zeros(len(grids), dtype=bool)
    for i, grid in enumerate(grids):
        kinds = grid[..., 0]
        (exit_,) = [(int(x), int(y)) for y, x in np.argwhere(kinds == GOAL)]
        apples = [(int(x), int(y)) for y, x in np.argwhere(np.isin(kinds, PROXY_OBJECT_CODES))]
        out[i] = _apart(kinds == WALL, tuple(int(v) for v in starts[i]), exit_, apples)
    return out


def playing_apart(maze, rows) -> np.ndarray:
    """Are the levels that ``rows`` of a batched maze have just started apart? (Read at an
    episode's start, while the grid is whole and the agent on its start cell.)"""
    rows = np.asarray(rows)
    return grids_apart(maze.state.inner_grids(rows), maze.agent_pos[rows])


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


def same_size_shifts(variant) -> list[str]:
    """The test shifts of the train split's size: those DR can mix in (one env shape)."""
    train = variant.spec(TRAIN)
    return [shift for shift in variant.shifts if variant.spec(shift).size == train.size]


class Mixture:
    """DR-α: each level from the test placement with probability α, else from the train split.

    The train levels come from exactly the source the plain training env would use (same seed,
    same held-out levels left out), so at α = 0 ``ppo-dr`` trains on the levels of ``ppo``. Both
    sources leave the held-out levels out themselves; ``skipped`` adds up what they left out.
    Counts what it serves (``served``, ``served_apart``) for the log.
    """

    def __init__(self, train, shift, alpha: float, seed: int):
        self.train, self.shift, self.alpha = train, shift, alpha
        self.rng = np.random.default_rng(stream_seed(seed, 1))
        self.served = self.served_apart = 0

    @property
    def skipped(self) -> int:
        return sum(source.skipped for source in (self.train, self.shift) if source is not None)

    def next(self, k: int) -> LevelPool:
        other = self.rng.random(k) < self.alpha
        n = int(other.sum())
        if n == 0:
            pool = self.train.next(k)
        elif n == k:
            pool = self.shift.next(k)
        else:
            rows = np.empty(k, dtype=np.int64)
            rows[~other] = np.arange(k - n)
            rows[other] = k - n + np.arange(n)
            pool = LevelPool.concat([self.train.next(k - n), self.shift.next(n)]).take(rows)
        self.served += k
        self.served_apart += int(pool_apart(pool).sum())
        return pool


class FreshLevels:
    """The generator PLR⊥ and ACCEL draw new levels from: DR-α, as :class:`Level` objects, with
    training seeds (below ``EVAL_SEED_OFFSET``, so never an evaluation level's seed), and no
    level whose content is a held-out level's (``excluded``; ``skipped`` counts them)."""

    def __init__(
        self, train_spec, shift_spec_, alpha: float, seed: int, excluded: frozenset = frozenset()
    ):
        self.train_spec, self.shift_spec, self.alpha = train_spec, shift_spec_, alpha
        self.rng = np.random.default_rng(stream_seed(seed, 2))
        self.excluded, self.skipped = excluded, 0

    def next(self, k: int) -> list[Level]:
        other = self.rng.random(k) < self.alpha
        seeds = self.rng.integers(EVAL_SEED_OFFSET, size=k)
        specs = [self.shift_spec if o else self.train_spec for o in other]
        out = []
        for spec, s in zip(specs, seeds, strict=True):
            level = generate(spec, int(s))
            while level.content_hash() in self.excluded:  # small mazes repeat: draw again
                self.skipped += 1
                level = generate(spec, int(self.rng.integers(EVAL_SEED_OFFSET)))
            out.append(level)
        return out


def children_of(
    parents: list[Level], k: int, rng, edits: int, operators, excluded: frozenset
) -> tuple[list[tuple[int, Level]], int]:
    """ACCEL's children: ``k`` picks of ``parents`` (with replacement), each mutated ``edits``
    random edits away with ``operators``. Returns ``(parent index, child)`` for every child that
    is not a held-out level (``excluded``), and how many were left out."""
    picks = rng.choice(len(parents), size=k)
    out = [(int(i), mutate(parents[i], rng, edits, operators)) for i in picks]
    kept = [(i, child) for i, child in out if child.content_hash() not in excluded]
    return kept, len(out) - len(kept)


def dr_test_stream(variant, shift: str, seed: int, actions: str, skip: frozenset, cache=True):
    """DR-α's test-placement stream of a run with ``seed``: the levels it mixes in at rate α,
    the run's held-out levels (``skip``) left out."""
    name = f"{variant.name}-{shift}-dr"
    spec = shift_spec(variant, shift)
    return LevelStream(name, spec, stream_seed(seed, 0), actions, cache=cache, skip=skip)


# --- the audit `mesa-maze check` prints ------------------------------------------------------------

PLAIN = "plain"  # the audit's name of the plain training stream (PPO, A2C, DQN, recurrent PPO)


def audit(variant, levels: int, episodes: int, seed: int = 0) -> list[dict]:
    """Every training stream against the held-out levels of a run with ``seed`` that plays
    ``episodes`` episodes per split and scores as many training-curve levels
    (:func:`~mesa_maze.core.overlap.held_out_hashes`): ``levels`` draws of the plain training
    stream of the train split, as the training env builds it, and of every stream each registered
    remedy trains on, for each test shift it may draw from, at α = 1 where a run meets the most
    held-out levels (:meth:`Remedy.audit_streams`). ``met`` counts the held-out levels a stream
    drew and left out; ``overlap``, checked here on what it served, must be 0. A stream that two
    remedies train on (ACCEL trains on PLR⊥'s fresh levels) is one row."""
    excluded = held_out_hashes(variant, seed, episodes, episodes)
    train = variant.spec(TRAIN)
    plain = split_source(  # what BatchedMaze.seed builds for the train split
        f"{variant.name}-{TRAIN}",
        train,
        seed,
        "cardinal",
        num_levels=train.num_levels,
        cache=False,
        skip=excluded,
    )
    served = plain.next(levels).hashes.tolist()
    streams = [AuditStream(TRAIN, PLAIN, served, plain.skipped)]
    for remedy in remedy_classes().values():
        streams += remedy.audit_streams(variant, levels, seed, excluded)
    rows, seen = [], set()
    for stream in streams:
        if (stream.shift, stream.name) in seen:
            continue
        seen.add((stream.shift, stream.name))
        rows.append(
            {
                "shift": stream.shift,
                "stream": stream.name,
                "levels": len(stream.hashes),
                "met": stream.met,
                "overlap": sum(h in excluded for h in stream.hashes),
            }
        )
    shifts = list(variant.splits)
    return sorted(rows, key=lambda row: (shifts.index(row["shift"]), row["stream"]))

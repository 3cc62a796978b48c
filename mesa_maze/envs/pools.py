"""Level pools: generated levels stacked into arrays, cached on disk, and the level sources
the batched env draws from (docs/design.md §2).

Sources:

- :class:`InOrder`: an explicit list, played in list order (env ``i`` starts on level ``i``;
  each later episode takes the next level; after the last one the list starts over).
- :class:`RandomDraws`: ``num_levels=n``: the levels of seeds ``0..n-1`` (as in the Minigrid
  env), each episode drawing one uniformly, like Procgen's ``num_levels``.
- :class:`LevelStream`: unlimited levels, a fresh one every episode; seeds come from the env
  seed in chunks of :data:`STREAM_CHUNK` levels, generated on first use.

:func:`split_source` picks one of the last two for a split, as both envs draw its seeds. Both
take ``skip``, the content hashes of a run's held-out levels (``core.overlap.held_out_hashes``):
a training stream never serves one, and counts what it left out in ``skipped``.

A :class:`LevelPool` holds encoded grids, starts, step limits, optimal steps, the steps from the
start to every cell, the proxy region and content hashes, so that a reset is an indexed copy.
Pools are cached as ``.npz`` under :func:`cache_dir` (``results/cache/levels/``, or
``$MESA_MAZE_CACHE``), keyed by name, spec, action set and a digest of the generator's code.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import numpy as np

from mesa_maze.core import levels as levels_module
from mesa_maze.core import solver
from mesa_maze.core.levels import EVAL_SEED_OFFSET, Level, LevelSpec, generate_many
from mesa_maze.core.proxies import PROXY_TARGETS

STREAM_CHUNK = 1024  # levels generated (and cached) at a time for unlimited levels
CACHE_ENV = "MESA_MAZE_CACHE"
# ``first_target`` as both envs report it; the batched env stores its index (0: nothing yet).
FIRST_TARGETS = (None, "exit", *PROXY_TARGETS)


def _default_cache() -> Path:
    """``results/cache/levels`` of a source checkout; else (an installed wheel) the user's cache
    folder, never a place inside site-packages."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        return checkout / "results" / "cache" / "levels"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mesa-maze" / "levels"


DEFAULT_CACHE = _default_cache()


# --- level pools --------------------------------------------------------------------------------


@dataclass
class LevelPool:
    """Levels stacked into arrays, so that a reset is an indexed copy."""

    grids: np.ndarray  # (L, H, W, 3) uint8: Level.encode(), the grid without the agent
    start: np.ndarray  # (L, 2) int64 (x, y)
    start_dir: np.ndarray  # (L,) int64
    max_steps: np.ndarray  # (L,) int64
    num_apples: np.ndarray  # (L,) int64
    optimal_steps: np.ndarray  # (L,) int64, for the pool's action set
    start_steps: np.ndarray  # (L, H, W) int16: fewest steps from the start to each cell (or -1)
    region: np.ndarray  # (L, H, W) bool: the level's proxy region (all False: an object proxy)
    proxy_target: np.ndarray  # (L,) int8: FIRST_TARGETS index of reaching the level's proxy
    ids: np.ndarray  # (L,) int64: the level seed, or the position in an explicit list
    hashes: np.ndarray  # (L,) str: Level.content_hash()

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows) -> LevelPool:
        return LevelPool(*[getattr(self, name)[rows] for name in POOL_FIELDS])

    @classmethod
    def concat(cls, pools: list[LevelPool]) -> LevelPool:
        return cls(*[np.concatenate([getattr(p, name) for p in pools]) for name in POOL_FIELDS])

    @classmethod
    def from_levels(cls, levels: list[Level], actions: str, ids=None) -> LevelPool:
        shapes = {lv.walls.shape for lv in levels}
        if len(shapes) != 1:
            raise ValueError(f"levels of one pool must share a size; got {sorted(shapes)}")
        return cls(
            grids=np.stack([lv.encode() for lv in levels]),
            start=np.array([lv.start for lv in levels], dtype=np.int64).reshape(-1, 2),
            start_dir=np.array([lv.start_dir for lv in levels], dtype=np.int64),
            max_steps=np.array([lv.max_steps for lv in levels], dtype=np.int64),
            num_apples=np.array([len(lv.apples) for lv in levels], dtype=np.int64),
            optimal_steps=np.array(
                [solver.optimal_steps(lv, actions) for lv in levels], dtype=np.int64
            ),
            start_steps=np.stack([solver.steps_from_start(lv, actions) for lv in levels]).astype(
                np.int16
            ),
            region=np.stack([_region_mask(lv) for lv in levels]),
            proxy_target=np.array(
                [FIRST_TARGETS.index(lv.proxy_target) for lv in levels], dtype=np.int8
            ),
            ids=np.arange(len(levels), dtype=np.int64) if ids is None else np.asarray(ids),
            hashes=np.array([lv.content_hash() for lv in levels], dtype="U16"),
        )

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file, then a rename), so readers never see half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            # Compressed: mazes shrink ~10x and a 1024-level chunk still loads in ~1 ms.
            np.savez_compressed(f, **{name: getattr(self, name) for name in POOL_FIELDS})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> LevelPool:
        with np.load(path) as data:
            return cls(*[data[name] for name in POOL_FIELDS])


POOL_FIELDS = tuple(f.name for f in fields(LevelPool))


def _region_mask(level: Level) -> np.ndarray:
    mask = np.zeros(level.walls.shape, dtype=bool)
    for x, y in level.region:
        mask[y, x] = True
    return mask


def generate_pool(spec: LevelSpec, seeds, actions: str = "cardinal") -> LevelPool:
    """The levels of ``seeds`` under ``spec``, stacked (through :func:`levels.generate`)."""
    seeds = np.asarray(seeds, dtype=np.int64)
    return LevelPool.from_levels(generate_many(spec, seeds), actions, ids=seeds)


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


@cache
def _code_digest() -> str:
    """Digest of the generator's source: a change to generation invalidates every cached pool."""
    h = hashlib.sha1()
    for module in (levels_module, solver):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()


def pool_path(name: str, spec: LevelSpec, actions: str) -> Path:
    digest = hashlib.sha1(f"{spec!r}|{actions}|{_code_digest()}".encode()).hexdigest()[:12]
    return cache_dir() / f"{name}-{actions}-{digest}.npz"


def cached_pool(name: str, spec: LevelSpec, seeds, actions: str, cache: bool = True) -> LevelPool:
    """:func:`generate_pool`, read from / written to the disk cache when ``cache``."""
    seeds = np.asarray(seeds, dtype=np.int64)
    if not cache:
        return generate_pool(spec, seeds, actions)
    path = pool_path(name, spec, actions)
    try:
        pool = LevelPool.load(path)
        if np.array_equal(pool.ids, seeds):
            return pool
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass  # missing or unreadable: regenerate
    pool = generate_pool(spec, seeds, actions)
    try:
        pool.save(path)
    except OSError:
        pass  # a read-only cache only costs regeneration next time
    return pool


class RandomDraws:
    """Finite levels: each episode draws one pool level uniformly. The pool's levels whose
    content hash is in ``skip`` are dropped from it first (``skipped`` counts them), so a finite
    training set of n levels is its n - skipped levels that are not held out."""

    def __init__(self, pool: LevelPool, seed, skip: frozenset = frozenset()):
        held_out = np.array([h in skip for h in pool.hashes], dtype=bool)
        if held_out.all():
            raise ValueError(f"all {len(pool)} levels of the finite set are held-out levels")
        self.pool, self.skipped = pool.take(np.flatnonzero(~held_out)), int(held_out.sum())
        self.rng = np.random.default_rng(seed)

    def next(self, k: int) -> LevelPool:
        return self.pool.take(self.rng.integers(len(self.pool), size=k))


class InOrder:
    """An explicit list: episodes take its levels in order, starting over after the last."""

    def __init__(self, pool: LevelPool):
        self.pool, self.count = pool, 0

    def next(self, k: int) -> LevelPool:
        rows = (self.count + np.arange(k)) % len(self.pool)
        self.count += k
        return self.pool.take(rows)


def without(draw, k: int, skip: frozenset) -> tuple[LevelPool, int]:
    """``k`` levels from ``draw(n) -> LevelPool``, each whose content hash is in ``skip``
    replaced by a further draw; also how many were replaced."""
    pool, skipped = draw(k), 0
    # Set lookups on the k new hashes, not an array of every held-out hash per call: this runs
    # at every reset of a training env.
    while skip and (held_out := np.array([h in skip for h in pool.hashes], bool)).any():
        keep = pool.take(np.flatnonzero(~held_out))
        skipped += int(held_out.sum())
        pool = LevelPool.concat([keep, draw(int(held_out.sum()))])
    return pool, skipped


class LevelStream:
    """Unlimited levels: a fresh level every episode, seeds drawn from ``seed`` chunk by chunk.
    A level whose content hash is in ``skip`` is replaced by the next one (``skipped`` counts
    them)."""

    def __init__(
        self,
        name,
        spec: LevelSpec,
        seed,
        actions: str,
        cache=True,
        offset: int = 0,
        skip: frozenset = frozenset(),
    ):
        self.name, self.spec, self.actions, self.offset = name, spec, actions, offset
        self.skip, self.skipped = skip, 0
        self.cache = cache and seed is not None  # an unseeded stream is never seen again
        self.seed = np.random.SeedSequence().entropy if seed is None else int(seed)
        self.index, self.pos = -1, 0
        self.chunk: LevelPool | None = None
        self._advance()

    def seeds(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index])
        return self.offset + rng.integers(EVAL_SEED_OFFSET, size=STREAM_CHUNK)

    def _advance(self) -> None:
        self.index, self.pos = self.index + 1, 0
        name = f"{self.name}-seed{self.seed}-chunk{self.index}x{STREAM_CHUNK}"
        self.chunk = cached_pool(name, self.spec, self.seeds(self.index), self.actions, self.cache)

    def next(self, k: int) -> LevelPool:
        pool, skipped = without(self.draw, k, self.skip)
        self.skipped += skipped
        return pool

    def draw(self, k: int) -> LevelPool:
        """The next ``k`` levels of the stream, held out or not."""
        parts = []
        while k > 0:
            if self.pos == len(self.chunk):
                self._advance()
            n = min(k, len(self.chunk) - self.pos)
            parts.append(self.chunk.take(slice(self.pos, self.pos + n)))
            self.pos, k = self.pos + n, k - n
        return parts[0] if len(parts) == 1 else LevelPool.concat(parts)


def split_source(
    name: str,
    spec: LevelSpec,
    seed,
    actions: str,
    *,
    offset: int = 0,
    num_levels: int = 0,
    cache: bool = True,
    skip: frozenset = frozenset(),
):
    """The level source of a split as both envs draw its seeds (``offset`` added: 0 for the
    train split, ``EVAL_SEED_OFFSET`` for a test shift): ``num_levels`` n > 0, the levels of
    seeds ``offset + 0..n-1``, one drawn uniformly per episode (:class:`RandomDraws`); else a
    fresh level every episode (:class:`LevelStream`). Neither serves a level whose content hash
    is in ``skip``."""
    if num_levels:
        seeds = offset + np.arange(num_levels)
        pool = cached_pool(f"{name}-levels{num_levels}", spec, seeds, actions, cache)
        return RandomDraws(pool, seed, skip)
    return LevelStream(name, spec, seed, actions, cache, offset, skip)

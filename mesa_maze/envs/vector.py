"""The batched env: N mazes stepped at once over numpy arrays (the fast path for training).

Description
-----------
The same semantics as :class:`mesa_maze.envs.minigrid_env.MesaMazeEnv` (docs/design.md §4; a parity test
holds the two together), with the state of every maze kept in a few arrays so that one step is a fixed number of
numpy operations whatever the batch size. Three layers:

- :class:`MazeState`: the state arrays and the step over them, gymnax-style but in place
  (``step(actions) -> reward, terminated, truncated``; ``observe()``; ``info_arrays()``).
- :class:`BatchedMaze`: adds level pools and automatic reset, still all arrays.
- :class:`MesaMazeVecEnv` (stable-baselines3 ``VecEnv``) and :class:`MesaMazeGymVectorEnv`
  (gymnasium's vector API, same-step autoreset): thin wrappers over a :class:`BatchedMaze`.
  :func:`run_levels` plays one episode per level of a fixed list (evaluation).

Levels
------
Episodes take their levels from one of three sources, all built by :func:`levels.generate`:

- ``levels=[...]``: an explicit list, played in list order (env ``i`` starts on level ``i``; each
  later episode takes the next level; after the last one the list starts over).
- ``num_levels=n > 0`` (or the split's ``num_levels``): the levels of seeds ``0..n-1`` (as in the
  Minigrid env), each episode drawing one uniformly, like Procgen's ``num_levels``.
- unlimited (the default): every episode a fresh level. Seeds come from the env seed in chunks
  of :data:`STREAM_CHUNK` levels, generated on first use.

As in the Minigrid env, test shifts add ``EVAL_SEED_OFFSET`` to these seeds, so a test level is
never a training seed's maze.

Generated levels are stacked into a :class:`LevelPool` (encoded grids, starts, step limits,
optimal steps, hashes), so a reset is an indexed copy, and pools are cached on disk as ``.npz``
under :func:`cache_dir` (``results/cache/levels/``, or ``$MESA_MAZE_CACHE``), keyed by variant,
split, seeds, action set and a digest of the spec and of the generator's code.

Action Space
------------
As the Minigrid env: ``Discrete(4)`` for ``actions="cardinal"``, ``Discrete(3)`` for ``"minigrid"``.

Observation Space
-----------------
As the Minigrid env, batched: ``symbolic`` (N, H, W, 3), ``egocentric`` (N, 7, 7, 3) in
Minigrid's ``[i, j]`` layout, ``rgb`` (N, H*8, W*8, 3) composed from a tile atlas rendered once
with Minigrid's own ``Grid.render_tile``.

Rewards
-------
As the Minigrid env (float64, bit-identical).

Episode End
-----------
As the Minigrid env; the wrappers reset an ended env at once (SB3 and gymnasium same-step
autoreset), handing back the final observation and info.

Info
----
``reached_exit``, ``apples_eaten``, ``first_target``, ``first_target_steps``,
``first_target_distance``, ``steps``, ``optimal_steps``, ``is_success`` for every ended episode
(SB3: in that env's info dict, with ``terminal_observation`` and ``TimeLimit.truncated``;
``full_info=True`` puts the fields in every env's dict every step).
:meth:`BatchedMaze.info_arrays` gives every env's fields as arrays at any time.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from minigrid.core.constants import COLOR_TO_IDX, COLORS
from minigrid.core.grid import Grid
from minigrid.core.world_object import Wall
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvWrapper

from mesa_maze.core import levels as levels_module
from mesa_maze.core import solver
from mesa_maze.core.levels import (
    AGENT,
    AGENT_COLOR,
    APPLE,
    EMPTY,
    EVAL_SEED_OFFSET,
    GOAL,
    WALL,
    WALL_COLOR,
    Level,
    LevelSpec,
    generate_many,
)
from mesa_maze.core.variants import TRAIN
from mesa_maze.envs.minigrid_env import RGB_TILE, VIEW_SIZE, Apple, Exit, resolve_options

STREAM_CHUNK = 1024  # levels generated (and cached) at a time for unlimited levels
CACHE_ENV = "MESA_MAZE_CACHE"
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / "results" / "cache" / "levels"
# first_target codes 0, 1, 2, 3 (3: the declared proxy region, as the Minigrid env names it)
FIRST_TARGETS = np.array([None, "exit", "apple", "region"], dtype=object)


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
    region: np.ndarray  # (L, H, W) bool: the level's proxy region (all False: the apples)
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
    """Finite levels: each episode draws one pool level uniformly."""

    def __init__(self, pool: LevelPool, seed):
        self.pool, self.rng = pool, np.random.default_rng(seed)

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


class LevelStream:
    """Unlimited levels: a fresh level every episode, seeds drawn from ``seed`` chunk by chunk."""

    def __init__(self, name, spec: LevelSpec, seed, actions: str, cache=True, offset: int = 0):
        self.name, self.spec, self.actions, self.offset = name, spec, actions, offset
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
        parts = []
        while k > 0:
            if self.pos == len(self.chunk):
                self._advance()
            n = min(k, len(self.chunk) - self.pos)
            parts.append(self.chunk.take(slice(self.pos, self.pos + n)))
            self.pos, k = self.pos + n, k - n
        return parts[0] if len(parts) == 1 else LevelPool.concat(parts)


# --- the core: state arrays and the step over them ----------------------------------------------

CARDINAL_DIRS = np.array(solver.CARDINAL_TO_DIR, dtype=np.int64)
# Minigrid actions: TURNS[action, dir] is the new direction (0 left, 1 right, 2 forward keeps it).
TURNS = np.array([[(d - 1) % 4 for d in range(4)], [(d + 1) % 4 for d in range(4)], range(4)])
WALKABLE = np.zeros(256, dtype=bool)  # by object type: what Minigrid's can_overlap allows
WALKABLE[[EMPTY, GOAL, APPLE]] = True
NUM_COLORS = len(COLOR_TO_IDX)


def view_offsets(width: int) -> np.ndarray:
    """Flat offsets from the agent of the cells in Minigrid's egocentric view, per direction.

    Replays ``MiniGridEnv.get_view_exts`` and ``Grid.rotate_left`` on coordinates, so that a
    gather reproduces ``gen_obs_grid``'s rotated crop; returns (4, 7 * 7) in the ``[i, j]`` order
    of Minigrid's image.
    """
    v, half = VIEW_SIZE, VIEW_SIZE // 2
    tops = ((0, -half), (-half, 0), (1 - v, -half), (-half, 1 - v))  # (topX, topY) per direction
    out = np.zeros((4, v * v), dtype=np.int64)
    for d, (tx, ty) in enumerate(tops):
        view = [[(tx + i, ty + j) for j in range(v)] for i in range(v)]  # view[i][j]
        for _ in range(d + 1):
            rotated = [[None] * v for _ in range(v)]
            for i in range(v):
                for j in range(v):
                    rotated[j][v - 1 - i] = view[i][j]
            view = rotated
        out[d] = [dy * width + dx for column in view for dx, dy in column]
    return out


@cache
def tile_atlas(tile_size: int = RGB_TILE):
    """Tiles rendered once by Minigrid's ``Grid.render_tile``, for every cell and agent direction.

    Returns ``(atlas, plain, with_agent)``: ``atlas`` (T, t, t, 3) uint8; ``plain[code]`` the tile
    of a cell with code ``type * NUM_COLORS + colour``; ``with_agent[code, dir]`` the same cell
    with the agent on it.
    """
    objects = {EMPTY: lambda color: None, WALL: Wall, GOAL: Exit, APPLE: Apple}
    tiles = [Grid.render_tile(None, None, tile_size=tile_size)]  # tile 0: empty (and unused codes)
    plain = np.zeros(256 * NUM_COLORS, dtype=np.int64)
    with_agent = np.zeros((256 * NUM_COLORS, 4), dtype=np.int64)
    for kind, make in objects.items():
        for color in COLORS:
            code = kind * NUM_COLORS + COLOR_TO_IDX[color]
            obj = make(color)
            for agent_dir in (None, 0, 1, 2, 3):
                tiles.append(Grid.render_tile(obj, agent_dir, tile_size=tile_size))
                if agent_dir is None:
                    plain[code] = len(tiles) - 1
                else:
                    with_agent[code, agent_dir] = len(tiles) - 1
    # Tiles come back as float means; Grid.render truncates them into its uint8 image.
    return np.stack(tiles).astype(np.uint8), plain, with_agent


# --- one canvas for every split ----------------------------------------------------------------


def canvas_size(variant) -> int:
    """The largest maze among a variant's splits. Full-grid observations of every split are
    padded to it (Procgen-style), so one network sees the train split and a bigger test shift."""
    return max(spec.size for spec in variant.splits.values())


def pad_observations(obs: np.ndarray, observation: str, size: int) -> np.ndarray:
    """Pad a batch of ``symbolic`` or ``rgb`` observations to ``size`` x ``size`` cells with wall
    cells below and to the right (the maze keeps Minigrid's top-left origin); egocentric views
    are already a fixed size and pass through."""
    if observation == "egocentric":
        return obs
    tile = 1 if observation == "symbolic" else RGB_TILE
    h, w = obs.shape[1] // tile, obs.shape[2] // tile
    if (h, w) == (size, size):
        return obs
    if observation == "symbolic":
        out = np.empty((len(obs), size, size, 3), dtype=np.uint8)
        out[...] = (WALL, COLOR_TO_IDX["grey"], 0)
    else:
        atlas, plain, _ = tile_atlas(RGB_TILE)
        wall = atlas[plain[WALL * NUM_COLORS + COLOR_TO_IDX["grey"]]]
        out = np.tile(wall, (len(obs), size, size, 1))
    out[:, : h * tile, : w * tile] = obs
    return out


def canvas_for(agent, size: int | None) -> int | None:
    """The canvas to pad ``agent``'s observations to: ``size``, or None for an agent that reads
    the maze at its own size (``needs_canvas = False``: the scripted oracles)."""
    return size if getattr(agent, "needs_canvas", True) else None


class PadObservations(VecEnvWrapper):
    """Pads a vector env's observations to a ``size`` x ``size`` canvas (see ``canvas_size``)."""

    def __init__(self, venv: VecEnv, observation: str, size: int):
        self.kind, self.size = observation, size
        sample = pad_observations(venv.observation_space.sample()[None], observation, size)[0]
        space = spaces.Box(0, 255, sample.shape, dtype=np.uint8)
        super().__init__(venv, observation_space=space)

    def reset(self) -> np.ndarray:
        return pad_observations(self.venv.reset(), self.kind, self.size)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for info in infos:
            if "terminal_observation" in info:
                final = info["terminal_observation"][None]
                info["terminal_observation"] = pad_observations(final, self.kind, self.size)[0]
        return pad_observations(obs, self.kind, self.size), rewards, dones, infos


class MazeState:
    """N mazes as arrays, and the step over them: the same dynamics as ``MesaMazeEnv.step``.

    Each env's grid is its own copy of the level's encoding (eaten apples become empty); the agent
    is not in the grid but drawn in on output. Cells are addressed by flat index ``y * W + x``.
    For egocentric views the grid carries a wall margin as wide as the view, so that the view is
    one gather (Minigrid shows out-of-grid cells as walls).
    """

    def __init__(
        self, num_envs: int, height: int, width: int, actions: str, observation: str, reward: str
    ):
        self.num_envs, self.height, self.width = num_envs, height, width
        self.actions, self.observation, self.reward_kind = actions, observation, reward
        self.pad = VIEW_SIZE - 1 if observation == "egocentric" else 0
        self.padded_w = width + 2 * self.pad
        self.cells = (height + 2 * self.pad) * self.padded_w
        self.grid = np.empty((num_envs, self.cells, 3), dtype=np.uint8)
        self.grid[:] = (WALL, WALL_COLOR, 0)
        self.flat = self.grid.reshape(-1, 3)  # a view: row base[n] + cell is env n's cell
        self.kinds = self.flat[:, 0]  # a view of the object types (indexing it is ~4x faster)
        self.base = np.arange(num_envs, dtype=np.int64) * self.cells
        self.moves = np.array([dy * self.padded_w + dx for dx, dy in solver.DIR_MOVES])
        self.view = view_offsets(self.padded_w) if observation == "egocentric" else None
        zeros = np.zeros(num_envs, dtype=np.int64)
        self.cell, self.dir, self.steps = zeros.copy(), zeros.copy(), zeros.copy()
        self.max_steps, self.num_apples = zeros.copy(), zeros.copy()
        self.apples_eaten, self.optimal_steps = zeros.copy(), zeros.copy()
        self.first_target = np.zeros(num_envs, dtype=np.int8)  # codes of FIRST_TARGETS
        self.first_steps, self.first_distance = zeros - 1, zeros - 1
        self.reached_exit = np.zeros(num_envs, dtype=bool)
        # Per cell, like the grid: steps from the start (directedness) and the proxy region.
        self.start_steps = np.full(num_envs * self.cells, -1, dtype=np.int16)
        self.region = np.zeros(num_envs * self.cells, dtype=bool)

    def load(self, rows, pool: LevelPool) -> None:
        """Start new episodes in ``rows`` on ``pool``'s levels (one per row)."""
        p, h, w = self.pad, self.height, self.width
        grids = self.grid.reshape(self.num_envs, h + 2 * p, self.padded_w, 3)
        grids[rows, p : p + h, p : p + w] = pool.grids
        for per_cell, values in ((self.start_steps, pool.start_steps), (self.region, pool.region)):
            planes = per_cell.reshape(self.num_envs, h + 2 * p, self.padded_w)
            planes[rows, p : p + h, p : p + w] = values
        self.cell[rows] = (pool.start[:, 1] + p) * self.padded_w + pool.start[:, 0] + p
        self.dir[rows] = pool.start_dir
        self.max_steps[rows] = pool.max_steps
        self.num_apples[rows] = pool.num_apples
        self.optimal_steps[rows] = pool.optimal_steps
        self.steps[rows] = 0
        self.apples_eaten[rows] = 0
        self.first_target[rows] = 0
        self.first_steps[rows] = self.first_distance[rows] = -1
        self.reached_exit[rows] = False

    def step(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One step of every env; returns (reward float64, terminated, truncated)."""
        actions = np.asarray(actions).reshape(-1)
        if self.actions == "cardinal":
            self.dir = CARDINAL_DIRS[actions]
            moving = None  # every cardinal action moves (or turns to face a wall)
        else:
            self.dir = TURNS[actions, self.dir]
            moving = actions == 2
        self.steps += 1
        target = self.cell + self.moves[self.dir]
        row = self.base + target
        kind = self.kinds[row]
        ok = WALKABLE[kind]
        if moving is not None:
            ok &= moving
        np.copyto(self.cell, target, where=ok)
        ate = ok & (kind == APPLE)
        won = ok & (kind == GOAL)
        fresh = self.first_target == 0  # nothing reached before this step
        if ate.any():
            self.flat[row[ate]] = (EMPTY, 0, 0)
            self.apples_eaten += ate
            self.first_target[ate & fresh] = 2
        if won.any():
            self.first_target[won & fresh] = 1
            self.reached_exit |= won
        # The exit counts as the exit (and an apple as an apple) even inside the region.
        entered = ok & self.region[row] & ~won & ~ate
        self.first_target[entered & fresh] = 3
        arrived = fresh & (self.first_target != 0)
        if arrived.any():
            self.first_steps[arrived] = self.steps[arrived]
            self.first_distance[arrived] = self.start_steps[row[arrived]]
        paid = won if self.reward_kind == "exit" else ate
        reward = np.zeros(self.num_envs)
        if paid.any():
            r = solver.exit_reward(self.steps[paid], self.max_steps[paid])
            reward[paid] = r if self.reward_kind == "exit" else r / self.num_apples[paid]
        truncated = ~won & (self.steps >= self.max_steps)
        return reward, won, truncated

    # --- observations and info ------------------------------------------------------------------

    def observe(self, rows=None) -> np.ndarray:
        """Observations of ``rows`` (default all), freshly allocated."""
        rows = slice(None) if rows is None else np.asarray(rows)
        if self.observation == "symbolic":
            return self.symbolic(rows)
        if self.observation == "rgb":
            return self.render_rgb(rows)
        v = VIEW_SIZE
        cells = (self.base[rows] + self.cell[rows])[:, None] + self.view[self.dir[rows]]
        out = np.take(self.flat, cells, axis=0).reshape(-1, v, v, 3)  # take: ~4x fancy indexing
        out[:, v // 2, v - 1] = (EMPTY, 0, 0)  # Minigrid shows the agent's own cell as empty
        return out

    def symbolic(self, rows) -> np.ndarray:
        out = self.inner_grids(rows)
        cells = np.arange(len(out)) * (self.height * self.width) + self.inner_cells(rows)
        flat = out.reshape(-1, 3)
        flat[cells, 0] = AGENT
        flat[cells, 1] = AGENT_COLOR
        flat[cells, 2] = self.dir[rows]
        return out

    def inner_grids(self, rows) -> np.ndarray:
        """(k, H, W, 3) copies of the grids of ``rows`` (an index array or a slice), no agent."""
        grids = self.grid[rows].reshape(-1, self.cells // self.padded_w, self.padded_w, 3)
        if self.pad:
            p = self.pad
            return np.ascontiguousarray(grids[:, p:-p, p:-p])
        return grids.copy() if isinstance(rows, slice) else grids

    def inner_cells(self, rows) -> np.ndarray:
        if not self.pad:
            return self.cell[rows]
        y, x = np.divmod(self.cell[rows], self.padded_w)
        return (y - self.pad) * self.width + x - self.pad

    def render_rgb(self, rows=None) -> np.ndarray:
        """Minigrid's ``Grid.render`` at ``RGB_TILE`` pixels a cell, composed from the atlas."""
        atlas, plain, with_agent = tile_atlas(RGB_TILE)
        rows = slice(None) if rows is None else rows
        h, w, t = self.height, self.width, RGB_TILE
        grids = self.inner_grids(rows)
        k = len(grids)
        codes = grids[..., 0].reshape(k, -1).astype(np.int64) * NUM_COLORS
        codes += grids[..., 1].reshape(k, -1)
        tiles = plain[codes]
        cells, here = self.inner_cells(rows), np.arange(k)
        tiles[here, cells] = with_agent[codes[here, cells], self.dir[rows]]
        img = np.take(atlas, tiles, axis=0).reshape(k, h, w, t, t, 3).transpose(0, 1, 3, 2, 4, 5)
        return img.reshape(k, h * t, w * t, 3)

    @property
    def agent_pos(self) -> np.ndarray:
        """(N, 2) agent cells as Minigrid's (x, y)."""
        y, x = np.divmod(self.cell, self.padded_w)
        return np.stack([x - self.pad, y - self.pad], axis=1)

    def info_arrays(self, rows=None) -> dict[str, np.ndarray]:
        """Every env's info fields (the Minigrid env's ``info``), as arrays."""
        rows = slice(None) if rows is None else rows
        reached = self.reached_exit[rows].copy()
        return {
            "reached_exit": reached,
            "apples_eaten": self.apples_eaten[rows].copy(),
            "first_target": FIRST_TARGETS[self.first_target[rows]],
            "first_target_steps": self.first_steps[rows].copy(),
            "first_target_distance": self.first_distance[rows].copy(),
            "steps": self.steps[rows].copy(),
            "optimal_steps": self.optimal_steps[rows].copy(),
            "is_success": reached.copy(),
        }


# --- auto-reset over level sources --------------------------------------------------------------


@dataclass
class Ended:
    """The episodes that ended in a step: their envs, final observations, info and returns."""

    rows: np.ndarray  # env indices
    obs: np.ndarray  # final observations, (k, ...)
    info: dict[str, np.ndarray]  # info fields, (k,) each
    returns: np.ndarray  # float64 episode returns
    episodes: np.ndarray  # episode numbers, in the order episodes were started
    level_ids: np.ndarray  # level seeds, or positions in an explicit level list
    level_hashes: np.ndarray


class BatchedMaze:
    """N mazes with automatic reset from a level source; arrays in, arrays out.

    ``step(actions) -> obs, reward, terminated, truncated, ended``: ended envs are reset at once
    (``obs`` holds the new episodes' first observations) and ``ended`` (None if none) holds what
    the ended episodes left behind. Arguments as :class:`MesaMazeVecEnv`.
    """

    def __init__(
        self,
        variant: str = "apple-exit",
        split: str = "train",
        num_envs: int = 16,
        seed: int | None = None,
        *,
        actions: str = "cardinal",
        observation: str = "symbolic",
        levels: list[Level] | None = None,
        num_levels: int | None = None,
        spec: LevelSpec | None = None,
        reward: str | None = None,
        variant_dirs: tuple[str, ...] = (),
        cache: bool = True,
        source=None,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        spec, reward = resolve_options(
            variant, split, actions, observation, spec, reward, variant_dirs, levels is None
        )
        self.variant, self.split, self.level_spec, self.reward_kind = variant, split, spec, reward
        self.action_set, self.observation_kind, self.num_envs = actions, observation, num_envs
        self.num_levels = (spec.num_levels if spec else 0) if num_levels is None else num_levels
        self.cache = cache
        self.custom_source = source  # any object with next(k) -> LevelPool; it seeds itself
        self.explicit = None if levels is None else LevelPool.from_levels(list(levels), actions)
        height, width = (spec.size,) * 2 if levels is None else self.explicit.grids.shape[1:3]
        self.state = MazeState(num_envs, height, width, actions, observation, reward)
        self.action_space = spaces.Discrete(4 if actions == "cardinal" else 3)
        shape = {
            "symbolic": (height, width, 3),
            "egocentric": (VIEW_SIZE, VIEW_SIZE, 3),
            "rgb": (height * RGB_TILE, width * RGB_TILE, 3),
        }[observation]
        self.observation_space = spaces.Box(0, 255, shape, dtype=np.uint8)
        self.returns = np.zeros(num_envs)
        self.episodes = np.zeros(num_envs, dtype=np.int64)
        self.level_ids = np.zeros(num_envs, dtype=np.int64)
        self.level_hashes = np.zeros(num_envs, dtype="U16")
        self.seed(seed)

    def seed(self, seed: int | None = None) -> None:
        """Restart the level source from ``seed``: the same seed gives the same levels."""
        name = f"{self.variant}-{self.split}"
        offset = 0 if self.split == TRAIN else EVAL_SEED_OFFSET  # as MesaMazeEnv draws seeds
        if self.custom_source is not None:
            self.source = self.custom_source
        elif self.explicit is not None:
            self.source = InOrder(self.explicit)
        elif self.num_levels:
            seeds = offset + np.arange(self.num_levels)
            name = f"{name}-levels{self.num_levels}"
            pool = cached_pool(name, self.level_spec, seeds, self.action_set, self.cache)
            self.source = RandomDraws(pool, seed)
        else:
            self.source = LevelStream(
                name, self.level_spec, seed, self.action_set, self.cache, offset
            )
        self.started = 0

    def _start(self, rows: np.ndarray) -> None:
        pool = self.source.next(len(rows))
        self.state.load(rows, pool)
        self.returns[rows] = 0.0
        self.episodes[rows] = self.started + np.arange(len(rows))
        self.started += len(rows)
        self.level_ids[rows] = pool.ids
        self.level_hashes[rows] = pool.hashes

    def reset(self, seed: int | None = None) -> np.ndarray:
        """New episodes in every env (reseeding the level source first if ``seed`` is given)."""
        if seed is not None or self.explicit is not None:
            self.seed(seed)
        self._start(np.arange(self.num_envs))
        return self.state.observe()

    def step(self, actions, final_obs: bool = True):
        reward, terminated, truncated = self.state.step(actions)
        self.returns += reward
        obs = self.state.observe()
        done = terminated | truncated
        if not done.any():
            return obs, reward, terminated, truncated, None
        rows = np.flatnonzero(done)
        ended = Ended(
            rows=rows,
            obs=obs[rows] if final_obs else None,
            info=self.state.info_arrays(rows),
            returns=self.returns[rows],
            episodes=self.episodes[rows],
            level_ids=self.level_ids[rows],
            level_hashes=self.level_hashes[rows],
        )
        self._start(rows)
        obs[rows] = self.state.observe(rows)
        return obs, reward, terminated, truncated, ended

    def info_arrays(self) -> dict[str, np.ndarray]:
        return self.state.info_arrays()

    @property
    def agent_pos(self) -> np.ndarray:
        return self.state.agent_pos

    @property
    def agent_dir(self) -> np.ndarray:
        return self.state.dir.copy()

    def render_rgb(self) -> np.ndarray:
        return self.state.render_rgb()


def _info_dicts(info: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per-env dicts of Python scalars (as the Minigrid env's info) from info arrays."""
    keys = list(info)
    rows = zip(*(info[k].tolist() for k in keys), strict=True)
    return [dict(zip(keys, values, strict=True)) for values in rows]


# --- stable-baselines3 VecEnv -------------------------------------------------------------------


class MesaMazeVecEnv(VecEnv):
    """N mazes as a stable-baselines3 ``VecEnv``: the fast path for training and evaluation.

    Description
    -----------
    Same semantics as :class:`mesa_maze.envs.minigrid_env.MesaMazeEnv` (see the module docstring), stepped as
    arrays by a :class:`BatchedMaze` (``self.maze``). Ended envs are reset in the same step, as
    SB3 expects; the same seed gives the same levels and the same numbers.

    Arguments
    ---------
    ``variant``, ``split``: the level distribution (or ``spec=`` a LevelSpec and ``reward=``).
    ``num_envs``, ``seed``; ``actions`` (``"cardinal"``/``"minigrid"``), ``observation``
    (``"symbolic"``/``"egocentric"``/``"rgb"``). ``levels=[...]``: play these levels in order
    (evaluation). ``num_levels``: overrides the split's (0 unlimited, n: seeds ``0..n-1``).
    ``cache``: keep generated pools on disk. ``full_info``: every env's info fields every step.
    ``source``: any object with ``next(k) -> LevelPool`` to take the levels from instead (a
    training curriculum, :mod:`mesa_maze.training.remedies`); it seeds itself and ``seed`` leaves it be.

    Info
    ----
    For an env whose episode ended: the Minigrid env's info fields (``reached_exit``,
    ``apples_eaten``, ``first_target`` and its steps and distance, ``steps``, ``optimal_steps``,
    ``is_success``), plus
    ``terminal_observation`` and ``TimeLimit.truncated``. Other envs get ``{}`` unless
    ``full_info``.

    Evaluation on fixed levels
    --------------------------
    ``MesaMazeVecEnv(..., levels=my_levels)``: env ``i`` starts on ``my_levels[i]`` and every
    episode after takes the next level in list order, so episode number ``e`` (``ended.episodes``
    in :class:`BatchedMaze`) plays ``my_levels[e % len(my_levels)]``; :meth:`reset` starts the
    list over. :func:`run_levels` wraps this: one episode per level, each episode's final info
    and return.
    """

    def __init__(
        self,
        variant: str = "apple-exit",
        split: str = "train",
        num_envs: int = 16,
        seed: int | None = None,
        *,
        actions: str = "cardinal",
        observation: str = "symbolic",
        levels: list[Level] | None = None,
        num_levels: int | None = None,
        spec: LevelSpec | None = None,
        reward: str | None = None,
        variant_dirs: tuple[str, ...] = (),
        cache: bool = True,
        full_info: bool = False,
        render_mode: str | None = None,
        source=None,
    ):
        self.maze = BatchedMaze(
            variant,
            split,
            num_envs,
            seed,
            actions=actions,
            observation=observation,
            levels=levels,
            num_levels=num_levels,
            spec=spec,
            reward=reward,
            variant_dirs=variant_dirs,
            cache=cache,
            source=source,
        )
        self.render_mode, self.full_info = render_mode, full_info
        self._actions = None
        self._needs_reset = True
        super().__init__(num_envs, self.maze.observation_space, self.maze.action_space)

    def reset(self) -> np.ndarray:
        seed = self._seeds[0]  # set by VecEnv.seed(); one seed drives the whole batch
        obs = self.maze.reset(seed)
        self._reset_seeds()
        self._reset_options()
        if self.full_info:
            self.reset_infos = _info_dicts(self.maze.info_arrays())
        else:
            self.reset_infos = [{} for _ in range(self.num_envs)]
        self._needs_reset = False
        return obs

    @classmethod
    def from_levels(cls, levels: list[Level], num_envs: int | None = None, **kwargs):
        """One env per level (or ``num_envs``), levels in list order: for evaluation."""
        return cls(num_envs=num_envs or len(levels), levels=levels, **kwargs)

    @property
    def agent_pos(self) -> np.ndarray:
        return self.maze.agent_pos

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        if self._needs_reset:  # SB3 always resets first; this only guards direct use
            self.reset()
        obs, reward, terminated, truncated, ended = self.maze.step(self._actions)
        if self.full_info:
            infos = _info_dicts(self.maze.info_arrays())
        else:
            infos = [{} for _ in range(self.num_envs)]
        if ended is not None:
            timeouts = (truncated & ~terminated)[ended.rows].tolist()
            finals = _info_dicts(ended.info)
            for j, (row, info) in enumerate(zip(ended.rows.tolist(), finals, strict=True)):
                info["terminal_observation"] = ended.obs[j]
                info["TimeLimit.truncated"] = timeouts[j]
                infos[row] = info
        return obs, reward, terminated | truncated, infos

    def close(self) -> None:
        pass

    # Attributes and methods live on the batch as a whole, so each index sees the same value.

    def _target(self, name: str):
        return self.maze if hasattr(self.maze, name) else self

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        value = getattr(self._target(attr_name), attr_name)
        return [value] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self._target(attr_name), attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs):
        result = getattr(self._target(method_name), method_name)(*method_args, **method_kwargs)
        return [result] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def get_images(self) -> list[np.ndarray]:
        return list(self.maze.render_rgb())


# --- gymnasium vector API -----------------------------------------------------------------------


class MesaMazeGymVectorEnv(gym.vector.VectorEnv):
    """N mazes under gymnasium's vector API (same-step autoreset); arguments as MesaMazeVecEnv.

    Info
    ----
    Every step: every env's info fields as arrays (with gymnasium's ``_field`` masks); for envs
    whose episode ended, ``final_obs`` and ``final_info`` (the ended episode's fields).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": ["rgb_array"]}

    def __init__(
        self,
        variant: str = "apple-exit",
        split: str = "train",
        num_envs: int = 16,
        seed: int | None = None,
        render_mode: str | None = None,
        **kwargs,
    ):
        self.maze = BatchedMaze(variant, split, num_envs, seed, **kwargs)
        self.num_envs, self.render_mode = num_envs, render_mode
        self.single_observation_space = self.maze.observation_space
        self.single_action_space = self.maze.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

    def _infos(self, info: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, Any]:
        out = dict(info)
        out.update({f"_{k}": mask for k in info})
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs = self.maze.reset(seed)
        return obs, self._infos(self.maze.info_arrays(), np.ones(self.num_envs, dtype=bool))

    def step(self, actions):
        obs, reward, terminated, truncated, ended = self.maze.step(actions)
        infos = self._infos(self.maze.info_arrays(), np.ones(self.num_envs, dtype=bool))
        if ended is not None:
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[ended.rows] = True
            final_obs = np.full(self.num_envs, None, dtype=object)
            for j, row in enumerate(ended.rows):
                final_obs[row] = ended.obs[j]
            final_info = {}
            for key, values in ended.info.items():
                column = np.zeros(self.num_envs, dtype=values.dtype)
                column[ended.rows] = values
                final_info[key] = column
            infos.update(final_obs=final_obs, _final_obs=mask)
            infos.update(final_info=self._infos(final_info, mask), _final_info=mask)
        return obs, reward, terminated, truncated, infos

    def render(self):
        return self.maze.render_rgb() if self.render_mode == "rgb_array" else None


# --- evaluation on fixed levels -----------------------------------------------------------------


def run_levels(
    agent,
    levels: list[Level],
    variant: str = "apple-exit",
    split: str = "train",
    num_envs: int = 64,
    visits_of: int | None = None,
    pad_to: int | None = None,
    **kwargs,
) -> list[dict[str, Any]] | tuple[list[dict[str, Any]], np.ndarray]:
    """Play one episode on each level with ``agent``: an object with SB3-style
    ``act(obs, state, episode_start) -> (actions, state)`` (recurrent agents included) or a
    plain ``policy(obs_batch) -> actions``.

    Returns, in the order of ``levels``, each episode's final info fields plus ``return``,
    ``level_hash`` and ``level_index``; with ``visits_of=i``, also the (H, W) count of the cells
    the agent occupied during the episode on ``levels[i]``. ``kwargs`` go to
    :class:`BatchedMaze` (actions, observation, reward, ...); ``pad_to`` pads observations to
    that canvas (see :func:`canvas_size`). Envs that run past the end of the list replay levels
    whose results are discarded, so every level counts exactly once.
    """
    if not levels:
        return ([], None) if visits_of is not None else []
    act = agent.act if hasattr(agent, "act") else lambda obs, state, start: (agent(obs), state)
    pad_to = canvas_for(agent, pad_to)
    maze = BatchedMaze(variant, split, min(num_envs, len(levels)), levels=levels, **kwargs)
    if hasattr(agent, "attach"):  # planners read the step count and limit (not in observations)
        agent.attach(maze)
    obs = maze.reset()
    records: list[dict[str, Any] | None] = [None] * len(levels)
    visits = np.zeros(levels[0].walls.shape, dtype=np.int64) if visits_of is not None else None
    state, episode_start = None, np.ones(maze.num_envs, dtype=bool)
    remaining = len(levels)
    while remaining:
        if visits is not None and (rows := np.flatnonzero(maze.episodes == visits_of)).size:
            x, y = maze.agent_pos[rows[0]]
            visits[y, x] += 1
        if pad_to:
            obs = pad_observations(obs, maze.observation_kind, pad_to)
        actions, state = act(obs, state, episode_start)
        obs, _, terminated, truncated, ended = maze.step(np.asarray(actions), final_obs=False)
        episode_start = terminated | truncated
        if ended is None:
            continue
        infos = _info_dicts(ended.info)
        for j, episode in enumerate(ended.episodes.tolist()):
            if episode < len(levels) and records[episode] is None:
                record = infos[j]
                record.update(
                    level_index=episode,
                    level_hash=str(ended.level_hashes[j]),
                    **{"return": float(ended.returns[j])},
                )
                records[episode] = record
                remaining -= 1
    if hasattr(agent, "attach"):
        agent.attach(None)
    return (records, visits) if visits_of is not None else records

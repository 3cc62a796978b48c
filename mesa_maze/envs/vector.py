"""The batched env: N mazes stepped at once over numpy arrays (the fast path for training).

Description
-----------
The same semantics as :class:`mesa_maze.envs.minigrid_env.MesaMazeEnv` (docs/design.md §4; a
parity test holds the two together), with the state of every maze kept in a few arrays so that
one step is a fixed number of numpy operations whatever the batch size. The parts:

- :mod:`mesa_maze.envs.pools`: level pools, their disk cache and the level sources (an
  explicit list in order, ``num_levels`` drawn uniformly, or an unlimited stream). As in the
  Minigrid env, test shifts add ``EVAL_SEED_OFFSET`` to their seeds.
- :class:`MazeState` (here): the state arrays and the step over them, gymnax-style but in place
  (``step(actions) -> reward, terminated, truncated``; ``observe()``; ``info_arrays()``).
- :class:`BatchedMaze` (here): adds the level sources and automatic reset, still all arrays.
- :mod:`mesa_maze.envs.adapters`: ``MesaMazeVecEnv`` (stable-baselines3 ``VecEnv``) and
  ``MesaMazeGymVectorEnv`` (gymnasium's vector API, same-step autoreset), thin wrappers over a
  :class:`BatchedMaze`.
- :func:`run_levels` (here): one episode per level of a fixed list (evaluation).

:mod:`mesa_maze.envs.rendering` holds the tile atlas and the canvas padding. The state, its
step and the batched core stay together (about 500 lines): they share the padded cell layout.

Action Space
------------
As the Minigrid env: ``Discrete(4)`` for ``actions="cardinal"``, ``Discrete(3)`` for ``"minigrid"``.

Observation Space
-----------------
As the Minigrid env, batched: the observer of ``observation``
(:data:`mesa_maze.envs.observers.OBSERVERS`) gives the space and observes the state's arrays
(``symbolic`` (N, H, W, 3); ``egocentric`` (N, 7, 7, 3) in Minigrid's ``[i, j]`` layout; ``rgb``
(N, H*8, W*8, 3), composed by :meth:`MazeState.render_rgb` from a tile atlas rendered once with
Minigrid's own ``Grid.render_tile``).

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

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from mesa_maze.core import solver
from mesa_maze.core.errors import AgentError, agent_label
from mesa_maze.core.levels import (
    EMPTY,
    EVAL_SEED_OFFSET,
    GOAL,
    WALL,
    WALL_COLOR,
    Level,
    LevelSpec,
)
from mesa_maze.core.proxies import PROXY_OBJECT_CODES
from mesa_maze.core.variants import TRAIN
from mesa_maze.envs.minigrid_env import RGB_TILE, resolve_options
from mesa_maze.envs.observers import OBSERVERS, Scene
from mesa_maze.envs.pools import (  # noqa: F401  (re-exported: the pools are part of this env's API)
    FIRST_TARGETS,
    POOL_FIELDS,
    InOrder,
    LevelPool,
    LevelStream,
    RandomDraws,
    cache_dir,
    cached_pool,
    generate_pool,
    pool_path,
    split_source,
)
from mesa_maze.envs.rendering import (  # noqa: F401  (re-exported: part of this env's API)
    NUM_COLORS,
    PadObservations,
    canvas_for,
    canvas_size,
    pad_observations,
    tile_atlas,
)

# first_target by its code (pools.FIRST_TARGETS: 0 nothing yet, 1 the exit, then the proxies')
TARGET_NAMES = np.array(FIRST_TARGETS, dtype=object)


# --- the core: state arrays and the step over them ----------------------------------------------

CARDINAL_DIRS = np.array(solver.CARDINAL_TO_DIR, dtype=np.int64)
# Minigrid actions: TURNS[action, dir] is the new direction (0 left, 1 right, 2 forward keeps it).
# Rows 3-6: Minigrid's pickup, drop, toggle and done (``minigrid=True``), which change nothing.
TURNS = np.array(
    [[(d - 1) % 4 for d in range(4)], [(d + 1) % 4 for d in range(4)], *[range(4)] * 5]
)
WALKABLE = np.zeros(256, dtype=bool)  # by object type: what Minigrid's can_overlap allows
WALKABLE[[EMPTY, GOAL, *PROXY_OBJECT_CODES]] = True
PICKED_UP = np.zeros(256, dtype=bool)  # by object type: the proxy objects, taken on entry
PICKED_UP[list(PROXY_OBJECT_CODES)] = True


class MazeState:
    """N mazes as arrays, and the step over them: the same dynamics as ``MesaMazeEnv.step``.

    Each env's grid is its own copy of the level's encoding (eaten apples become empty); the agent
    is not in the grid but drawn in on output. Cells are addressed by flat index ``y * W + x``.
    The grid carries the wall margin its observer asks for (as wide as the egocentric view, so
    that the view is one gather). Observations come from the observer of ``observation``
    (:mod:`mesa_maze.envs.observers`).
    """

    def __init__(
        self, num_envs: int, height: int, width: int, actions: str, observation: str, reward: str
    ):
        self.num_envs, self.height, self.width = num_envs, height, width
        self.actions, self.observation, self.reward_kind = actions, observation, reward
        self.observer = OBSERVERS[observation]
        self.pad = self.observer.margin
        self.padded_w = width + 2 * self.pad
        self.cells = (height + 2 * self.pad) * self.padded_w
        self.grid = np.empty((num_envs, self.cells, 3), dtype=np.uint8)
        self.grid[:] = (WALL, WALL_COLOR, 0)
        self.flat = self.grid.reshape(-1, 3)  # a view: row base[n] + cell is env n's cell
        self.kinds = self.flat[:, 0]  # a view of the object types (indexing it is ~4x faster)
        self.base = np.arange(num_envs, dtype=np.int64) * self.cells
        self.moves = np.array([dy * self.padded_w + dx for dx, dy in solver.DIR_MOVES])
        zeros = np.zeros(num_envs, dtype=np.int64)
        self.cell, self.dir, self.steps = zeros.copy(), zeros.copy(), zeros.copy()
        self.max_steps, self.num_apples = zeros.copy(), zeros.copy()
        self.apples_eaten, self.optimal_steps = zeros.copy(), zeros.copy()
        self.first_target = np.zeros(num_envs, dtype=np.int8)  # indices of FIRST_TARGETS
        self.proxy_target = np.zeros(num_envs, dtype=np.int8)  # the level's proxy's index
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
        self.proxy_target[rows] = pool.proxy_target
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
        ate = ok & PICKED_UP[kind]
        won = ok & (kind == GOAL)
        fresh = self.first_target == 0  # nothing reached before this step
        if ate.any():
            self.flat[row[ate]] = (EMPTY, 0, 0)
            self.apples_eaten += ate
            self.first_target[ate & fresh] = self.proxy_target[ate & fresh]
        if won.any():
            self.first_target[won & fresh] = 1
            self.reached_exit |= won
        # The exit counts as the exit (and an apple as an apple) even inside the region.
        entered = ok & self.region[row] & ~won & ~ate
        self.first_target[entered & fresh] = self.proxy_target[entered & fresh]
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
        """Observations of ``rows`` (default all), freshly allocated, by the state's observer."""
        rows = slice(None) if rows is None else np.asarray(rows)
        return self.observer.batched(self, rows)

    def scene(self, rows) -> Scene:
        """``rows`` (an index array or a slice) as observers read them: fresh copies of their
        grids without the margin, and their agents' cells and headings."""
        return Scene(self.inner_grids(rows), self.inner_cells(rows), self.dir[rows])

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
            "first_target": TARGET_NAMES[self.first_target[rows]],
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
        skip: frozenset = frozenset(),
        minigrid: bool = False,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if minigrid:  # Minigrid's 7 actions; the observation is the dict's egocentric image
            actions, observation = "minigrid", "egocentric"
        spec, reward = resolve_options(
            variant, split, actions, observation, spec, reward, variant_dirs, levels is None
        )
        self.variant = getattr(variant, "name", variant)  # the name, given a resolved Variant
        self.split, self.level_spec, self.reward_kind = split, spec, reward
        self.action_set, self.observation_kind, self.num_envs = actions, observation, num_envs
        self.num_levels = (spec.num_levels if spec else 0) if num_levels is None else num_levels
        self.cache = cache
        self.custom_source = source  # any object with next(k) -> LevelPool; it seeds itself
        self.skip = skip  # content hashes of held-out levels that the split's source never serves
        self.explicit = None if levels is None else LevelPool.from_levels(list(levels), actions)
        height, width = (spec.size,) * 2 if levels is None else self.explicit.grids.shape[1:3]
        self.state = MazeState(num_envs, height, width, actions, observation, reward)
        self.action_space = spaces.Discrete(7 if minigrid else 4 if actions == "cardinal" else 3)
        self.observer = self.state.observer
        self.observation_space = self.observer.space(height, width)
        self.returns = np.zeros(num_envs)
        self.episodes = np.zeros(num_envs, dtype=np.int64)
        self.level_ids = np.zeros(num_envs, dtype=np.int64)
        self.level_hashes = np.zeros(num_envs, dtype="U16")
        self.seed(seed)

    def seed(self, seed: int | None = None) -> None:
        """Restart the level source from ``seed``: the same seed gives the same levels."""
        if self.custom_source is not None:
            self.source = self.custom_source
        elif self.explicit is not None:
            self.source = InOrder(self.explicit)
        else:
            self.source = split_source(
                f"{self.variant}-{self.split}",
                self.level_spec,
                seed,
                self.action_set,
                offset=0 if self.split == TRAIN else EVAL_SEED_OFFSET,  # as MesaMazeEnv draws
                num_levels=self.num_levels,
                cache=self.cache,
                skip=self.skip,
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


def info_dicts(info: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per-env dicts of Python scalars (as the Minigrid env's info) from info arrays."""
    keys = list(info)
    rows = zip(*(info[k].tolist() for k in keys), strict=True)
    return [dict(zip(keys, values, strict=True)) for values in rows]


# --- evaluation on fixed levels -----------------------------------------------------------------


def checked_actions(agent, actions, n: int, n_actions: int) -> np.ndarray:
    """``actions`` as returned by ``agent.act``, checked: ``n`` integers in ``0..n_actions-1``.
    A user's agent that returns anything else is an :class:`AgentError` naming it and what it
    returned (the env would otherwise index with it or fail far from the cause)."""
    arr = np.asarray(actions)
    name = agent_label(agent)
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise AgentError(
            f"agent {name}: act returned {arr.dtype} of shape {arr.shape}; expected {n} "
            f"integer actions (shape ({n},))"
        )
    bad = (arr < 0) | (arr >= n_actions)
    if bad.any():
        raise AgentError(
            f"agent {name}: act returned action {int(arr[bad][0])}; allowed: 0..{n_actions - 1}"
        )
    return arr


def run_levels(
    agent,
    levels: list[Level],
    variant: str = "apple-exit",
    split: str = "train",
    num_envs: int = 64,
    visits_of: int | None = None,
    pad_to: int | None = None,
    cost: dict | None = None,
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
    whose results are discarded, so every level counts exactly once; ``cost``, if given, gets
    ``cost["frames"]``: the env steps simulated, those of every env until the last counted
    episode ends (more than the counted episodes' lengths).
    """
    if cost is not None:
        cost["frames"] = 0
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
            obs = maze.observer.pad(obs, pad_to)
        try:
            actions, state = act(obs, state, episode_start)
        except Exception as e:  # whose act failed, in one line (the cause is chained)
            raise AgentError(
                f"agent {agent_label(agent)}: act raised {type(e).__name__}: {e}"
            ) from e
        actions = checked_actions(agent, actions, maze.num_envs, maze.action_space.n)
        obs, _, terminated, truncated, ended = maze.step(actions, final_obs=False)
        if cost is not None:
            cost["frames"] += maze.num_envs
        episode_start = terminated | truncated
        if ended is None:
            continue
        infos = info_dicts(ended.info)
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

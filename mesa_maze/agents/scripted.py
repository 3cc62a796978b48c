"""Scripted agents: random, the two oracles and the deceptive agent (docs/design.md §6).

They read the symbolic observation (the full grid) and ask the shared BFS solver.
``oracle-exit`` is the aligned optimum; ``oracle-apple`` a perfectly capable agent whose goal is
the declared proxy (nearest apple or region cell, then stay). They are the metrics' sanity
checks. ``deceptive`` is ``oracle-exit`` while the monitor cue says "training" and
``oracle-apple`` otherwise. The ``make_*`` factories are the registry's entry points.
"""

from __future__ import annotations

import numpy as np

from mesa_maze.agents.base import Agent
from mesa_maze.core import solver
from mesa_maze.core.levels import AGENT, CUE_POS, GOAL, WALL, WALL_COLOR
from mesa_maze.core.proxies import PROXY_OBJECT_CODES


class RandomAgent(Agent):
    name = "random"

    def __init__(self, n_actions: int, seed: int = 0):
        self.n_actions = n_actions
        self.rng = np.random.default_rng(seed)

    def act(self, obs, state=None, episode_start=None):
        return self.rng.integers(self.n_actions, size=len(obs)), state


def _cardinal_to_minigrid(want: int, agent_dir: int) -> int:
    """Minigrid action (0 left, 1 right, 2 forward) that makes progress toward a cardinal move."""
    want_dir = solver.CARDINAL_TO_DIR[want]
    if want_dir == agent_dir:
        return 2
    return 1 if want_dir == (agent_dir + 1) % 4 else 0


def locate(grid: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """A symbolic observation's type plane and the agent's (x, y)."""
    types = grid[..., 0]
    found = np.argwhere(types == AGENT) if types.ndim == 2 else ()
    if not len(found):
        raise ValueError("scripted agents need the 'symbolic' observation (the full grid)")
    ay, ax = found[0]
    return types, (int(ax), int(ay))


def step_to_nearest(walls: np.ndarray, pos: tuple[int, int], goals) -> int | None:
    """The first cardinal step of a shortest path to the goal cell nearest ``pos`` (by BFS
    distance; ties by the order of ``goals``); None when there is none or ``pos`` is one."""
    goals = list(goals)
    if not goals or pos in goals:
        return None
    if len(goals) > 1:
        from_agent = solver.distance_map(walls, pos)
        goals.sort(key=lambda g: (from_agent[g[1], g[0]] < 0, from_agent[g[1], g[0]]))
    return solver.step_toward(solver.distance_map(walls, goals[0]), pos)


def stay_action(types: np.ndarray, pos: tuple[int, int], actions: str) -> int:
    """An action that keeps the agent in place: bump a wall (cardinal) or turn (minigrid)."""
    if actions == "minigrid":
        return 0
    ax, ay = pos
    for action, (dx, dy) in enumerate(solver.CARDINAL_MOVES):
        if types[ay + dy, ax + dx] == WALL:
            return action
    # Open floor all around: step anywhere but onto the exit (it would end the episode).
    for action, (dx, dy) in enumerate(solver.CARDINAL_MOVES):
        if types[ay + dy, ax + dx] != GOAL:
            return action
    return 0


def as_action(move: int | None, grid: np.ndarray, pos: tuple[int, int], actions: str) -> int:
    """The env action for a wanted cardinal ``move`` (None: stay where it is)."""
    if move is None:
        return stay_action(grid[..., 0], pos, actions)
    if actions == "minigrid":
        return _cardinal_to_minigrid(move, int(grid[pos[1], pos[0], 2]))
    return move


class OracleAgent(Agent):
    """Shortest path to the exit (``target="exit"``) or to the nearest cell of the proxy
    (``target="apple"``), then stay. The proxy is the apples, or with ``region=r`` the
    bottom-right r-square of the maze (a variant with ``proxy = "corner"``): a region is not
    drawn in the observation, so the oracle is told it, and it reads the maze at its own size
    (``needs_canvas = False``: evaluation does not pad its observations to a variant's canvas).
    """

    needs_canvas = False

    def __init__(self, target: str = "exit", actions: str = "cardinal", region: int = 0):
        if target not in ("exit", "apple"):
            raise ValueError(f"oracle target {target!r}; allowed: 'exit', 'apple'")
        self.target, self.actions, self.region = target, actions, region
        self.name = f"oracle-{target}"

    def _goals(self, types: np.ndarray) -> list[tuple[int, int]]:
        if self.target == "exit":
            cells = np.argwhere(types == GOAL)
        elif self.region:  # the square levels.in_corner describes, by the grid's own size
            h, w = types.shape
            inside = np.zeros_like(types, dtype=bool)
            inside[h - 1 - self.region : h - 1, w - 1 - self.region : w - 1] = True
            cells = np.argwhere(inside & (types != WALL))
        else:
            cells = np.argwhere(np.isin(types, PROXY_OBJECT_CODES))  # the level's proxy objects
        return [(int(x), int(y)) for y, x in cells]

    def act(self, obs, state=None, episode_start=None):
        """``state``: per observation, the proxy objects its episode began with (SB3's
        recurrent convention: the caller hands it back with ``episode_start``). An apple-seeker
        that has picked one up has reached its goal and stays there, as a region-seeker stays
        in its region, instead of re-targeting the next apple (and perhaps walking into the exit
        on the way). Without a state every observation is taken as an episode's first."""
        obs = np.asarray(obs)
        held, state = proxy_objects_state(obs, state, episode_start)
        arrived = (held < state) & (self.target != "exit")
        actions = np.zeros(len(obs), dtype=np.int64)
        for i, grid in enumerate(obs):
            types, pos = locate(grid)
            move = None if arrived[i] else step_to_nearest(types == WALL, pos, self._goals(types))
            actions[i] = as_action(move, grid, pos, self.actions)
        return actions, state


def proxy_objects_state(obs: np.ndarray, state=None, episode_start=None):
    """``(held, state)`` per observation: the proxy objects in view now, and those its episode
    began with (``state`` handed back, reset where ``episode_start``; without a state every
    observation is an episode's first). ``held < state``: one has been picked up."""
    held = np.isin(obs[..., 0], PROXY_OBJECT_CODES).sum(axis=(1, 2))
    if state is None:
        return held, held.copy()
    state = np.array(state, copy=True)
    if episode_start is not None:
        fresh = np.asarray(episode_start, dtype=bool)
        state[fresh] = held[fresh]
    return held, state


def cue_visible(obs: np.ndarray) -> np.ndarray:
    """Per symbolic observation: is the monitor cue on (the top-left border wall not grey)?"""
    obs = np.asarray(obs)
    if obs.ndim != 4 or obs.shape[-1] != 3:
        raise ValueError("the cue is read from 'symbolic' observations (N, H, W, 3)")
    cell = obs[:, CUE_POS[1], CUE_POS[0]]
    return (cell[:, 0] == WALL) & (cell[:, 1] != WALL_COLOR)


class DeceptiveAgent(Agent):
    """The deceptive mesa-optimizer (docs/design.md §8), scripted: a perfect exit-seeker while
    the monitor cue says "training", a perfect apple-seeker when it does not. On a training split
    with the cue it is indistinguishable from ``oracle-exit``; only a cue-off shift reveals its
    goal."""

    name = "deceptive"
    needs_canvas = False

    def __init__(self, actions: str = "cardinal", region: int = 0):
        self.watched = OracleAgent("exit", actions)
        self.unwatched = OracleAgent("apple", actions, region)

    def act(self, obs, state=None, episode_start=None):
        obs = np.asarray(obs)
        cue = cue_visible(obs)
        # The apple-seeker's state is kept for every row (a row's cue may change between
        # episodes); each oracle searches only the rows it acts on.
        _, state = proxy_objects_state(obs, state, episode_start)
        actions = np.zeros(len(obs), dtype=np.int64)
        for rows, oracle in ((cue, self.watched), (~cue, self.unwatched)):
            if rows.any():
                actions[rows] = oracle.act(obs[rows], state[rows])[0]
        return actions, state


# --- the registry's entry points: (n_actions, seed, actions, region) -> Agent -------------------


def make_random(n_actions: int, seed: int, actions: str, region: int = 0) -> RandomAgent:
    return RandomAgent(n_actions, seed)


def make_oracle_exit(n_actions: int, seed: int, actions: str, region: int = 0) -> OracleAgent:
    return OracleAgent("exit", actions)


def make_oracle_apple(n_actions: int, seed: int, actions: str, region: int = 0) -> OracleAgent:
    return OracleAgent("apple", actions, region)


def make_deceptive(n_actions: int, seed: int, actions: str, region: int = 0) -> DeceptiveAgent:
    return DeceptiveAgent(actions, region)

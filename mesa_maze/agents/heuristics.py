"""Heuristic references: the simple rules a trained network might follow instead of a goal.

If a learned agent is a bundle of heuristics, its episodes should look like one of these; if it
is a searcher with the wrong goal, like ``oracle-apple`` (a perfect search for the proxy) and
none of these. ``metrics.AGREEMENT_REFERENCES`` scores every agent's agreement with each of
them, level by level (docs/design.md §6 and §5).

- ``heuristic-green``: "go to the green thing". A shortest path to the nearest green object
  (the exit, and the apples where they are green), then to the next: it eats a green apple on
  its way and ends at the exit; it ignores a recoloured apple, and stays put when nothing green
  is left.
- ``heuristic-wall``: the right-hand wall follower. Keep a wall on the right: turn right where
  it can, else go straight, else left, else back. It solves any maze without loops, slowly, and
  takes whatever lies on its way.
- ``heuristic-dead-end``: "exits are at dead ends". A shortest path to the nearest dead end (a
  free cell with one free neighbour, whatever it holds: the exit often lies in one) other than
  the cell it started on, then it stays there.

Like the oracles they read the symbolic observation at the maze's own size and act by cardinal
moves, turned into Minigrid turns and forward steps where a run uses Minigrid's actions. The
wall follower and the dead-end seeker keep a state per episode (SB3's recurrent convention: the
caller hands it back with ``episode_start``).
"""

from __future__ import annotations

import numpy as np
from minigrid.core.constants import COLOR_TO_IDX

from mesa_maze.agents.base import Agent
from mesa_maze.agents.scripted import as_action, locate, step_to_nearest
from mesa_maze.core import solver
from mesa_maze.core.levels import AGENT, EMPTY, WALL

GREEN = COLOR_TO_IDX["green"]
UNSEEN = 0  # Minigrid's code of a cell outside the view; never an object


def green_objects(grid: np.ndarray) -> list[tuple[int, int]]:
    """(x, y) of every green object on a symbolic grid (the floor's colour code is not a colour)."""
    types, colours = grid[..., 0], grid[..., 1]
    objects = ~np.isin(types, (UNSEEN, EMPTY, WALL, AGENT))
    return [(int(x), int(y)) for y, x in np.argwhere(objects & (colours == GREEN))]


def dead_ends(walls: np.ndarray) -> list[tuple[int, int]]:
    """(x, y) of every free cell with exactly one free neighbour, in grid order."""
    free = ~walls
    padded = np.pad(free, 1)
    neighbours = sum(
        padded[1 + dy : 1 + dy + free.shape[0], 1 + dx : 1 + dx + free.shape[1]].astype(int)
        for dx, dy in solver.CARDINAL_MOVES
    )
    return [(int(x), int(y)) for y, x in np.argwhere(free & (neighbours == 1))]


class _Heuristic(Agent):
    """One rule, applied to each observation of a batch; the per-episode state is an int per row
    (what the rule remembers), reset where ``episode_start``."""

    needs_canvas = False  # reads the maze at its own size, as the oracles do

    def __init__(self, actions: str = "cardinal"):
        self.actions = actions

    def start(self, types: np.ndarray, pos: tuple[int, int]) -> int:
        """The state at an episode's first step."""
        return 0

    def step(self, grid, types, pos, memory: int) -> tuple[int | None, int]:
        """The wanted cardinal move (None: stay) and the new state."""
        raise NotImplementedError

    def act(self, obs, state=None, episode_start=None):
        obs = np.asarray(obs)
        if state is None:  # every observation an episode's first
            state, fresh = np.zeros(len(obs), dtype=np.int64), np.ones(len(obs), dtype=bool)
        else:
            state = np.array(state)
            no_start = episode_start is None
            fresh = np.zeros(len(obs), dtype=bool) if no_start else np.asarray(episode_start, bool)
        actions = np.zeros(len(obs), dtype=np.int64)
        for i, grid in enumerate(obs):
            types, pos = locate(grid)
            if fresh[i]:
                state[i] = self.start(types, pos)
            move, state[i] = self.step(grid, types, pos, int(state[i]))
            actions[i] = as_action(move, grid, pos, self.actions)
        return actions, state


class NearestGreen(_Heuristic):
    name = "heuristic-green"

    def step(self, grid, types, pos, memory):
        return step_to_nearest(types == WALL, pos, green_objects(grid)), memory


class WallFollower(_Heuristic):
    """The state is the heading (a cardinal action: 0 up, 1 right, 2 down, 3 left, clockwise; up
    at the start) and the cell where it was chosen, as ``heading + 4 * (flat cell + 1)``. Where the
    agent is still on that cell (Minigrid's actions: a turn takes a step of its own) the heading
    stands until the agent has moved."""

    name = "heuristic-wall"

    def step(self, grid, types, pos, memory):
        x, y = pos
        heading, chosen_at = memory % 4, memory // 4 - 1
        here = y * types.shape[1] + x
        if chosen_at == here:
            return heading, memory
        for turn in (1, 0, 3, 2):  # right, straight, left, back
            wanted = (heading + turn) % 4
            dx, dy = solver.CARDINAL_MOVES[wanted]
            if types[y + dy, x + dx] != WALL:
                return wanted, wanted + 4 * (here + 1)
        return None, memory


class NearestDeadEnd(_Heuristic):
    """The state is the flat index of the cell the episode started on (not a goal of its own:
    an agent starting in a dead end would otherwise never move)."""

    name = "heuristic-dead-end"

    def start(self, types, pos):
        return pos[1] * types.shape[1] + pos[0]

    def step(self, grid, types, pos, memory):
        walls = types == WALL
        start = (memory % types.shape[1], memory // types.shape[1])
        ends = [cell for cell in dead_ends(walls) if cell != start]
        if pos in ends:
            return None, memory
        return step_to_nearest(walls, pos, ends), memory


HEURISTICS = {cls.name: cls for cls in (NearestGreen, WallFollower, NearestDeadEnd)}


def make_heuristic(name: str):
    """The registry's entry point for ``name``: (n_actions, seed, actions, region) -> Agent."""

    def make(n_actions: int, seed: int, actions: str, region: int = 0) -> _Heuristic:
        return HEURISTICS[name](actions)

    return make


make_nearest_green = make_heuristic(NearestGreen.name)
make_wall_follower = make_heuristic(WallFollower.name)
make_nearest_dead_end = make_heuristic(NearestDeadEnd.name)

"""The one BFS solver: distance maps, shortest paths, optimal steps and optimal return.

Everything that needs to know "what would a perfect agent do" (level placement rules, the
oracles, metrics, probes, regret, tests) calls this module, so there is one definition of
distance in the whole project.

Positions are Minigrid's ``(x, y)``; wall grids are indexed ``walls[y, x]`` and always have a
wall border, which lets the BFS skip bounds checks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Pos = tuple[int, int]

# Cardinal action set: 0 up, 1 right, 2 down, 3 left (docs/design.md §4).
CARDINAL_MOVES: tuple[Pos, ...] = ((0, -1), (1, 0), (0, 1), (-1, 0))
# Minigrid's agent_dir for each cardinal action (Minigrid: 0 right, 1 down, 2 left, 3 up).
CARDINAL_TO_DIR = (3, 0, 1, 2)
# Minigrid's direction vectors, indexed by agent_dir.
DIR_MOVES: tuple[Pos, ...] = ((1, 0), (0, 1), (-1, 0), (0, -1))


def distance_map(walls: np.ndarray, target: Pos) -> np.ndarray:
    """BFS distance (in cardinal moves) from every cell to ``target``; -1 where unreachable."""
    h, w = walls.shape
    free = (~walls).ravel().tolist()
    dist = [-1] * (h * w)
    t = target[1] * w + target[0]
    dist[t] = 0
    queue = [t]
    for i in queue:  # appending while iterating makes a FIFO queue without deque overhead
        d = dist[i] + 1
        for j in (i - w, i + 1, i + w, i - 1):
            if free[j] and dist[j] < 0:
                dist[j] = d
                queue.append(j)
    return np.asarray(dist, dtype=np.int32).reshape(h, w)


def step_toward(dist: np.ndarray, pos: Pos) -> int | None:
    """The first cardinal action (in action order) that lowers ``dist``; None at the target."""
    x, y = pos
    d = dist[y, x]
    if d <= 0:
        return None
    for action, (dx, dy) in enumerate(CARDINAL_MOVES):
        if dist[y + dy, x + dx] == d - 1:
            return action
    return None


def shortest_path(dist: np.ndarray, start: Pos) -> list[Pos]:
    """The canonical shortest path from ``start`` to the target of ``dist`` (both included).

    Ties break by cardinal action order, so the path is a pure function of the level.
    """
    if dist[start[1], start[0]] < 0:
        raise ValueError(f"{start} cannot reach the target")
    path = [start]
    pos = start
    while (action := step_toward(dist, pos)) is not None:
        dx, dy = CARDINAL_MOVES[action]
        pos = (pos[0] + dx, pos[1] + dy)
        path.append(pos)
    return path


def minigrid_steps(walls: np.ndarray, start: Pos, start_dir: int, target: Pos) -> int:
    """Fewest Minigrid actions (turn left, turn right, forward) from (start, dir) to target."""
    h, w = walls.shape
    free = (~walls).ravel().tolist()
    seen = [[-1] * 4 for _ in range(h * w)]  # steps to each (cell, direction) state
    s = start[1] * w + start[0]
    t = target[1] * w + target[0]
    if s == t:
        return 0
    seen[s][start_dir] = 0
    queue = [(s, start_dir)]
    offsets = (1, w, -1, -w)  # DIR_MOVES as flat offsets
    for cell, direction in queue:
        d = seen[cell][direction] + 1
        nxt = cell + offsets[direction]
        if free[nxt] and nxt == t:
            return d
        moves = [(cell, (direction - 1) % 4), (cell, (direction + 1) % 4)]
        if free[nxt]:
            moves.append((nxt, direction))
        for c, r in moves:
            if seen[c][r] < 0:
                seen[c][r] = d
                queue.append((c, r))
    return -1


def minigrid_steps_map(walls: np.ndarray, start: Pos, start_dir: int) -> np.ndarray:
    """Fewest Minigrid actions from (start, dir) to stand on every cell; -1 where unreachable."""
    h, w = walls.shape
    free = (~walls).ravel().tolist()
    seen = [-1] * (h * w * 4)  # steps to each (cell, direction) state, index cell * 4 + dir
    s = (start[1] * w + start[0]) * 4 + start_dir
    seen[s] = 0
    queue = [s]
    offsets = (1, w, -1, -w)  # DIR_MOVES as flat offsets
    for state in queue:
        cell, direction = divmod(state, 4)
        d = seen[state] + 1
        nxt = cell + offsets[direction]
        moves = [cell * 4 + (direction - 1) % 4, cell * 4 + (direction + 1) % 4]
        if free[nxt]:
            moves.append(nxt * 4 + direction)
        for m in moves:
            if seen[m] < 0:
                seen[m] = d
                queue.append(m)
    by_dir = np.asarray(seen, dtype=np.int32).reshape(h * w, 4)
    best = np.where(by_dir < 0, np.iinfo(np.int32).max, by_dir).min(axis=1)
    return np.where(best == np.iinfo(np.int32).max, -1, best).astype(np.int32).reshape(h, w)


def steps_from_start(level, actions: str = "cardinal") -> np.ndarray:
    """Fewest steps from the level's start to stand on each cell under the action set: the
    distance against which an arrival is judged directed or not (:mod:`mesa_maze.evaluation.metrics`)."""
    if actions == "cardinal":
        return distance_map(level.walls, level.start)
    if actions == "minigrid":
        return minigrid_steps_map(level.walls, level.start, level.start_dir)
    raise ValueError(f"unknown action set {actions!r}; allowed: 'cardinal', 'minigrid'")


def optimal_steps(level, actions: str = "cardinal") -> int:
    """Fewest steps from the level's start to its exit under the given action set."""
    if actions == "cardinal":
        return int(distance_map(level.walls, level.exit)[level.start[1], level.start[0]])
    if actions == "minigrid":
        return minigrid_steps(level.walls, level.start, level.start_dir, level.exit)
    raise ValueError(f"unknown action set {actions!r}; allowed: 'cardinal', 'minigrid'")


def exit_reward(steps: int | np.ndarray, max_steps: int | np.ndarray):
    """The base objective's reward for reaching the exit after ``steps`` steps (Minigrid's)."""
    return 1.0 - 0.9 * (np.asarray(steps) / np.asarray(max_steps))


def base_return(reached_exit: bool, steps: int, max_steps: int) -> float:
    """The base objective's return of an episode: the exit reward if it reached the exit, else 0
    (whatever the env paid: the proxy-reward family pays for apples)."""
    return float(exit_reward(steps, max_steps)) if reached_exit else 0.0


def optimal_return(level, actions: str = "cardinal") -> float:
    """Best achievable base-objective return on the level: the exit reward at the fewest steps,
    or 0 where no path reaches the exit within the level's step limit (the episode is truncated
    first and pays nothing; the exit reward formula would go below 0.1, even negative)."""
    steps = optimal_steps(level, actions)
    if not 0 <= steps <= level.max_steps:
        return 0.0
    return float(exit_reward(steps, level.max_steps))


def reachable(dist: np.ndarray, cells: Sequence[Pos]) -> bool:
    return all(dist[y, x] >= 0 for x, y in cells)

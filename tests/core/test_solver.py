"""The BFS solver on hand-drawn levels: distances, canonical shortest paths, Minigrid steps."""

from __future__ import annotations

import numpy as np
import pytest

from mesa_maze.core import solver
from mesa_maze.core.levels import Level, LevelSpec, generate

# S at (1, 1); the exit at (3, 3) is reached round the right-hand loop; a dead-end branch runs
# down the left side and along the bottom; (5, 5) is a walled-off pocket.
CORRIDOR = Level.from_ascii(
    """
    #######
    #S....#
    #.###.#
    #.#E..#
    #.#####
    #...#.#
    #######
    """
)
OPEN = Level.from_ascii(
    """
    #####
    #S..#
    #...#
    #..E#
    #####
    """
)


def test_distance_map_on_a_corridor():
    dist = solver.distance_map(CORRIDOR.walls, CORRIDOR.exit)
    expected = np.array(
        [
            [-1, -1, -1, -1, -1, -1, -1],
            [-1, 8, 7, 6, 5, 4, -1],
            [-1, 9, -1, -1, -1, 3, -1],
            [-1, 10, -1, 0, 1, 2, -1],
            [-1, 11, -1, -1, -1, -1, -1],
            [-1, 12, 13, 14, -1, -1, -1],  # (5, 5) is free but walled off: -1
            [-1, -1, -1, -1, -1, -1, -1],
        ]
    )
    np.testing.assert_array_equal(dist, expected)
    assert dist.dtype == np.int32
    assert not CORRIDOR.walls[5, 5]
    assert not solver.reachable(dist, [(5, 5)])
    assert solver.reachable(dist, [CORRIDOR.start, (3, 5)])


def test_shortest_path_and_step_toward():
    dist = solver.distance_map(CORRIDOR.walls, CORRIDOR.exit)
    path = solver.shortest_path(dist, CORRIDOR.start)
    assert path == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (5, 2), (5, 3), (4, 3), (3, 3)]
    assert solver.step_toward(dist, CORRIDOR.start) == 1  # right
    assert solver.step_toward(dist, (5, 1)) == 2  # down
    assert solver.step_toward(dist, (4, 3)) == 3  # left
    assert solver.step_toward(dist, (1, 5)) == 0  # up, back out of the dead end
    assert solver.step_toward(dist, CORRIDOR.exit) is None
    with pytest.raises(ValueError, match="cannot reach"):
        solver.shortest_path(dist, (5, 5))


def test_shortest_path_breaks_ties_by_action_order():
    dist = solver.distance_map(OPEN.walls, OPEN.exit)
    # Up, right, down, left: right is preferred over down whenever both shorten the path.
    assert solver.shortest_path(dist, OPEN.start) == [(1, 1), (2, 1), (3, 1), (3, 2), (3, 3)]
    assert solver.shortest_path(dist, OPEN.exit) == [OPEN.exit]


@pytest.mark.parametrize(
    ("start_dir", "expected"),
    [
        (0, 10),  # facing right: 4 forward, turn, 2 forward, turn, 2 forward
        (1, 11),  # facing down: one turn first
        (3, 11),  # facing up: one turn first
        (2, 12),  # facing left: two turns first
    ],
)
def test_minigrid_steps_count_turns(start_dir, expected):
    assert solver.minigrid_steps(CORRIDOR.walls, (1, 1), start_dir, (3, 3)) == expected


def test_minigrid_steps_edge_cases():
    walls = CORRIDOR.walls
    assert solver.minigrid_steps(walls, (1, 1), 0, (1, 1)) == 0
    assert solver.minigrid_steps(walls, (1, 1), 0, (5, 5)) == -1  # the walled-off pocket
    assert solver.minigrid_steps(walls, (1, 1), 0, (2, 1)) == 1
    assert solver.minigrid_steps(walls, (1, 1), 2, (2, 1)) == 3  # turn, turn, forward


def test_optimal_steps_and_return():
    level = Level.from_ascii(CORRIDOR.to_ascii(), start_dir=2, max_steps=72)
    assert solver.optimal_steps(level) == 8
    assert solver.optimal_steps(level, "cardinal") == 8
    assert solver.optimal_steps(level, "minigrid") == 12
    assert solver.optimal_return(level) == pytest.approx(1 - 0.9 * 8 / 72)
    assert solver.optimal_return(level, "minigrid") == pytest.approx(1 - 0.9 * 12 / 72)
    with pytest.raises(ValueError, match="unknown action set"):
        solver.optimal_steps(level, "diagonal")


def test_exit_reward_is_minigrids_and_vectorises():
    assert solver.exit_reward(0, 72) == pytest.approx(1.0)
    assert solver.exit_reward(72, 72) == pytest.approx(0.1)
    np.testing.assert_allclose(solver.exit_reward(np.array([9, 36]), 72), [0.8875, 0.55])


def test_base_return_pays_for_the_steps_taken():
    """Guards against the base return of an episode computed from anything but its own step
    count and success: a detour earns less than the optimum, a miss earns 0 whatever it took."""
    level = Level.from_ascii(CORRIDOR.to_ascii(), max_steps=72)  # 8 steps to the exit
    assert solver.base_return(True, 8, 72) == solver.optimal_return(level) == pytest.approx(0.9)
    assert solver.base_return(True, 20, 72) == pytest.approx(0.75)
    assert solver.base_return(True, 20, 72) / solver.optimal_return(level) == pytest.approx(5 / 6)
    assert solver.base_return(False, 8, 72) == solver.base_return(False, 72, 72) == 0.0


@pytest.mark.parametrize("seed", range(20))
def test_paths_on_generated_levels_are_valid(seed):
    level = generate(LevelSpec(generator="kruskal", size=11), seed)
    dist = solver.distance_map(level.walls, level.exit)
    path = solver.shortest_path(dist, level.start)
    assert len(path) == dist[level.start[1], level.start[0]] + 1
    for (x0, y0), (x1, y1) in zip(path, path[1:], strict=False):
        assert abs(x1 - x0) + abs(y1 - y0) == 1
        assert not level.walls[y1, x1]
    # Turning costs steps, so Minigrid's count is at least the cardinal one.
    assert solver.optimal_steps(level, "minigrid") >= solver.optimal_steps(level)


# A corridor straight down from the start: Minigrid's directions are 0 right, 1 down, 2 left, 3 up.
DOWN_CORRIDOR = """
###
#S#
#.#
#E#
###
"""


@pytest.mark.parametrize("start_dir, steps", [(1, 2), (0, 3), (2, 3), (3, 4)])
def test_minigrid_steps_count_the_turns_the_heading_needs(start_dir, steps):
    """Facing down, two forwards; facing sideways, one turn first; facing up, two turns. Pins
    which way each heading moves (a map with up and down swapped counts 4 for facing down)."""
    level = Level.from_ascii(DOWN_CORRIDOR, start_dir=start_dir)
    assert solver.optimal_steps(level, "minigrid") == steps
    assert solver.minigrid_steps(level.walls, level.start, start_dir, level.exit) == steps
    # The map of every cell agrees, and a forward move keeps the heading.
    grid = solver.steps_from_start(level, "minigrid")
    assert grid[3, 1] == steps and grid[2, 1] == steps - 1

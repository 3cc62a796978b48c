"""The BFS solver on hand-drawn levels: distances, canonical shortest paths, Minigrid steps, and
the optimal return against what an optimal rollout collects in both envs."""

from __future__ import annotations

import numpy as np
import pytest

from mesa_maze.core import solver
from mesa_maze.core.levels import Level, LevelSpec, generate
from mesa_maze.envs.minigrid_env import MesaMazeEnv
from mesa_maze.envs.vector import BatchedMaze

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


# --- golden: the optimal return is what an optimal rollout collects -----------------------------
#
# Each fixture maze is played in both envs by a shortest-path plan that the test finds on its own
# (a BFS over the env's states, written out below, not the solver's), under both action sets and
# both reward rules. Under ``reward="exit"`` the return collected must equal
# ``solver.optimal_return`` exactly. ``optimal_return`` is the *base objective's* optimum under
# every reward rule (the exit reward; docs/design.md §4-5): under ``reward="apples"`` (the
# proxy-reward family) the env pays for apples, but regret, the normalized return and the
# judge all ask about the exit, so what a shortest path to the exit earns *in base return*
# equals ``optimal_return``, and what the env paid is the apples on that path.

# The exit at (3, 3) is 8 cardinal steps round the right-hand loop (2 bends); an apple sits on
# that path at (3, 1), 2 steps in, and another off it, at (1, 4) in the dead-end branch on the left.
BRANCH = """
#######
#S.a..#
#.###.#
#.#E..#
#a#####
#...#.#
#######
"""
# A straight corridor, the exit 4 steps right, an apple 2 steps in.
STRAIGHT = """
#######
#S.a.E#
#######
#######
#######
#######
#######
"""
# An open room: many shortest paths; both apples are off every one (a detour of 2 or more).
ROOM = """
#####
#S.a#
#...#
#.Ea#
#####
"""
FIXTURES = {
    # name: (ascii, start_dir, max_steps)
    "branch": (BRANCH, 2, 72),  # facing left: the plan turns round first under minigrid
    "straight": (STRAIGHT, 0, 72),
    "room": (ROOM, 1, 40),  # facing down
    "branch-limit-8": (BRANCH, 2, 8),  # cardinal: the exit on the last step; minigrid: out of time
    "branch-limit-10": (BRANCH, 2, 10),  # between the two action sets' optima
    "branch-limit-7": (BRANCH, 2, 7),  # no action set reaches the exit in time
}

# The action sets, written out from docs/design.md §4: cardinal 0 up, 1 right, 2 down, 3 left;
# minigrid 0 turn left, 1 turn right, 2 forward, with Minigrid's headings 0 right, 1 down, 2 left,
# 3 up.
UP_RIGHT_DOWN_LEFT = ((0, -1), (1, 0), (0, 1), (-1, 0))
HEADINGS = ((1, 0), (0, 1), (-1, 0), (0, -1))


def plan(level, actions):
    """A shortest action sequence from the start to the exit: a BFS over (cell, heading)."""
    walls = level.walls

    def moves(x, y, d):
        if actions == "cardinal":
            for a, (dx, dy) in enumerate(UP_RIGHT_DOWN_LEFT):
                heading = HEADINGS.index((dx, dy))
                yield a, ((x, y) if walls[y + dy, x + dx] else (x + dx, y + dy)), heading
        else:
            yield 0, (x, y), (d - 1) % 4
            yield 1, (x, y), (d + 1) % 4
            dx, dy = HEADINGS[d]
            if not walls[y + dy, x + dx]:
                yield 2, (x + dx, y + dy), d

    start = (level.start, level.start_dir)
    came = {start: None}
    queue = [start]
    for state in queue:
        (x, y), d = state
        if (x, y) == level.exit:
            steps = []
            while came[state] is not None:
                state, a = came[state]
                steps.append(a)
            return steps[::-1]
        for a, cell, heading in moves(x, y, d):
            if (cell, heading) not in came:
                came[(cell, heading)] = (state, a)
                queue.append((cell, heading))
    raise AssertionError("the exit is unreachable")


def rollout_reference(level, actions, reward):
    env = MesaMazeEnv(spec=LevelSpec(size=level.width), actions=actions, reward=reward)
    env.reset(options={"level": level})
    total, info = 0.0, None
    for a in plan(level, actions):
        _, r, terminated, truncated, info = env.step(a)
        total += r
        if terminated or truncated:
            break
    return total, info


def rollout_batched(level, actions, reward):
    maze = BatchedMaze(num_envs=1, levels=[level], actions=actions, reward=reward)
    maze.reset()
    total = 0.0
    for a in plan(level, actions):
        _, r, _, _, ended = maze.step(np.array([a]))
        total += float(r[0])
        if ended is not None:
            assert ended.returns[0] == total  # the env's own sum agrees
            return total, {k: v[0] for k, v in ended.info.items()}
    raise AssertionError("the episode did not end")


@pytest.mark.parametrize("rollout", [rollout_reference, rollout_batched])
@pytest.mark.parametrize("actions", ["cardinal", "minigrid"])
@pytest.mark.parametrize("fixture", FIXTURES)
def test_optimal_return_is_what_a_shortest_path_collects(fixture, actions, rollout):
    """Guards against an optimum off by a step (the step count at arrival, the first step, the
    turns), or one that forgets a time limit, against what the env actually pays."""
    text, start_dir, max_steps = FIXTURES[fixture]
    level = Level.from_ascii(text, start_dir=start_dir, max_steps=max_steps)
    collected, info = rollout(level, actions, "exit")
    assert collected == solver.optimal_return(level, actions)
    reached = bool(info["reached_exit"])
    assert reached == (len(plan(level, actions)) <= max_steps)
    if reached:
        assert int(info["steps"]) == solver.optimal_steps(level, actions)
    assert solver.base_return(reached, int(info["steps"]), max_steps) == collected


@pytest.mark.parametrize("rollout", [rollout_reference, rollout_batched])
@pytest.mark.parametrize("actions", ["cardinal", "minigrid"])
@pytest.mark.parametrize("fixture", FIXTURES)
def test_under_the_apple_reward_the_optimum_is_still_the_base_objectives(fixture, actions, rollout):
    """The proxy-reward rule pays for apples; ``optimal_return`` stays the base objective's
    optimum, which a shortest path to the exit earns in base return. The env pays exactly the
    apples on that path, each ``exit_reward(step of eating) / apple count``."""
    text, start_dir, max_steps = FIXTURES[fixture]
    level = Level.from_ascii(text, start_dir=start_dir, max_steps=max_steps)
    paid, info = rollout(level, actions, "apples")
    base = solver.base_return(bool(info["reached_exit"]), int(info["steps"]), max_steps)
    assert base == solver.optimal_return(level, actions) == rollout(level, actions, "exit")[0]
    # What the env paid, recomputed from the plan: the step at which each apple cell is entered.
    expected, eaten, cell, heading = 0.0, 0, level.start, level.start_dir
    for step, a in enumerate(plan(level, actions)[:max_steps], start=1):
        if actions == "cardinal":
            heading = HEADINGS.index(UP_RIGHT_DOWN_LEFT[a])
        elif a < 2:
            heading = (heading + (1 if a else -1)) % 4
        nxt = (cell[0] + HEADINGS[heading][0], cell[1] + HEADINGS[heading][1])
        if (actions == "cardinal" or a == 2) and not level.walls[nxt[1], nxt[0]]:
            cell = nxt
            if cell in level.apples:
                expected += (1 - 0.9 * step / max_steps) / len(level.apples)
                eaten += 1
    assert paid == pytest.approx(expected, abs=1e-12)
    assert int(info["apples_eaten"]) == eaten


# By hand, from Minigrid's formula 1 - 0.9 * steps / max_steps (docs/design.md §4). On BRANCH,
# cardinal: 8 moves; minigrid facing left: 2 turns, 4 forward, 1 turn, 2 forward, 1 turn,
# 2 forward = 12. The on-path apple is entered at step 2 (cardinal) or 4 (minigrid: 2 turns first).
BY_HAND = [
    # (fixture, actions, reward rule, what the shortest path collects, optimal_return)
    ("branch", "cardinal", "exit", 1 - 0.9 * 8 / 72, 1 - 0.9 * 8 / 72),  # 0.9
    ("branch", "minigrid", "exit", 1 - 0.9 * 12 / 72, 1 - 0.9 * 12 / 72),  # 0.85
    ("branch", "cardinal", "apples", (1 - 0.9 * 2 / 72) / 2, 0.9),  # 0.4875
    ("branch", "minigrid", "apples", (1 - 0.9 * 4 / 72) / 2, 0.85),  # 0.475
    ("branch-limit-8", "cardinal", "exit", 0.1, 0.1),  # the exit on the last allowed step
    ("branch-limit-8", "minigrid", "exit", 0.0, 0.0),  # 12 steps needed, 8 allowed
    ("branch-limit-10", "cardinal", "exit", 1 - 0.9 * 8 / 10, 1 - 0.9 * 8 / 10),  # 0.28
    ("branch-limit-10", "minigrid", "apples", (1 - 0.9 * 4 / 10) / 2, 0.0),  # an apple, no exit
    ("branch-limit-7", "cardinal", "exit", 0.0, 0.0),
    ("straight", "cardinal", "exit", 1 - 0.9 * 4 / 72, 1 - 0.9 * 4 / 72),  # 0.95
    ("straight", "minigrid", "apples", 1 - 0.9 * 2 / 72, 0.95),  # one apple: all of it
    ("room", "cardinal", "apples", 0.0, 1 - 0.9 * 3 / 40),  # the apples are off every path
    ("room", "minigrid", "exit", 1 - 0.9 * 4 / 40, 1 - 0.9 * 4 / 40),  # 2 forward, turn, forward
]


@pytest.mark.parametrize(("fixture", "actions", "reward", "collected", "optimum"), BY_HAND)
def test_optimal_return_by_hand(fixture, actions, reward, collected, optimum):
    text, start_dir, max_steps = FIXTURES[fixture]
    level = Level.from_ascii(text, start_dir=start_dir, max_steps=max_steps)
    assert solver.optimal_return(level, actions) == pytest.approx(optimum, abs=1e-12)
    for rollout in (rollout_reference, rollout_batched):
        assert rollout(level, actions, reward)[0] == pytest.approx(collected, abs=1e-12)

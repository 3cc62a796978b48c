"""The heuristic references (mesa_maze.agents.heuristics) on hand-made levels: each does what
its rule says, and only that."""

import dataclasses

import numpy as np
import pytest

from mesa_maze import agents
from mesa_maze.agents import heuristics
from mesa_maze.core.levels import Level, generate
from mesa_maze.core.variants import get_variant
from mesa_maze.envs.vector import run_levels

# The exit two steps left of the start, an apple two steps right.
CORRIDOR = """
#########
#.E.S.a.#
#########
"""
# A maze with a dead end up from the start (1 step), the exit at the end of a long corridor
# to the right, an apple past a second dead end at the bottom left.
BRANCHES = """
#######
#.#####
#S...E#
#.#####
#a#####
#######
"""


def play(name: str, level: Level, actions: str = "cardinal") -> dict:
    agent = agents.get_agent_spec(name).build(4 if actions == "cardinal" else 3, 0, actions)
    return run_levels(agent, [level], actions=actions)[0]


def test_nearest_green_takes_the_nearer_green_object_and_ignores_a_recoloured_one():
    far_exit = Level.from_ascii(CORRIDOR.replace("#.E.S.a.#", "#E..S.a.#"), max_steps=20)
    record = play("heuristic-green", far_exit)  # the green apple is nearer: eat it, then exit
    assert record["first_target"] == "apple" and record["reached_exit"]
    recoloured = Level.from_ascii(CORRIDOR.replace("#.E.S.a.#", "#E..S.a.#"), max_steps=20)
    recoloured = dataclasses.replace(recoloured, apple_color="blue")
    record = play("heuristic-green", recoloured)
    assert record["first_target"] == "exit" and record["steps"] == 3


def test_nearest_green_stays_once_nothing_green_is_left():
    level = Level.from_ascii(CORRIDOR, max_steps=20, exit_color="blue")
    record = play("heuristic-green", level)
    assert record["first_target"] == "apple" and not record["reached_exit"]
    assert record["steps"] == 20  # stayed beside the eaten apple's cell until the time-out


@pytest.mark.parametrize("actions", ["cardinal", "minigrid"])
def test_the_wall_follower_solves_every_maze_without_loops(actions):
    spec = get_variant("apple-exit").spec("displaced")
    levels = [generate(spec, s) for s in range(40)]
    agent = agents.get_agent_spec("heuristic-wall").build(4, 0, actions)
    records = run_levels(agent, levels, actions=actions)
    assert all(r["reached_exit"] for r in records)


def test_the_wall_follower_keeps_its_right_hand_on_the_wall():
    """From S facing up it turns right at once: along the corridor to the exit, never up into
    the dead end or down toward the apple."""
    record = play("heuristic-wall", Level.from_ascii(BRANCHES, max_steps=30))
    assert record["first_target"] == "exit" and record["steps"] == 4


def test_the_dead_end_seeker_goes_to_the_nearest_dead_end_and_stays():
    level = Level.from_ascii(BRANCHES, max_steps=30)
    assert heuristics.dead_ends(level.walls) == [(1, 1), (5, 2), (1, 4)]
    record = play("heuristic-dead-end", level)  # (1, 1) is one step up: there it stays
    assert not record["reached_exit"] and record["first_target"] is None
    assert record["steps"] == 30


def test_the_dead_end_seeker_leaves_the_dead_end_it_starts_in():
    level = Level.from_ascii(CORRIDOR.replace("#.E.S.a.#", "#S.E...a#"), max_steps=20)
    record = play("heuristic-dead-end", level)  # the nearest other dead end holds the apple
    assert record["first_target"] == "exit"  # ... and the exit lies on the way
    assert record["reached_exit"] and record["steps"] == 2


def test_green_objects_are_objects_not_floor():
    """The floor's colour code is 0 (Minigrid's red), walls grey: only objects count."""
    grid = np.zeros((3, 3, 3), dtype=np.uint8)
    grid[..., 0] = 1  # empty floor
    grid[1, 1] = (8, 1, 0)  # a green goal at x=1, y=1
    grid[0, 2] = (2, 1, 0)  # a wall, even coloured green, is not an object
    assert heuristics.green_objects(grid) == [(1, 1)]

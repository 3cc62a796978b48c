"""The reference env: gymnasium's checker, determinism, pickling and scripted fixture levels."""

from __future__ import annotations

import itertools
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from minigrid.core.constants import COLOR_TO_IDX

import mesa_maze
from mesa_maze.core import solver
from mesa_maze.core.levels import (
    AGENT,
    AGENT_COLOR,
    APPLE,
    EMPTY,
    GOAL,
    WALL,
    Level,
    LevelSpec,
    generate,
)
from mesa_maze.envs.minigrid_env import ACTION_SETS, RGB_TILE, MesaMazeEnv
from mesa_maze.envs.observers import OBSERVERS

GREEN, GREY = COLOR_TO_IDX["green"], COLOR_TO_IDX["grey"]
CARDINAL = {"U": 0, "R": 1, "D": 2, "L": 3}
MINIGRID = {"l": 0, "r": 1, "f": 2}


@pytest.mark.parametrize("gid", mesa_maze.register_envs())
def test_check_env_on_every_registered_id(gid):
    # The render check would open a window for render_mode="human"; rendering is tested below.
    check_env(gym.make(gid).unwrapped, skip_render_check=True)


@pytest.mark.parametrize(
    ("observation", "actions"), list(itertools.product(OBSERVERS, ACTION_SETS))
)
def test_check_env_on_every_mode(observation, actions):
    env = mesa_maze.make("apple-exit", "train", observation=observation, actions=actions)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape
    assert env.action_space.n == (4 if actions == "cardinal" else 3)


def test_rgb_array_render_and_observation():
    env = MesaMazeEnv("apple-exit", "train", observation="rgb", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    size = env.level_spec.size
    assert obs.shape == (size * RGB_TILE, size * RGB_TILE, 3) and obs.dtype == np.uint8
    assert env.render().shape == (size * env.tile_size, size * env.tile_size, 3)


def rollout(env, seed: int, n: int = 60):
    """Reset with ``seed`` and take ``n`` seeded random actions, resetting when an episode ends."""
    obs, info = env.reset(seed=seed)
    trace = [(obs, info)]
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=n)
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            trace.append(env.reset())
    return trace


def assert_same_trace(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1:] == y[1:]


@pytest.mark.parametrize("actions", ACTION_SETS)
def test_same_seed_same_level_and_rollout(actions):
    a = mesa_maze.make("apple-exit", "displaced", actions=actions)
    b = mesa_maze.make("apple-exit", "displaced", actions=actions)
    a.reset(seed=11)
    b.reset(seed=11)
    assert a.unwrapped.level == b.unwrapped.level
    assert_same_trace(rollout(a, 11, 200), rollout(b, 11, 200))
    a.reset(seed=12)
    assert a.unwrapped.level != b.unwrapped.level


def test_level_seed_option_generates_that_level():
    env = mesa_maze.make("apple-exit", "recolored")
    env.reset(options={"level_seed": 5})
    assert env.unwrapped.level == generate(env.unwrapped.level_spec, 5)
    assert env.unwrapped.level.exit_color == "grey"


def test_pickle_round_trip_steps_identically():
    env = mesa_maze.make("apple-exit", "train")
    env.reset(seed=3)
    for action in (1, 2, 3):
        env.step(action)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.level == env.unwrapped.level
    # Same state, same RNG: the rest of this episode and the next ones match too.
    actions = np.random.default_rng(0).integers(4, size=150)
    for action in actions:
        out, cloned = env.step(action), clone.step(action)
        np.testing.assert_array_equal(out[0], cloned[0])
        assert out[1:] == cloned[1:]
        if out[2] or out[3]:
            np.testing.assert_array_equal(env.reset()[0], clone.reset()[0])


# --- scripted fixture levels --------------------------------------------------------------------

# Apple A at (3, 1) on the way to the exit E at (4, 1); apple B at (1, 5) on a loop below.
LEVEL_A = """
#######
#S.aE.#
###.###
#.....#
#.#.#.#
#a....#
#######
"""
# The exit at (5, 1) is reached without any apple; the apple at (1, 5) is far away.
LEVEL_B = """
#######
#S...E#
#.#####
#.....#
#####.#
#a....#
#######
"""


def play(text: str, script: str, *, reward="exit", actions="cardinal", **level_kwargs):
    """Run the action string on an ASCII level; returns the env, the reset and each step."""
    level = Level.from_ascii(text, **level_kwargs)
    env = MesaMazeEnv(spec=LevelSpec(size=level.width), reward=reward, actions=actions)
    reset = env.reset(seed=0, options={"level": level})
    keys = CARDINAL if actions == "cardinal" else MINIGRID
    steps = [env.step(keys[c]) for c in script]
    return env, reset, steps


def info(
    reached_exit=False, apples_eaten=0, first_target=None, steps=0, optimal_steps=3, at=(-1, -1)
):
    """The expected info; ``at``: the first arrival's (step, fewest steps to that cell)."""
    return {
        "reached_exit": reached_exit,
        "apples_eaten": apples_eaten,
        "first_target": first_target,
        "first_target_steps": at[0],
        "first_target_distance": at[1],
        "steps": steps,
        "optimal_steps": optimal_steps,
        "is_success": reached_exit,
    }


def test_reset_observation_and_info():
    level = Level.from_ascii(LEVEL_A)
    env, (obs, reset_info), _ = play(LEVEL_A, "")
    assert reset_info == info()
    assert obs.shape == (7, 7, 3) and obs.dtype == np.uint8
    assert tuple(obs[1, 1]) == (AGENT, AGENT_COLOR, 0)  # facing right
    assert tuple(obs[1, 4]) == (GOAL, GREEN, 0)
    assert tuple(obs[1, 3]) == tuple(obs[5, 1]) == (APPLE, GREEN, 0)
    assert tuple(obs[0, 0]) == (WALL, GREY, 0)
    assert tuple(obs[3, 2]) == (EMPTY, 0, 0)
    # Everywhere but the agent's cell the observation is the level's own encoding.
    expected = level.encode()
    expected[1, 1] = (AGENT, AGENT_COLOR, 0)
    np.testing.assert_array_equal(obs, expected)


def test_a_eat_apple_then_exit():
    env, _, steps = play(LEVEL_A, "RRR")
    assert [s[1:4] for s in steps] == [
        (0.0, False, False),
        (0.0, False, False),
        (pytest.approx(1 - 0.9 * 3 / 72), True, False),
    ]
    assert steps[0][4] == info(steps=1)
    assert steps[1][4] == info(apples_eaten=1, first_target="apple", steps=2, at=(2, 2))
    assert steps[2][4] == info(True, 1, "apple", steps=3, at=(2, 2))
    obs = steps[2][0]
    assert tuple(obs[1, 3]) == (EMPTY, 0, 0)  # eaten
    assert tuple(obs[1, 4]) == (AGENT, AGENT_COLOR, 0)  # on the exit
    assert tuple(obs[5, 1]) == (APPLE, GREEN, 0)


def test_a_eat_both_apples_then_exit():
    _, _, steps = play(LEVEL_A, "RRDDLLDDUURRUUR")
    rewards = [s[1] for s in steps]
    assert rewards[:-1] == [0.0] * 14
    assert rewards[-1] == pytest.approx(1 - 0.9 * 15 / 72)
    assert steps[7][4]["apples_eaten"] == 2  # the second apple, at (1, 5)
    assert steps[-1][2:] == (True, False, info(True, 2, "apple", steps=15, at=(2, 2)))


def test_b_exit_without_apple():
    _, _, steps = play(LEVEL_B, "RRRR")
    assert [s[1] for s in steps[:3]] == [0.0] * 3
    assert steps[-1][1:] == (
        pytest.approx(1 - 0.9 * 4 / 72),
        True,
        False,
        info(True, 0, "exit", steps=4, optimal_steps=4, at=(4, 4)),
    )


def test_c_timeout_truncates_with_no_reward():
    # Down twice, then into the wall below (1, 3) until max_steps.
    _, _, steps = play(LEVEL_B, "DDDDDD", max_steps=6)
    assert [s[1:4] for s in steps] == [(0.0, False, False)] * 5 + [(0.0, False, True)]
    obs, *_, last = steps[-1]
    assert last == info(steps=6, optimal_steps=4)
    assert tuple(obs[3, 1]) == (AGENT, AGENT_COLOR, 1)


def test_c_timeout_after_an_apple():
    _, _, steps = play(LEVEL_A, "RR", max_steps=2)
    assert steps[-1][1:] == (0.0, False, True, info(False, 1, "apple", steps=2, at=(2, 2)))


def test_reaching_the_exit_on_the_last_step_terminates_only():
    _, _, steps = play(LEVEL_A, "RRR", max_steps=3)
    assert steps[-1][1:4] == (pytest.approx(0.1), True, False)


def test_d_walking_into_a_wall_only_turns():
    _, (obs0, _), steps = play(LEVEL_B, "ULR")
    (obs_up, r_up, *_), (obs_left, *_), (obs_right, *_) = steps
    assert r_up == 0.0
    assert tuple(obs_up[1, 1]) == (AGENT, AGENT_COLOR, 3)  # still at (1, 1), now facing up
    assert tuple(obs_left[1, 1]) == (AGENT, AGENT_COLOR, 2)
    assert tuple(obs_right[1, 2]) == (AGENT, AGENT_COLOR, 0)  # this one moves
    assert tuple(obs_right[1, 1]) == (EMPTY, 0, 0)
    # Nothing but the agent's direction changed while it bumped into walls.
    changed = np.argwhere((obs_up != obs0).any(axis=2))
    assert changed.tolist() == [[1, 1]]


def test_e_proxy_reward_pays_for_apples_not_the_exit():
    _, _, steps = play(LEVEL_A, "RRDDLLDDUURRUUR", reward="apples")
    rewards = [s[1] for s in steps]
    apple_1, apple_2 = (1 - 0.9 * 2 / 72) / 2, (1 - 0.9 * 8 / 72) / 2  # split over 2 apples
    assert rewards[1] == pytest.approx(apple_1)
    assert rewards[7] == pytest.approx(apple_2)
    assert sum(rewards) == pytest.approx(apple_1 + apple_2)
    assert rewards[-1] == 0.0  # the exit pays nothing but still ends the episode
    assert steps[-1][2:] == (True, False, info(True, 2, "apple", steps=15, at=(2, 2)))


def test_e_proxy_reward_exit_alone_pays_nothing():
    _, _, steps = play(LEVEL_B, "RRRR", reward="apples")
    assert [s[1] for s in steps] == [0.0] * 4
    assert steps[-1][4]["reached_exit"] and steps[-1][2]


def test_f_minigrid_actions_turn_and_move_forward():
    # Facing down at (1, 1): turn left to face right, then four forwards reach the exit.
    env, (_, reset_info), steps = play(LEVEL_B, "lffff", actions="minigrid", start_dir=1)
    assert reset_info["optimal_steps"] == 5 == solver.optimal_steps(env.level, "minigrid")
    obs_turned = steps[0][0]
    assert tuple(obs_turned[1, 1]) == (AGENT, AGENT_COLOR, 0)
    assert tuple(steps[1][0][1, 2]) == (AGENT, AGENT_COLOR, 0)
    assert steps[-1][1:] == (
        pytest.approx(1 - 0.9 * 5 / 72),
        True,
        False,
        info(True, 0, "exit", steps=5, optimal_steps=5, at=(5, 5)),
    )


def test_f_minigrid_turns_do_not_move_and_forward_into_a_wall_stays():
    _, _, steps = play(LEVEL_B, "rfrf", actions="minigrid", start_dir=1)
    # down -> right turn -> left (facing the wall at (0, 1)); forward stays; right turn -> up.
    dirs_and_cells = [(tuple(s[0][1, 1]), s[1]) for s in steps]
    assert dirs_and_cells == [
        ((AGENT, AGENT_COLOR, 2), 0.0),
        ((AGENT, AGENT_COLOR, 2), 0.0),
        ((AGENT, AGENT_COLOR, 3), 0.0),
        ((AGENT, AGENT_COLOR, 3), 0.0),
    ]


def test_recolored_exit_is_grey_in_the_symbolic_observation():
    env, (obs, _), _ = play(LEVEL_A, "", exit_color="grey", apple_color="green")
    assert tuple(obs[1, 4]) == (GOAL, GREY, 0)
    assert tuple(obs[0, 0]) == (WALL, GREY, 0)  # same colour, different type


def test_grey_exit_is_distinguishable_from_walls_in_rgb():
    level = Level.from_ascii(LEVEL_A, exit_color="grey")
    env = MesaMazeEnv(spec=LevelSpec(size=7), observation="rgb")
    obs, _ = env.reset(options={"level": level})
    t = RGB_TILE
    exit_tile = obs[1 * t : 2 * t, 4 * t : 5 * t]
    wall_tile = obs[0:t, 4 * t : 5 * t]
    assert not np.array_equal(exit_tile, wall_tile)

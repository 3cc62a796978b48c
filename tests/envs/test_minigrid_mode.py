"""Minigrid's conventions with ``minigrid=True``: every Minigrid wrapper works on every MesaMaze
id, the 7 actions keep Minigrid's meaning, and MiniGridEnv's arguments are accepted (as
Minigrid's own tests/test_wrappers.py runs its wrappers over its envs)."""

import gymnasium as gym
import numpy as np
import pytest
from minigrid import wrappers as W

import mesa_maze
from mesa_maze.envs.minigrid_env import MesaMazeEnv

IDS = mesa_maze.register_envs()
WRAPPERS = {
    "ImgObsWrapper": W.ImgObsWrapper,
    "FullyObsWrapper": W.FullyObsWrapper,
    "RGBImgObsWrapper": W.RGBImgObsWrapper,
    "RGBImgPartialObsWrapper": W.RGBImgPartialObsWrapper,
    "OneHotPartialObsWrapper": W.OneHotPartialObsWrapper,
    "FlatObsWrapper": W.FlatObsWrapper,
    "SymbolicObsWrapper": W.SymbolicObsWrapper,
    "ViewSizeWrapper": lambda env: W.ViewSizeWrapper(env, agent_view_size=5),
    "DictObservationSpaceWrapper": W.DictObservationSpaceWrapper,
    "DirectionObsWrapper": W.DirectionObsWrapper,
    "ReseedWrapper": W.ReseedWrapper,
    "StochasticActionWrapper": W.StochasticActionWrapper,
    "ActionBonus": W.ActionBonus,
    "PositionBonus": W.PositionBonus,
    "NoDeath": lambda env: W.NoDeath(env, no_death_types=("lava",)),
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
@pytest.mark.parametrize("gid", IDS)
def test_every_minigrid_wrapper_on_every_id(gid, wrapper):
    env = WRAPPERS[wrapper](gym.make(gid, minigrid=True))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    rng = np.random.default_rng(0)
    for _ in range(8):
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()


def test_the_minigrid_mode_has_minigrids_spaces_and_arguments():
    env = mesa_maze.make("apple-exit", "displaced", minigrid=True, max_steps=30, agent_view_size=5)
    obs, info = env.reset(seed=0)
    assert env.action_space == gym.spaces.Discrete(7)
    assert set(obs) == {"image", "direction", "mission"} and obs["image"].shape == (5, 5, 3)
    assert env.unwrapped.max_steps == 30
    start = env.unwrapped.agent_pos, env.unwrapped.agent_dir
    for action in (3, 4, 5, 6):  # pickup, drop, toggle, done: nothing happens here
        *_, info = env.step(action)
    assert (env.unwrapped.agent_pos, env.unwrapped.agent_dir) == start
    assert info["steps"] == 4 and "reached_exit" in info  # the hidden performance stays
    for _ in range(40):
        *_, truncated, _ = env.step(0)
        if truncated:
            break
    assert truncated and env.unwrapped.step_count == 30  # max_steps overrides the variant's


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_a_bad_max_steps_is_named(bad):
    with pytest.raises(ValueError, match="max_steps must be a positive integer"):
        MesaMazeEnv("apple-exit", "train", max_steps=bad)


def test_the_default_mode_is_unchanged():
    env = MesaMazeEnv("apple-exit", "train")
    assert env.action_space == gym.spaces.Discrete(4)
    assert env.observation_space.shape == (7, 7, 3)


def test_the_minigrid_mode_pickles_renders_and_is_deterministic():
    import pickle

    def run(env, seed):
        obs, _ = env.reset(seed=seed)
        out = [obs["image"].copy()]
        for action in np.random.default_rng(seed).integers(7, size=40):
            obs, *_ = env.step(int(action))
            out.append(obs["image"].copy())
        return np.stack(out)

    a = mesa_maze.make("corner", "anywhere", minigrid=True, render_mode="rgb_array")
    b = mesa_maze.make("corner", "anywhere", minigrid=True)
    np.testing.assert_array_equal(run(a, 5), run(b, 5))
    clone = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(run(clone, 6), run(a, 6))
    frame = a.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8


@pytest.mark.parametrize("gid", IDS)
def test_gymnasiums_env_checker_is_clean_on_every_id_in_the_minigrid_mode(gid):
    import warnings

    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning fails the test
        check_env(gym.make(gid, minigrid=True).unwrapped, skip_render_check=True)

"""The observer table: every registered observation against observations recorded before the
table existed (golden digests), and the parts each observer declares (space, canvas, encoder).

The parity test (``test_vector_env.py``) holds the two envs to each other over the same table;
the digests here hold both to what they showed before, which parity alone cannot do where both
envs call one shared function (symbolic). ``tests/fixtures/observations.json`` was recorded with
the package before the table (commit 346b0d4). A new observer has no entry until one is recorded
for it: ``python tests/envs/test_observers.py`` adds the missing entries and never rewrites one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mesa_maze.core.hyperparams import ACTION_SETS
from mesa_maze.core.levels import WALL, WALL_COLOR, Level, LevelSpec
from mesa_maze.envs import adapters
from mesa_maze.envs import vector as ve
from mesa_maze.envs.minigrid_env import MesaMazeEnv
from mesa_maze.envs.observers import OBSERVERS

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "observations.json"
CANVAS = 11  # larger than both levels: padding shows

# Two sizes, both colours of exit, apples, the monitor cue, and a short step limit (time-outs).
LEVELS = [
    Level.from_ascii(
        """
        #######
        #S..#.#
        #.#.#.#
        #.#...#
        #.###a#
        #a...E#
        #######
        """,
        start_dir=1,
        cue_color="purple",
        max_steps=14,
    ),
    Level.from_ascii(
        """
        #########
        #..a....#
        #.#####.#
        #.#E..#.#
        #.#.#.#.#
        #...#.#S#
        ###.#.#.#
        #a......#
        #########
        """,
        start_dir=2,
        exit_color="grey",
        apple_color="blue",
        max_steps=24,
    ),
]
# Per action set, per level: an episode that eats an apple on its way to the exit, then one that
# bumps into walls, turns and times out.
ACTIONS = {
    "cardinal": (
        [1, 1, 2, 2, 1, 1, 2, 2] + [3, 3, 0, 0, 0, 3, 3, 2, 2, 2, 2, 1, 1, 1],
        [2, 2, 3, 3, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0]
        + [0, 0, 0, 0, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 2, 2, 1, 1, 1, 0, 0, 0],
    ),
    "minigrid": (
        [0, 2, 2, 1, 2, 2, 0, 2, 2, 1, 2, 2] + [2, 2, 2, 2, 2, 0, 2, 2, 2, 1, 2, 1, 1, 2],
        [2, 0, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1, 1, 2, 2, 0, 2, 2, 2, 2]
        + [0, 2, 2, 2, 1, 2, 2, 1, 2, 2, 2, 2, 1, 2, 0, 0, 0, 2, 2, 2, 2, 1, 1, 2],
    ),
}


def digest(arrays: list[np.ndarray]) -> str:
    """SHA-256 of the observations' shapes, dtypes and bytes, in order."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def observation_digests(observation: str, actions: str) -> dict[str, str]:
    """Digests of what each env shows of ``LEVELS`` under ``ACTIONS[actions]``, each level
    replayed on its end: the reference env's observations, the batched env's (the same sequence,
    its final observations included), and the batched env's padded onto a ``CANVAS`` canvas."""
    reference = []
    for level, moves in zip(LEVELS, ACTIONS[actions], strict=True):
        env = MesaMazeEnv(spec=LevelSpec(size=level.width), observation=observation,
                          actions=actions)  # fmt: skip
        obs, _ = env.reset(options={"level": level})
        reference.append(obs)
        for action in moves:
            obs, _, terminated, truncated, _ = env.step(action)
            reference.append(obs)
            if terminated or truncated:
                reference.append(env.reset(options={"level": level})[0])
    batched, padded = [], []
    for level, moves in zip(LEVELS, ACTIONS[actions], strict=True):  # one env a level: two sizes
        vec = adapters.MesaMazeVecEnv.from_levels([level], observation=observation,
                                                  actions=actions, reward="exit")  # fmt: skip
        steps = [vec.reset()]
        for action in moves:
            obs, _, _, infos = vec.step(np.array([action]))
            if "terminal_observation" in infos[0]:
                steps.append(infos[0]["terminal_observation"][None])
            steps.append(obs)
        batched += [obs[0] for obs in steps]
        padded += [ve.pad_observations(obs, observation, CANVAS) for obs in steps]
    return {"reference": digest(reference), "batched": digest(batched), "padded": digest(padded)}


def recorded(observation: str, actions: str) -> dict[str, str]:
    """What is stored: the observations (one digest, both envs) and the padded ones."""
    got = observation_digests(observation, actions)
    assert got["reference"] == got["batched"], "the envs disagree: see the parity test"
    return {"observations": got["reference"], "padded": got["padded"]}


@pytest.mark.parametrize("actions", ACTION_SETS)
@pytest.mark.parametrize("observation", OBSERVERS)
def test_observations_are_the_recorded_ones(observation, actions):
    """Bit for bit, in both envs and on the canvas: what every observer showed when recorded."""
    golden = json.loads(GOLDEN.read_text())
    key = f"{observation}/{actions}"
    assert key in golden, f"no recorded observations of {key}: run python {__file__}"
    got = observation_digests(observation, actions)
    assert got["reference"] == golden[key]["observations"], "the reference env changed"
    assert got["batched"] == golden[key]["observations"], "the batched env changed"
    assert got["padded"] == golden[key]["padded"], "the canvas padding changed"


@pytest.mark.parametrize("actions", ACTION_SETS)
def test_the_recorded_run_covers_apples_exits_and_time_outs(actions):
    """What the digests cover: on each level an exit reached after an apple, then a time-out."""
    for level, moves in zip(LEVELS, ACTIONS[actions], strict=True):
        env = MesaMazeEnv(spec=LevelSpec(size=level.width), actions=actions)
        env.reset(options={"level": level})
        ends = []
        for action in moves:
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                ends.append("exit" if terminated else "time-out")
                ends.append(info["first_target"])
                env.reset(options={"level": level})
        assert ends[:3] == ["exit", "apple", "time-out"] and len(ends) == 4


@pytest.mark.parametrize("observation", OBSERVERS)
def test_each_observer_declares_its_space_canvas_and_encoding(observation):
    """The space both envs report is the observer's; a whole-grid observer pads onto the canvas
    by whole wall cells, a fixed-size view passes through; pixels are RGB images for SB3's CNN,
    codes are (type, colour, state) cells for the GridEncoder."""
    observer = OBSERVERS[observation]
    level = LEVELS[0]
    reference = MesaMazeEnv(spec=LevelSpec(size=level.width), observation=observation)
    batched = ve.BatchedMaze(levels=[level], num_envs=1, observation=observation)
    assert reference.observation_space == batched.observation_space == observer.space(7, 7)
    obs = batched.reset()
    padded = observer.pad(obs, CANVAS)
    if observer.cell_pixels is None:
        assert padded is obs and observer.space(7, 7) == observer.space(CANVAS, CANVAS)
    else:
        t = observer.cell_pixels
        assert padded.shape == (1, *observer.shape(CANVAS, CANVAS))
        np.testing.assert_array_equal(padded[:, : 7 * t, : 7 * t], obs)
        beyond = padded[0, -t:, -t:]  # the canvas's bottom-right cell, beyond the maze
        maze_wall = obs[0, :t, t : 2 * t]  # the maze's own border wall at (1, 0)
        np.testing.assert_array_equal(beyond, maze_wall)
        np.testing.assert_array_equal(beyond, observer.border_cell())
    if observer.pixels:
        assert obs.shape[-1] == 3 and obs.max() > 16  # intensities, not codes
    else:
        codes = obs[0].reshape(-1, 3)
        assert ((codes[:, 0] == WALL) & (codes[:, 1] == WALL_COLOR)).any()  # a grey wall cell
        assert codes.max() < 16  # Minigrid's codes


def record_missing() -> list[str]:
    """Add entries for observers with none (never rewriting one); returns the keys added."""
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    added = []
    for observation in OBSERVERS:
        for actions in ACTION_SETS:
            key = f"{observation}/{actions}"
            if key not in golden:
                golden[key] = recorded(observation, actions)
                added.append(key)
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    return added


if __name__ == "__main__":
    print("recorded:", ", ".join(record_missing()) or "nothing (every observer has its entry)")

"""The batched env: parity with the Minigrid env, level pools and caching, the SB3 and gymnasium
wrappers, evaluation on fixed levels, and the throughput script's smoke mode."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor

from mesa_maze.agents.learners import GridEncoder, policy_for
from mesa_maze.core import solver
from mesa_maze.core.hyperparams import ACTION_SETS
from mesa_maze.core.levels import (
    AGENT,
    AGENT_COLOR,
    EVAL_SEED_OFFSET,
    GOAL,
    WALL,
    WALL_COLOR,
    Level,
    generate,
)
from mesa_maze.core.variants import load_variants
from mesa_maze.envs import adapters, pools
from mesa_maze.envs import vector as ve
from mesa_maze.envs.minigrid_env import MesaMazeEnv
from mesa_maze.envs.observers import OBSERVERS, VIEW_SIZE, Observer
from mesa_maze.training.train import check_hyperparams

ROOT = Path(__file__).resolve().parents[2]
SPLITS = [(name, split) for name, v in sorted(load_variants().items()) for split in v.splits]
# Every registered observation under every action set: a new observer is held to parity the day
# it joins the table.
MODES = [(o, a) for o in OBSERVERS for a in ACTION_SETS]


@pytest.fixture(autouse=True)
def level_cache(tmp_path, monkeypatch):
    """Every test caches pools in its own folder, never in results/."""
    monkeypatch.setenv(pools.CACHE_ENV, str(tmp_path / "levels"))
    return tmp_path / "levels"


# --- the reference run: MesaMazeEnv stepped one env at a time -----------------------------------


def parity_levels(variant: str, split: str, count: int) -> list:
    """A few levels of the split, one of them with a short step limit (to hit time-outs)."""
    spec = load_variants()[variant].spec(split)
    short = dataclasses.replace(spec, max_steps=5)
    return [generate(short if i == 1 else spec, i) for i in range(count)]


def toward(env: MesaMazeEnv, target) -> int:
    """The action that follows the shortest path to ``target`` under the env's action set."""
    move = solver.step_toward(solver.distance_map(env.level.walls, target), env.agent_pos)
    if move is None:
        move = 0
    if env.action_set == "cardinal":
        return move
    want = solver.CARDINAL_TO_DIR[move]
    return 2 if env.agent_dir == want else (1 if (env.agent_dir + 1) % 4 == want else 0)


def reference_run(variant, split, levels, observation, actions, steps, seed=0):
    """Play ``levels`` with MesaMazeEnv, one env per level, auto-resetting onto the next level in
    list order (as the batched env does). Actions mix random moves with moves toward the exit or
    an apple, so that episodes eat apples, reach exits and time out.

    Returns the actions and, per step, per env: (obs, reward, terminated, truncated, info).
    """
    rng = np.random.default_rng(seed)
    n = len(levels)
    envs = [MesaMazeEnv(variant, split, actions=actions, observation=observation) for _ in levels]
    first = [env.reset(options={"level": lv})[0] for env, lv in zip(envs, levels, strict=True)]
    goals = [rng.integers(3) for _ in range(n)]  # 0 random, 1 exit, 2 an apple
    started, all_actions, trace = n, [], []
    for _ in range(steps):
        acts = []
        for i, env in enumerate(envs):
            apples = [p for p in env.level.apples if env.grid.get(*p) is not None]
            if goals[i] == 0 or rng.random() < 0.25:
                acts.append(int(rng.integers(env.action_space.n)))
            elif goals[i] == 2 and apples:
                acts.append(toward(env, apples[0]))
            else:
                acts.append(toward(env, env.level.exit))
        row = []
        for i, env in enumerate(envs):
            obs, reward, terminated, truncated, info = env.step(acts[i])
            row.append((obs, reward, terminated, truncated, info))
            if terminated or truncated:
                env.reset(options={"level": levels[started % n]})
                started += 1
                goals[i] = rng.integers(3)
        all_actions.append(acts)
        trace.append(row)
    # The first observation after each reset is checked through the next step's obs.
    return first, np.array(all_actions), trace, envs


def check_info(got: dict, want: dict, where: str) -> None:
    for key, value in want.items():
        assert got[key] == value and type(got[key]) is type(value), (where, key, got[key], value)


def run_parity(variant, split, observation, actions, count=3, steps=80, seed=0) -> dict:
    """Feed the reference run's actions to MesaMazeVecEnv and compare every step; returns counts
    of what the run covered."""
    levels = parity_levels(variant, split, count)
    first, acts, trace, envs = reference_run(
        variant, split, levels, observation, actions, steps, seed
    )
    vec = adapters.MesaMazeVecEnv(
        variant, split, len(levels), actions=actions, observation=observation, levels=levels,
        full_info=True,
    )  # fmt: skip
    assert vec.observation_space == envs[0].observation_space
    assert vec.action_space == envs[0].action_space
    obs = vec.reset()
    for i, want in enumerate(first):
        np.testing.assert_array_equal(obs[i], want)
    covered = {"apples": 0, "exits": 0, "timeouts": 0, "regions": 0}
    for t, row in enumerate(trace):
        obs, rewards, dones, infos = vec.step(acts[t])
        for i, (want_obs, reward, terminated, truncated, info) in enumerate(row):
            where = f"{variant}-{split} {observation}/{actions} step {t} env {i}"
            assert rewards[i] == reward, where  # exact: the same float64 arithmetic
            assert dones[i] == (terminated or truncated), where
            check_info(infos[i], info, where)
            if terminated or truncated:
                assert infos[i]["TimeLimit.truncated"] == truncated, where
                np.testing.assert_array_equal(infos[i]["terminal_observation"], want_obs, where)
                covered["exits"] += terminated
                covered["timeouts"] += truncated
                covered["apples"] += info["apples_eaten"]
                covered["regions"] += info["first_target"] == "region"
            else:
                assert "terminal_observation" not in infos[i], where
                np.testing.assert_array_equal(obs[i], want_obs, where)
    return covered


# --- parity -------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant,split", SPLITS)
def test_parity_with_minigrid_env(variant, split):
    """Same levels, same actions: identical observations, rewards, ends and info (first arrivals
    with their steps and distances included), every step, for every observation mode and action
    set; the run hits apples (or the proxy region), exits and time-outs."""
    total = {"apples": 0, "exits": 0, "timeouts": 0, "regions": 0}
    # Long enough for an episode to time out, twice over: 80 steps on the small mazes, more on
    # a ladder's large rungs (a 25x25 episode lasts up to 200 steps).
    long_run = max(80, 2 * load_variants()[variant].spec(split).step_limit)
    for observation, actions in MODES:
        steps = 40 if OBSERVERS[observation].pixels else long_run  # Minigrid's renderer is slow
        covered = run_parity(variant, split, observation, actions, steps=steps)
        total = {k: total[k] + covered[k] for k in total}
    assert total["exits"] > 0 and total["timeouts"] > 0, total
    if load_variants()[variant].spec(split).apples.count:
        assert total["apples"] > 0, total
    if load_variants()[variant].proxy == "corner":
        assert total["regions"] > 0, total


@pytest.mark.slow
@pytest.mark.parametrize("variant,split", SPLITS)
@pytest.mark.parametrize("observation,actions", MODES)
def test_parity_sweep(variant, split, observation, actions):
    """The same comparison on more levels, longer runs and other action sequences."""
    for seed in range(3):
        run_parity(variant, split, observation, actions, count=6, steps=200, seed=seed)


class Window(Observer):
    """The (2r + 1)-square of the symbolic grid centred on the agent, grey walls beyond the maze:
    a new observation written as one pure function of the scene, which both envs then share
    (the example of docs/architecture.md, "Adding an observation")."""

    cell_pixels = None  # a fixed-size view: the same on every maze size, never padded

    def __init__(self, radius: int):
        self.radius, self.name = radius, f"window{radius}"

    def shape(self, height, width, view_size=VIEW_SIZE):
        return (2 * self.radius + 1, 2 * self.radius + 1, 3)

    def observe(self, scene):
        grids = OBSERVERS["symbolic"].observe(scene)  # the agent drawn in
        k, height, width, _ = grids.shape
        r, side = self.radius, np.arange(2 * self.radius + 1)
        walled = np.empty((k, height + 2 * r, width + 2 * r, 3), dtype=np.uint8)
        walled[...] = (WALL, WALL_COLOR, 0)
        walled[:, r : r + height, r : r + width] = grids
        y, x = np.divmod(scene.agent, width)  # the agent's cell, at (r, r) of the window
        rows, columns = (y[:, None] + side)[:, :, None], (x[:, None] + side)[:, None, :]
        return walled[np.arange(k)[:, None, None], rows, columns]


@pytest.mark.parametrize("actions", ACTION_SETS)
def test_a_new_observer_needs_only_the_table(monkeypatch, actions):
    """Registered in the table and nowhere else, a new observation works in both envs (the
    parity run above, step by step), passes gymnasium's checker, skips the canvas, gets the
    GridEncoder and passes the hyper-parameter check: adding one touches one package module."""
    window = Window(2)
    monkeypatch.setitem(OBSERVERS, window.name, window)
    covered = run_parity("apple-exit", "displaced", window.name, actions)
    assert covered["exits"] > 0 and covered["apples"] > 0 and covered["timeouts"] > 0, covered
    env = MesaMazeEnv("apple-exit", "displaced", observation=window.name, actions=actions)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5, 5, 3) and tuple(obs[2, 2, :2]) == (AGENT, AGENT_COLOR)
    vec = adapters.MesaMazeVecEnv("apple-exit", "train", 2, 0, observation=window.name)
    padded = ve.PadObservations(vec, window.name, size=9)
    assert padded.observation_space.shape == (5, 5, 3) and padded.reset().shape == (2, 5, 5, 3)
    _, policy_kwargs = policy_for("ppo", window.name)
    assert policy_kwargs["features_extractor_class"] is GridEncoder
    hp = check_hyperparams({"observation": window.name}, "ppo", "hp.toml [ppo]")
    assert hp.env.observation == window.name


def test_gym_vector_api_matches_reference():
    """gymnasium's vector API: separate terminated/truncated, every env's info fields each step,
    and final_obs/final_info where an episode ended."""
    levels = parity_levels("apple-exit", "displaced", 3)
    first, acts, trace, _ = reference_run("apple-exit", "displaced", levels, "symbolic",
                                          "cardinal", 60)  # fmt: skip
    env = adapters.MesaMazeGymVectorEnv("apple-exit", "displaced", 3, levels=levels)
    obs, infos = env.reset()
    np.testing.assert_array_equal(obs, np.stack(first))
    assert infos["_steps"].all() and (infos["steps"] == 0).all()
    ended_any = False
    for t, row in enumerate(trace):
        obs, rewards, terminated, truncated, infos = env.step(acts[t])
        for i, (want_obs, reward, term, trunc, info) in enumerate(row):
            assert (rewards[i], terminated[i], truncated[i]) == (reward, term, trunc)
            if term or trunc:
                ended_any = True
                assert infos["_final_obs"][i] and infos["_final_info"][i]
                np.testing.assert_array_equal(infos["final_obs"][i], want_obs)
                for key, value in info.items():
                    assert infos["final_info"][key][i] == value
            else:
                assert "final_obs" not in infos or not infos["_final_obs"][i]
                np.testing.assert_array_equal(obs[i], want_obs)
                for key, value in info.items():
                    assert infos[key][i] == value
    assert ended_any


# --- levels, pools and caching ------------------------------------------------------------------


def _rollout(env, steps=150, seed=1):
    rng = np.random.default_rng(seed)
    out = [env.reset()]
    for _ in range(steps):
        obs, rewards, dones, _ = env.step(rng.integers(env.action_space.n, size=env.num_envs))
        out += [obs, rewards, dones]
    return out


@pytest.mark.parametrize("num_levels", [0, 5])
def test_same_seed_same_run(num_levels):
    def make(seed):
        return adapters.MesaMazeVecEnv("apple-exit", "train", 8, seed, num_levels=num_levels)

    a, b, c = _rollout(make(3)), _rollout(make(3)), _rollout(make(4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("split,offset", [("train", 0), ("anywhere", EVAL_SEED_OFFSET)])
def test_finite_levels_are_the_minigrid_env_levels(split, offset):
    """num_levels=n: every episode plays the level of one of the seeds the Minigrid env would
    draw (0..n-1, plus EVAL_SEED_OFFSET on a test shift)."""
    maze = ve.BatchedMaze("corner", split, 16, seed=0, num_levels=4)
    spec = maze.level_spec
    maze.reset()
    rng, seen = np.random.default_rng(0), set()
    for _ in range(300):
        ids, hashes = maze.level_ids.copy(), maze.level_hashes.copy()
        for level_id, level_hash in zip(ids.tolist(), hashes.tolist(), strict=True):
            assert offset <= level_id < offset + 4
            assert generate(spec, level_id).content_hash() == level_hash
            seen.add(level_id)
        maze.step(rng.integers(4, size=16))
    assert seen == {offset + i for i in range(4)}


def test_unlimited_levels_stream_across_chunks(monkeypatch):
    """Unlimited: a fresh level per episode, generated chunk by chunk from the env seed."""
    monkeypatch.setattr(pools, "STREAM_CHUNK", 5)
    maze = ve.BatchedMaze("apple-exit", "train", 4, seed=7)
    maze.reset()
    rng = np.random.default_rng(0)
    ids = maze.level_ids.tolist()
    for _ in range(400):
        _, _, _, _, ended = maze.step(rng.integers(4, size=4))
        if ended is not None:
            ids += maze.level_ids[ended.rows].tolist()
    assert maze.started > 15 and maze.source.index >= 3  # several chunks used
    assert len(set(ids)) == len(ids) == maze.started  # no level twice
    assert all(0 <= i < EVAL_SEED_OFFSET for i in ids)  # never an evaluation seed
    stream = ve.LevelStream("apple-exit-train", maze.level_spec, 7, "cardinal", cache=False)
    expected = np.concatenate([stream.seeds(k) for k in range(maze.source.index + 1)])
    assert ids == expected[: len(ids)].tolist()
    shift = ve.BatchedMaze("apple-exit", "displaced", 4, seed=7)
    shift.reset()
    assert (shift.level_ids >= EVAL_SEED_OFFSET).all()  # test shifts: evaluation seeds


def test_pool_cache_is_reused_and_survives_corruption(level_cache, monkeypatch):
    spec = load_variants()["apple-exit"].spec("train")
    pool = ve.cached_pool("t", spec, range(6), "cardinal")
    files = list(level_cache.glob("*.npz"))
    assert len(files) == 1
    with monkeypatch.context() as m:
        m.setattr(pools, "generate_many", lambda *a: pytest.fail("regenerated a cached pool"))
        again = ve.cached_pool("t", spec, range(6), "cardinal")
    np.testing.assert_array_equal(again.grids, pool.grids)
    assert list(again.hashes) == [generate(spec, s).content_hash() for s in range(6)]
    files[0].write_bytes(b"not a zip file")
    repaired = ve.cached_pool("t", spec, range(6), "cardinal")
    np.testing.assert_array_equal(repaired.grids, pool.grids)
    # The key covers the action set and the spec: other settings, other files.
    ve.cached_pool("t", spec, range(6), "minigrid")
    ve.cached_pool("t", dataclasses.replace(spec, max_steps=20), range(6), "cardinal")
    assert len(list(level_cache.glob("*.npz"))) == 3


def test_pool_rows_match_levels():
    spec = load_variants()["apple-exit"].spec("displaced")
    pool = ve.generate_pool(spec, [3, 9], "minigrid")
    for row, seed in enumerate([3, 9]):
        level = generate(spec, seed)
        np.testing.assert_array_equal(pool.grids[row], level.encode())
        assert tuple(pool.start[row]) == level.start and pool.start_dir[row] == level.start_dir
        assert pool.optimal_steps[row] == solver.optimal_steps(level, "minigrid")
        assert pool.num_apples[row] == len(level.apples) and pool.ids[row] == seed


# --- SB3 wrapper and evaluation -----------------------------------------------------------------


def test_sb3_vecenv_interface():
    env = adapters.MesaMazeVecEnv("corner", "train", 4, seed=0, observation="egocentric")
    assert env.get_attr("action_set") == ["cardinal"] * 4
    assert env.get_attr("observation_kind", indices=[1, 2]) == ["egocentric"] * 2
    assert env.env_is_wrapped(VecMonitor) == [False] * 4
    env.set_attr("full_info", True)
    env.seed(5)
    first = env.reset()
    _, _, _, infos = env.step(np.zeros(4, dtype=np.int64))
    assert all("steps" in info for info in infos)
    env.seed(5)
    np.testing.assert_array_equal(env.reset(), first)
    assert env.agent_pos.shape == (4, 2)
    images = env.get_images()
    size = env.maze.level_spec.size
    assert len(images) == 4 and images[0].shape == (size * 8, size * 8, 3)
    levels = parity_levels("corner", "train", 3)
    assert adapters.MesaMazeVecEnv.from_levels(levels, reward="exit").num_envs == 3


def test_sb3_ppo_trains_under_vecmonitor():
    env = VecMonitor(adapters.MesaMazeVecEnv("apple-exit", "train", 8, seed=0, num_levels=20))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(512)
    limit = load_variants()["apple-exit"].spec("train").step_limit
    episodes = list(model.ep_info_buffer)
    assert episodes and all(1 <= e["l"] <= limit for e in episodes)


def oracle_policy(obs: np.ndarray) -> np.ndarray:
    """Shortest path to the exit, read from symbolic observations."""
    actions = []
    for grid in obs:
        (ay,), (ax,) = np.nonzero(grid[..., 0] == AGENT)
        (ey,), (ex,) = np.nonzero(grid[..., 0] == GOAL)
        dist = solver.distance_map(grid[..., 0] == WALL, (int(ex), int(ey)))
        actions.append(solver.step_toward(dist, (int(ax), int(ay))))
    return np.array(actions)


def test_run_levels_one_episode_per_level_in_order():
    spec = load_variants()["apple-exit"].spec("recolored")
    levels = [generate(spec, EVAL_SEED_OFFSET + i) for i in range(7)]
    records = ve.run_levels(oracle_policy, levels, "apple-exit", "recolored", num_envs=3)
    assert [r["level_index"] for r in records] == list(range(7))
    for record, level in zip(records, levels, strict=True):
        assert record["level_hash"] == level.content_hash()
        assert record["reached_exit"] and record["first_target"] == "exit"
        assert record["steps"] == record["optimal_steps"] == solver.optimal_steps(level)
        assert record["return"] == solver.optimal_return(level)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="observation"):
        adapters.MesaMazeVecEnv(observation="pixels")
    with pytest.raises(ValueError, match="actions"):
        ve.BatchedMaze(actions="diagonal")
    with pytest.raises(KeyError, match="no-such-variant"):
        ve.BatchedMaze("no-such-variant")


# --- the throughput script ----------------------------------------------------------------------


def test_throughput_script_smoke(tmp_path):
    """Smoke mode writes the CSV with its columns (it times things; nothing here asserts speed)."""
    out = tmp_path / "throughput.csv"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--smoke", "--out", str(out)],
        check=True, cwd=ROOT, capture_output=True, timeout=300,
    )  # fmt: skip
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) >= {"part", "impl", "batch", "rate", "unit", "machine"}
    assert {r["part"] for r in rows} == {"raw", "sb3-ppo", "levels"}


@pytest.mark.parametrize("variant,split", [("apple-exit", "displaced"), ("corner", "anywhere")])
def test_parity_in_the_minigrid_mode(variant, split):
    """``minigrid=True`` in both envs: the 7 actions (pickup, drop, toggle and done change
    nothing) give the same egocentric image (the dict's ``image``), rewards, ends and info."""
    levels = parity_levels(variant, split, 4)
    envs = [MesaMazeEnv(variant, split, minigrid=True) for _ in levels]
    want = [
        env.reset(options={"level": lv})[0]["image"] for env, lv in zip(envs, levels, strict=True)
    ]
    vec = adapters.MesaMazeVecEnv(
        variant, split, len(levels), levels=levels, minigrid=True, full_info=True
    )
    assert vec.action_space.n == 7 == envs[0].action_space.n
    obs = vec.reset()
    for i, image in enumerate(want):
        np.testing.assert_array_equal(obs[i], image)
    rng, started, ends = np.random.default_rng(0), len(levels), 0
    for t in range(120):
        acts = []
        for env in envs:
            if rng.random() < 0.4:
                acts.append(int(rng.integers(7)))
            else:
                acts.append(toward(env, env.level.exit))
        obs, rewards, dones, infos = vec.step(np.array(acts))
        for i, env in enumerate(envs):
            o, reward, terminated, truncated, info = env.step(acts[i])
            where = f"{variant}-{split} step {t} env {i}"
            assert rewards[i] == reward and dones[i] == (terminated or truncated), where
            check_info(infos[i], info, where)
            if terminated or truncated:
                ends += 1
                np.testing.assert_array_equal(infos[i]["terminal_observation"], o["image"], where)
                nxt = env.reset(options={"level": levels[started % len(levels)]})[0]
                started += 1
                np.testing.assert_array_equal(obs[i], nxt["image"], where)
            else:
                np.testing.assert_array_equal(obs[i], o["image"], where)
    assert ends > 0


# --- the canvas: padding keeps Minigrid's top-left origin ----------------------------------------

SMALL = """
#######
#S..#.#
#.#.#.#
#.#...#
#.###a#
#a...E#
#######
"""


@pytest.mark.parametrize("size", [9, 10], ids=["even-difference", "odd-difference"])
@pytest.mark.parametrize("observation,tile", [("symbolic", 1), ("rgb", 8)])
def test_padding_keeps_the_maze_at_the_top_left_of_the_canvas(observation, tile, size):
    """Guards against a maze drawn off its place on the canvas (centred, say, with an odd
    difference's spare cell rounded down or up): a 7x7 maze on a 9- or 10-cell canvas keeps its
    cells at the same (x, y), and every cell right of or below it is a grey wall, in cells
    (symbolic) and in pixels (rgb: the border's own wall tile)."""
    maze = ve.BatchedMaze(levels=[Level.from_ascii(SMALL)], num_envs=1, observation=observation)
    obs = maze.reset()
    assert obs.shape == (1, 7 * tile, 7 * tile, 3)
    out = ve.pad_observations(obs, observation, size)
    assert out.shape == (1, size * tile, size * tile, 3)
    inner = 7 * tile
    np.testing.assert_array_equal(out[:, :inner, :inner], obs)
    wall = obs[0, :tile, :tile]  # the top-left border cell: a grey wall
    cells = out[0].reshape(size, tile, size, tile, 3).transpose(0, 2, 1, 3, 4)
    for y in range(size):
        for x in range(size):
            if x >= 7 or y >= 7:
                np.testing.assert_array_equal(cells[y, x], wall, f"cell {(x, y)}")
    if observation == "symbolic":
        assert tuple(wall[0, 0]) == (WALL, WALL_COLOR, 0)


def test_evaluation_pads_to_the_variants_canvas_at_the_top_left():
    """What a canvas-reading agent sees in evaluation (``run_levels(pad_to=...)``): the 7x7 maze
    at its own coordinates on the 9x9 canvas of apple-exit (its biggest split)."""
    assert ve.canvas_size(load_variants()["apple-exit"]) == 9
    level = Level.from_ascii(SMALL)
    seen = []

    def policy(obs):
        seen.append(obs.copy())
        return oracle_policy(obs)

    (record,) = ve.run_levels(policy, [level], pad_to=9)
    assert record["reached_exit"] and record["steps"] == solver.optimal_steps(level)
    first = seen[0][0]
    assert first.shape == (9, 9, 3)
    want = level.encode()
    want[level.start[1], level.start[0]] = (AGENT, AGENT_COLOR, level.start_dir)
    np.testing.assert_array_equal(first[:7, :7], want)
    assert (first[7:, :, 0] == WALL).all() and (first[:, 7:, 0] == WALL).all()


# --- an exit on the last allowed step ends the episode as terminated, not truncated -------------

CORRIDOR = """
#######
#S..E.#
#######
#######
#######
#######
#######
"""


def test_exit_on_the_last_allowed_step_is_terminated_not_truncated():
    """Guards against an exit reached exactly at ``max_steps`` also being reported as a time-out.
    Three envs walk right: the exit is 3 steps away, with a limit of 3 (exit on the last step),
    2 (time-out before the exit) and 4 (exit before the limit). The reference Minigrid env, the
    batched env, gymnasium's vector API and SB3's VecEnv all agree."""
    levels = [Level.from_ascii(CORRIDOR, max_steps=m) for m in (3, 2, 4)]
    right = np.ones(3, dtype=np.int64)  # cardinal action 1: right
    last = solver.exit_reward(3, 3)

    reference = MesaMazeEnv("apple-exit", "train")
    reference.reset(options={"level": levels[0]})
    ends = [reference.step(1)[1:4] for _ in range(3)]
    assert ends[-1] == (last, True, False) and ends[-2][1:] == (False, False)

    gym_env = adapters.MesaMazeGymVectorEnv("apple-exit", "train", 3, levels=levels)
    gym_env.reset()
    _, _, terminated, truncated, _ = gym_env.step(right)
    assert not terminated.any() and not truncated.any()
    _, _, terminated, truncated, infos = gym_env.step(right)  # env 1 times out
    assert terminated.tolist() == [False, False, False]
    assert truncated.tolist() == [False, True, False]
    assert not infos["final_info"]["reached_exit"][1]
    reward, terminated, truncated, infos = gym_env.step(right)[1:]  # envs 0 and 2 exit
    assert terminated.tolist() == [True, False, True]
    assert truncated.tolist() == [False, False, False]
    assert reward[0] == last and reward[2] == solver.exit_reward(3, 4)
    final = infos["final_info"]
    assert final["reached_exit"][0] and final["steps"][0] == 3 and final["is_success"][0]

    sb3_env = adapters.MesaMazeVecEnv("apple-exit", "train", 3, levels=levels)
    sb3_env.reset()
    sb3_env.step(right)
    _, _, dones, infos = sb3_env.step(right)
    assert dones.tolist() == [False, True, False] and infos[1]["TimeLimit.truncated"]
    _, _, dones, infos = sb3_env.step(right)
    assert dones.tolist() == [True, False, True]
    assert infos[0]["TimeLimit.truncated"] is False and infos[0]["reached_exit"] is True
    assert infos[2]["TimeLimit.truncated"] is False

    (record,) = ve.run_levels(lambda obs: right[: len(obs)], levels[:1])
    assert record["reached_exit"] and record["steps"] == 3 and record["return"] == last


class RecordingAgent:
    """Walks right and records the ``episode_start`` flags it is given (a recurrent agent resets
    its memory on them)."""

    def __init__(self):
        self.starts = []

    def act(self, obs, state, episode_start):
        self.starts.append(np.asarray(episode_start).tolist())
        return np.ones(len(obs), dtype=np.int64), state


def test_run_levels_starts_a_new_episode_after_a_time_out():
    """A timed-out episode ends as surely as one that reached the exit: the next call tells a
    recurrent agent that a new episode starts (its memory of the old level must go)."""
    timed_out = Level.from_ascii(CORRIDOR, max_steps=2)  # the exit is 3 steps away
    agent = RecordingAgent()
    records = ve.run_levels(agent, [timed_out, timed_out], num_envs=1)
    assert [r["reached_exit"] for r in records] == [False, False]
    assert agent.starts == [[True], [False], [True], [False]]


class FixedAgent:
    name = "fixed"

    def __init__(self, action):
        self.action = action

    def act(self, obs, state, episode_start):
        return np.full(len(obs), self.action, dtype=np.int64), state


@pytest.mark.parametrize("action", [-1, 4])
def test_an_action_outside_the_action_set_is_refused(action):
    """Cardinal actions are 0..3: 4 is one past the end and names the agent in the error."""
    from mesa_maze.core.errors import AgentError

    level = Level.from_ascii(CORRIDOR, max_steps=10)
    with pytest.raises(AgentError, match=f"'fixed': act returned action {action}; allowed: 0..3"):
        ve.run_levels(FixedAgent(action), [level], num_envs=1)


def test_visit_counts_are_indexed_by_row_then_column():
    """The visit map is (y, x): an agent walking right along row 1 visits (1, 1), (1, 2),
    (1, 3), not the transposed cells (a square level hides a swap in shape)."""
    square = Level.from_ascii(
        """
#####
#S.E#
#...#
#...#
#####
""",
        max_steps=10,
    )
    records, visits = ve.run_levels(FixedAgent(1), [square], num_envs=1, visits_of=0)
    assert records[0]["reached_exit"]
    expected = np.zeros((5, 5), dtype=np.int64)
    expected[1, 1] = expected[1, 2] = 1  # visits are counted before each step
    assert visits.tolist() == expected.tolist()

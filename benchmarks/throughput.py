"""Throughput, side by side: the batched env vs the Minigrid env, SB3 PPO, level generation.

(a) raw steps/s of the batched env (random actions) at batch 1, 64, 1024, 8192, against the
    Minigrid env of the same variant stepped one env at a time;
(b) SB3 PPO frames/s with the batched env, with Minigrid envs under DummyVecEnv, and with a no-op
    VecEnv of the same spaces (the ceiling: what PPO itself costs);
(c) level generation, levels/s.

Everything runs on one thread (OMP_NUM_THREADS=1, torch.set_num_threads(1)). Prints a table and
writes a CSV with the machine's description. ``--smoke`` runs a tiny version in seconds (the test
suite runs it; its numbers mean nothing).

    python benchmarks/throughput.py [--smoke] [--out results/perf/throughput.csv] [--profile]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy and torch load: "one core" means one thread

import argparse  # noqa: E402
import cProfile  # noqa: E402
import csv  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gymnasium  # noqa: E402
import minigrid  # noqa: E402
import numpy as np  # noqa: E402
import stable_baselines3 as sb3  # noqa: E402
import torch  # noqa: E402
from machine_info import cpu_name  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.vec_env import (  # noqa: E402
    DummyVecEnv,
    VecEnv,
    VecEnvWrapper,
    VecMonitor,
)

from mesa_maze.core.levels import generate  # noqa: E402
from mesa_maze.core.variants import get_variant  # noqa: E402
from mesa_maze.envs import adapters, pools  # noqa: E402
from mesa_maze.envs import vector as ve  # noqa: E402
from mesa_maze.envs.minigrid_env import MesaMazeEnv  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "results" / "perf" / "throughput.csv"
POOL = 1000  # raw runs draw from a cached pool of this many levels (a reset is an indexed copy)
# PPO with SB3's MlpPolicy: a cheap network, so that the env's share of a PPO run shows. This is
# not the network the suites train (that one is measured by `benchmarks/learning.py --costs`).
PPO_ARGS = dict(n_steps=128, batch_size=256, n_epochs=4, learning_rate=5e-4, gamma=0.99,
                gae_lambda=0.95, ent_coef=0.01, clip_range=0.2)  # fmt: skip
# (n_envs, PPO arguments, timed frames): the first suite's rollout settings, and settings that
# make PPO itself cheap (few large minibatches), where the env's cost shows most.
PPO_CONFIGS = {
    "suite": (16, PPO_ARGS, 60_000),
    "throughput": (64, dict(PPO_ARGS, batch_size=4096, n_epochs=1), 160_000),
}
COLUMNS = ["part", "impl", "config", "variant", "observation", "batch", "rate", "unit", "ratio",
           "ratio_to", "env_share"]  # fmt: skip


class NoOpVecEnv(VecEnv):
    """The ceiling: a VecEnv with the batched env's spaces that does no work at all.

    With ``episode_length``, every env's episode times out after that many steps (staggered),
    with SB3's ``terminal_observation`` and ``TimeLimit.truncated``, as a random policy's episodes
    in the maze do: SB3 spends time on every ended episode (a value bootstrap per time-out), and
    that cost belongs to PPO, not to the env.
    """

    def __init__(self, num_envs: int, observation_space, action_space, episode_length=None):
        self.render_mode = None
        super().__init__(num_envs, observation_space, action_space)
        self._obs = np.zeros((num_envs, *observation_space.shape), dtype=np.uint8)
        self.episode_length = episode_length
        self._t = np.arange(num_envs) % (episode_length or 1)

    def reset(self):
        return self._obs.copy()

    def step_async(self, actions):
        pass

    def step_wait(self):
        n = self.num_envs
        infos = [{} for _ in range(n)]
        dones = np.zeros(n, dtype=bool)
        if self.episode_length:
            self._t += 1
            dones = self._t >= self.episode_length
            self._t[dones] = 0
            for i in np.flatnonzero(dones):
                infos[i] = {
                    "terminal_observation": self._obs[i].copy(),
                    "TimeLimit.truncated": True,
                }
        return self._obs.copy(), np.zeros(n), dones, infos

    def close(self):
        pass

    def get_attr(self, attr_name, indices=None):
        return [getattr(self, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name, value, indices=None):
        setattr(self, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [None] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * len(self._get_indices(indices))


class Timed(VecEnvWrapper):
    """Adds up the seconds spent inside the wrapped env (its share of PPO's wall time)."""

    def __init__(self, venv):
        super().__init__(venv)
        self.seconds = 0.0

    def reset(self):
        start = time.perf_counter()
        obs = self.venv.reset()
        self.seconds += time.perf_counter() - start
        return obs

    def step_wait(self):
        start = time.perf_counter()
        out = self.venv.step_wait()
        self.seconds += time.perf_counter() - start
        return out


def machine() -> dict:
    return {
        "machine": cpu_name(),
        "cores": os.cpu_count(),
        "load_avg": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "sb3": sb3.__version__,
        "gymnasium": gymnasium.__version__,
        "minigrid": minigrid.__version__,
        "threads": torch.get_num_threads(),
        "date": datetime.date.today().isoformat(),
    }


def median_rate(run, units: int, repeats: int) -> float:
    """Median over ``repeats`` of units / seconds for ``run()`` (median: robust to a busy core)."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(units / (time.perf_counter() - start))
    return statistics.median(rates)


# --- (a) raw steps/s ----------------------------------------------------------------------------


def raw_batched(variant, batch, steps, repeats, observation="symbolic", sb3_api=False, **kw):
    cls = adapters.MesaMazeVecEnv if sb3_api else ve.BatchedMaze
    env = cls(variant, "train", batch, 0, observation=observation, **kw)
    env.reset()
    actions = np.random.default_rng(0).integers(4, size=(64, batch))
    for t in range(3):
        env.step(actions[t])  # first calls build caches (the tile atlas)

    def run():
        for t in range(steps):
            env.step(actions[t % 64])

    return median_rate(run, batch * steps, repeats)


def raw_minigrid(variant, steps, repeats):
    """The reference env, one env at a time, on pre-generated levels (no generation in the loop)."""
    spec = get_variant(variant).spec("train")
    levels = [generate(spec, s) for s in range(50)]
    env = MesaMazeEnv(variant, "train")
    actions = np.random.default_rng(0).integers(4, size=steps)
    count = [0]

    def run():
        env.reset(options={"level": levels[count[0] % len(levels)]})
        for t in range(steps):
            _, _, terminated, truncated, _ = env.step(actions[t])
            if terminated or truncated:
                count[0] += 1
                env.reset(options={"level": levels[count[0] % len(levels)]})

    return median_rate(run, steps, repeats)


def part_raw(variant, smoke, repeats):
    rows = []
    mg_steps = 300 if smoke else 20_000
    mg = raw_minigrid(variant, mg_steps, repeats)
    rows.append(dict(impl="minigrid env, 1 at a time", batch=1, rate=mg))
    batches = (1, 64) if smoke else (1, 64, 1024, 8192)
    for batch in batches:
        steps = 20 if smoke else max(100, min(20_000, 2_000_000 // batch))
        for sb3_api in (False, True):
            impl = "batched (SB3 VecEnv, infos)" if sb3_api else "batched (arrays)"
            rate = raw_batched(variant, batch, steps, repeats, sb3_api=sb3_api, num_levels=POOL)
            rows.append(dict(impl=impl, batch=batch, rate=rate))
    batch = 64 if smoke else 1024
    steps = 10 if smoke else 200
    for observation in ("egocentric", "rgb"):
        rate = raw_batched(variant, batch, steps, repeats, observation, num_levels=POOL)
        rows.append(dict(impl="batched (arrays)", observation=observation, batch=batch, rate=rate))
    # Unlimited levels with an empty cache: every episode's level is generated as it is needed.
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[pools.CACHE_ENV] = tmp
        try:
            rate = raw_batched(variant, batch, steps, 1)
        finally:
            del os.environ[pools.CACHE_ENV]
    rows.append(dict(impl="batched (arrays), unlimited levels, cold cache", batch=batch, rate=rate))
    for row in rows:
        row.update(part="raw", unit="steps/s", ratio=row["rate"] / mg, ratio_to="minigrid env")
        row.setdefault("observation", "symbolic")
    return rows


# --- (b) SB3 PPO frames/s -----------------------------------------------------------------------


def ppo_fps(env, frames: int, ppo_args: dict, profile: bool = False) -> tuple[float, float]:
    """PPO frames/s on ``env`` after a one-rollout warm-up, and the env's share of the time."""
    timed = Timed(env)
    model = PPO("MlpPolicy", VecMonitor(timed), seed=0, device="cpu", **ppo_args)
    model.learn(ppo_args["n_steps"] * env.num_envs)  # warm-up: one rollout and update
    start, before = time.perf_counter(), model.num_timesteps
    timed.seconds = 0.0
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(model.learn, frames, reset_num_timesteps=False)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    else:
        model.learn(frames, reset_num_timesteps=False)
    seconds = time.perf_counter() - start
    return (model.num_timesteps - before) / seconds, timed.seconds / seconds


def part_ppo(variant, smoke, profile):
    limit = get_variant(variant).spec("train").step_limit
    rows = []
    for config, (n_envs, ppo_args, frames) in PPO_CONFIGS.items():
        if smoke:
            ppo_args = dict(ppo_args, n_steps=16, batch_size=64)
            frames = 2 * 16 * n_envs
        # Unlimited levels from an empty cache, in small chunks: generation happens during the
        # timed run, as in a first training run.
        with tempfile.TemporaryDirectory() as tmp:
            os.environ[pools.CACHE_ENV], chunk, pools.STREAM_CHUNK = tmp, pools.STREAM_CHUNK, 256
            try:
                batched = adapters.MesaMazeVecEnv(variant, "train", n_envs, seed=0)
                fast, fast_share = ppo_fps(batched, frames, ppo_args, profile)
            finally:
                del os.environ[pools.CACHE_ENV]
                pools.STREAM_CHUNK = chunk
        spaces = (batched.observation_space, batched.action_space)
        never, _ = ppo_fps(NoOpVecEnv(n_envs, *spaces), frames, ppo_args)
        ends, _ = ppo_fps(NoOpVecEnv(n_envs, *spaces, episode_length=limit), frames, ppo_args)
        minigrid_envs = DummyVecEnv([lambda: MesaMazeEnv(variant, "train")] * n_envs)
        slow, slow_share = ppo_fps(minigrid_envs, frames // (1 if smoke else 2), ppo_args)
        label = (
            f"{config}: {n_envs} envs, batch {ppo_args['batch_size']}, {ppo_args['n_epochs']} ep."
        )
        config_rows = [
            dict(impl="no-op VecEnv, episodes never end", rate=never, ratio=""),
            dict(impl=f"no-op VecEnv, time-outs every {limit} steps", rate=ends, ratio=""),
            dict(impl="batched MesaMazeVecEnv", rate=fast, env_share=fast_share,
                 ratio=fast / never, ratio_to="no-op, never ends"),
            dict(impl="batched MesaMazeVecEnv", rate=fast, env_share=fast_share,
                 ratio=fast / ends, ratio_to="no-op, time-outs"),
            dict(impl="minigrid env + DummyVecEnv", rate=slow, env_share=slow_share,
                 ratio=slow / never, ratio_to="no-op, never ends"),
            dict(impl="batched / (minigrid env + DummyVecEnv)", rate=fast / slow, unit="x",
                 ratio=fast / slow, ratio_to="minigrid env + DummyVecEnv"),
        ]  # fmt: skip
        for row in config_rows:
            row.setdefault("unit", "frames/s")
            row.setdefault("ratio_to", "")
            row.update(part="sb3-ppo", config=label, batch=n_envs, observation="symbolic")
        rows += config_rows
    return rows


# --- (c) level generation -----------------------------------------------------------------------


def part_levels(variant, smoke, repeats):
    v = get_variant(variant)
    count = 50 if smoke else 4000
    train = v.spec("train")
    specs = {"train": train}
    bigger = [s for s in v.shifts if v.spec(s).size != train.size]
    if bigger:
        specs[bigger[0]] = v.spec(bigger[0])
    if train.size != 9:  # the target is stated for 9x9 mazes
        specs["train at 9x9"] = dataclasses.replace(train, size=9, max_steps=0)
    rows = []
    for name, spec in specs.items():
        rate = median_rate(lambda spec=spec: [generate(spec, s) for s in range(count)], count, 1)
        rows.append(dict(impl=f"levels.generate ({name}, {spec.size}x{spec.size})", rate=rate))
    rate = median_rate(lambda: ve.generate_pool(train, range(count)), count, 1)
    rows.append(dict(impl="pool rows (generate + encode + optimal steps + hash)", rate=rate))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pool.npz"
        ve.generate_pool(train, range(count)).save(path)
        rate = median_rate(lambda: ve.LevelPool.load(path), count, repeats)
    rows.append(dict(impl="cached pool, loaded from disk", rate=rate))
    for row in rows:
        row.update(part="levels", batch=count, unit="levels/s", observation="", ratio="")
        row.update(ratio_to="")
    return rows


def print_table(rows) -> None:
    print("| part | implementation | config | obs | batch | rate | unit | ratio (vs) | env share |")
    print("|---|---|---|---|---:|---:|---|---|---:|")
    for r in rows:
        ratio = f"{r['ratio']:.2f} ({r['ratio_to']})" if r["ratio"] != "" else ""
        rate = f"{r['rate']:,.0f}" if r["unit"] != "x" else f"{r['rate']:.2f}"
        share = f"{r['env_share']:.0%}" if r.get("env_share", "") != "" else ""
        print(
            f"| {r['part']} | {r['impl']} | {r.get('config', '')} | {r['observation']} "
            f"| {r['batch']} | {rate} "
            f"| {r['unit']} | {ratio} | {share} |"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks, not numbers")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV path")
    parser.add_argument("--variant", default="apple-exit")
    parser.add_argument("--repeats", type=int, default=3, help="timings per row (median)")
    parser.add_argument("--profile", action="store_true", help="cProfile the batched PPO run")
    parser.add_argument("--parts", default="raw,sb3-ppo,levels", help="comma-separated subset")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    repeats = 1 if args.smoke else args.repeats
    info = machine()
    print(f"# {info['machine']}, {info['cores']} cores, load {info['load_avg']}, one thread")
    parts = args.parts.split(",")
    rows = part_raw(args.variant, args.smoke, repeats) if "raw" in parts else []
    rows += part_ppo(args.variant, args.smoke, args.profile) if "sb3-ppo" in parts else []
    rows += part_levels(args.variant, args.smoke, repeats) if "levels" in parts else []
    for row in rows:
        row["variant"] = args.variant
        row.update(info)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS + list(info))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

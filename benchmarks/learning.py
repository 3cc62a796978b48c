"""How fast PPO learns the maze: train exit rate against frames and against CPU-seconds.

For each (config, maze size, seed) a PPO run trains on apple-exit's train distribution at that
size and, every ``--every`` frames, is evaluated with sampled actions on 200 held-out levels:
seeds of their own range (``LEARNING_OFFSET``), and left out of the run's training stream by
content hash (a 7x7 stream meets some of them by chance; ``skipped_levels`` counts them). A run stops at its cap, or once it has held the target rate
(95%) at two checkpoints in a row. CPU-seconds are this process's CPU time spent training
(``time.process_time``, evaluation excluded), one torch thread per run.

Configs are hyper-parameter tables as the suites read them (``training.load_hyperparams``):
``default`` is ``[ppo]`` of ``benchmarks/hyperparams/sb3.toml`` (what the default suite trains),
``previous`` the table the suites used before it (``benchmarks/hyperparams/previous.toml``).
``--set KEY=VALUE`` (TOML values) changes a config for an experiment, under ``--label``.

Every finished run is written to its own CSV under ``results/perf/learning/`` at once, so an
interrupted benchmark resumes where it stopped; the table of all of them is
``results/perf/learning.csv`` (one row per config, size, seed and checkpoint) and the figure
``results/perf/learning_curves.png``.

    python benchmarks/learning.py                     # the whole benchmark (make bench-learning)
    python benchmarks/learning.py --configs default --sizes 7 --seeds 0 1
    python benchmarks/learning.py --configs default --label lr3 --set learning_rate=3e-3
    python benchmarks/learning.py --report           # rebuild the table, figure and summary
    python benchmarks/learning.py --costs            # frames/CPU-s of each network, side by side

``--costs`` trains each network of ``COST_VARIANTS`` (the default config with one lever changed)
for 30k frames, interleaved over ``--repeats``, and times an update's minibatch in float32 and
under bfloat16 autocast; medians go to ``results/perf/learning_costs.csv``. ``--out`` puts every
output in another folder (a search's runs apart from the benchmark's).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy and torch load: one run, one thread

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from multiprocessing import get_context  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tomllib  # noqa: E402
from machine_info import cpu_name  # noqa: E402

from mesa_maze.evaluation.leaderboard import atomic_write_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Config name -> (hyper-parameter file, agent table): ``default`` is what the default suite's
# PPO trains, ``vin`` the planning network (``ppo-vin``), ``previous`` PPO's settings before.
HYPERPARAMS = {
    "default": (ROOT / "benchmarks" / "hyperparams" / "sb3.toml", "ppo"),
    "vin": (ROOT / "benchmarks" / "hyperparams" / "sb3.toml", "ppo-vin"),
    "previous": (ROOT / "benchmarks" / "hyperparams" / "previous.toml", "ppo"),
}
OUT = ROOT / "results" / "perf"
VARIANT = "apple-exit"
TARGET = 0.95
EVAL_LEVELS = 200  # level seeds from LEARNING_OFFSET (core.levels): no suite scores them
HOLD = 2  # checkpoints in a row at or above TARGET before a run stops
# Per maze size: frames between checkpoints and the caps (frames, CPU-seconds) of one run. 7x7
# allows the previous config its suite budget (1M frames); 9x9 and 11x11 get 300 CPU-seconds,
# over three times the 7x7 target, to show how the cost grows; 13x13 gets the size ladder's
# budget (900 CPU-s, issue "A size ladder"), 15x15 and 25x25 more, to report what they take.
SCHEDULE = {7: (20_000, 1_000_000, 600.0), 9: (40_000, 3_000_000, 300.0),
            11: (40_000, 3_000_000, 300.0), 13: (40_000, 10_000_000, 900.0),
            15: (50_000, 10_000_000, 1200.0), 25: (100_000, 20_000_000, 2400.0)}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Job:
    config: str  # the label written to the CSV
    base: str  # "default" or "previous": which hyper-parameter file
    overrides: tuple[tuple[str, object], ...]
    size: int
    seed: int
    every: int
    max_frames: int
    max_cpu: float
    out: Path = OUT
    progress: bool = False  # print every checkpoint (long runs)

    @property
    def path(self) -> Path:
        return self.out / "learning" / f"{self.config}-s{self.size}-seed{self.seed}.csv"


def hyperparams(base: str, overrides=()) -> dict:
    """PPO's settings of config ``base`` for apple-exit, with ``(key, value)`` overrides."""
    from mesa_maze.training.train import load_hyperparams

    path, agent = HYPERPARAMS[base]
    params = load_hyperparams(path, agent, VARIANT)
    for key, value in overrides:
        params[key] = value
    return params


def run(job: Job) -> pd.DataFrame:
    """Train one PPO run and evaluate it at every checkpoint; returns its rows."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    from mesa_maze import agents
    from mesa_maze.core.levels import LEARNING_OFFSET, eval_seeds, generate
    from mesa_maze.core.variants import TRAIN, get_variant
    from mesa_maze.envs.vector import canvas_size, run_levels
    from mesa_maze.training.train import level_source, training_env

    torch.set_num_threads(1)
    hp = hyperparams(job.base, job.overrides)
    variant = get_variant(VARIANT)
    spec = dataclasses.replace(variant.spec(TRAIN), size=job.size)
    canvas = max(job.size, canvas_size(variant))  # 7x7 trains on the suites' 9x9 canvas
    observation, actions = hp.get("observation", "symbolic"), hp.get("actions", "cardinal")
    levels = [generate(spec, s) for s in eval_seeds(EVAL_LEVELS, offset=LEARNING_OFFSET)]
    held_out = frozenset(level.content_hash() for level in levels)
    env = training_env(VARIANT, hp, job.seed, spec=spec, skip=held_out)
    model = agents.build_model("ppo", env, hp, job.seed)
    cost = agents.policy_cost(model)
    policy = agents.SB3Agent(model, "ppo", deterministic=hp.get("deterministic", False))
    rows: list[dict] = []
    clock = {"cpu": 0.0, "wall": 0.0, "since": (time.process_time(), time.perf_counter())}

    def evaluate(frames: int) -> bool:
        """Record a checkpoint; True to go on training."""
        cpu, wall = clock["since"]
        clock["cpu"] += time.process_time() - cpu
        clock["wall"] += time.perf_counter() - wall
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(job.seed)
            finals = run_levels(policy, levels, spec=spec, reward=variant.reward, num_envs=200,
                                pad_to=canvas, actions=actions, observation=observation)  # fmt: skip
        rate = float(np.mean([f["reached_exit"] for f in finals]))
        rows.append({"frames": frames, "cpu_seconds": round(clock["cpu"], 2),
                     "wall_seconds": round(clock["wall"], 2), "train_exit_rate": rate,
                     "skipped_levels": level_source(env).skipped})  # fmt: skip
        clock["since"] = (time.process_time(), time.perf_counter())
        if job.progress:
            print(f"{job.config} {job.size}x{job.size} seed {job.seed}: {rate:.3f} at {frames} "
                  f"frames, {clock['cpu']:.0f} CPU-s", flush=True)  # fmt: skip
        held = len(rows) >= HOLD and all(r["train_exit_rate"] >= TARGET for r in rows[-HOLD:])
        return not held and clock["cpu"] < job.max_cpu

    class Checkpoints(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps - (rows[-1]["frames"] if rows else 0) >= job.every:
                return evaluate(self.num_timesteps)
            return True

    model.learn(job.max_frames, callback=Checkpoints())
    if not rows or rows[-1]["frames"] < model.num_timesteps:
        evaluate(model.num_timesteps)
    env.close()
    table = pd.DataFrame(rows)
    settings = {k: v for k, v in hp.items() if k != "policy_kwargs"}
    settings["policy_kwargs"] = json.dumps(hp.get("policy_kwargs", {}), sort_keys=True)
    for key, value in {
        "config": job.config,
        "size": job.size,
        "seed": job.seed,
        **cost,
        "settings": json.dumps(settings, sort_keys=True, default=str),
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
    }.items():
        table[key] = value
    return table


def machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores"


def first_reach(group: pd.DataFrame) -> pd.Series:
    """Frames and CPU-seconds at the first checkpoint at or above the target (NaN if never), and
    the best rate reached."""
    hit = group[group["train_exit_rate"] >= TARGET]
    first = hit.iloc[0] if len(hit) else None
    return pd.Series({
        "frames_to_95": first["frames"] if first is not None else np.nan,
        "cpu_seconds_to_95": first["cpu_seconds"] if first is not None else np.nan,
        "best_rate": group["train_exit_rate"].max(),
        "frames_run": group["frames"].max(),
        "cpu_seconds_run": group["cpu_seconds"].max(),
        "frames_per_cpu_second": group["frames"].max() / group["cpu_seconds"].max(),
        "parameters": group["parameters"].iloc[0],
        "train_mflop_per_frame": group["train_mflop_per_frame"].iloc[0],
    })  # fmt: skip


def report(out: Path = OUT) -> pd.DataFrame:
    """Concatenate every finished run into learning.csv, draw the curves, and return the
    per-(config, size) summary (median and worst seed)."""
    parts = sorted((out / "learning").glob("*.csv"))
    if not parts:
        raise SystemExit(f"no finished runs under {out / 'learning'}")
    table = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)
    table.to_csv(out / "learning.csv", index=False)
    runs = table.groupby(["config", "size", "seed"]).apply(first_reach, include_groups=False)
    summary = runs.groupby(["config", "size"]).agg(
        seeds=("best_rate", "size"),
        reached=("cpu_seconds_to_95", lambda s: int(s.notna().sum())),
        median_cpu_seconds_to_95=("cpu_seconds_to_95", "median"),
        worst_cpu_seconds_to_95=("cpu_seconds_to_95", lambda s: s.max() if s.notna().all() else np.inf),
        median_frames_to_95=("frames_to_95", "median"),
        worst_best_rate=("best_rate", "min"),
        frames_per_cpu_second=("frames_per_cpu_second", "median"),
        parameters=("parameters", "first"),
        train_mflop_per_frame=("train_mflop_per_frame", "first"),
    )  # fmt: skip
    summary.round(3).to_csv(out / "learning_summary.csv")
    plot(table, out / "learning_curves.png")
    return summary


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(table["size"].unique())
    fig, axes = plt.subplots(2, len(sizes), figsize=(4.5 * len(sizes), 7), squeeze=False)
    palette = plt.cm.tab10.colors
    colors = {c: palette[i % len(palette)] for i, c in enumerate(sorted(table["config"].unique()))}
    for col, size in enumerate(sizes):
        for row, x in enumerate(("frames", "cpu_seconds")):
            ax = axes[row, col]
            for (config, _seed), run in table[table["size"] == size].groupby(["config", "seed"]):
                ax.plot(run[x], run["train_exit_rate"], color=colors[config], alpha=0.7, lw=1,
                        label=config)  # fmt: skip
            ax.axhline(TARGET, color="grey", ls=":", lw=1)
            ax.set_xlabel("frames" if x == "frames" else "CPU-seconds (one core)")
            ax.set_ylabel("train exit rate (sampled)")
            ax.set_title(f"{size}x{size} mazes")
            ax.set_ylim(0, 1.02)
            handles, labels = ax.get_legend_handles_labels()
            unique = dict(zip(labels, handles, strict=True))
            ax.legend(unique.values(), unique.keys(), fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- what a frame costs -------------------------------------------------------------------------
# Networks measured side by side by --costs: (label, config, policy_kwargs overrides). "default"
# and "previous" are the two configs as they are; the others change one lever of the default.
COST_VARIANTS = [
    ("previous", "previous", None),
    ("default", "default", None),
    ("default, 16 envs x 128 steps", "default", {"n_envs": 16, "n_steps": 128}),
    ("default, 6 epochs", "default", {"n_epochs": 6}),
    ("default, not centred", "default", {"centre": None}),
    ("default, embedded cells", "default", {"cells": "embedding"}),
    ("default, tanh heads", "default", {"activation_fn": "tanh"}),
]
ENCODER_KEYS = ("cells", "centre", "channels", "strides", "features_dim", "embed_dim")


def cost_variant_params(config: str, change: dict | None) -> dict:
    """A config with one lever changed: a PPO argument, ``activation_fn``, or an encoder key."""
    params = json.loads(json.dumps(hyperparams(config)))  # a deep copy
    for key, value in (change or {}).items():
        kwargs = params.setdefault("policy_kwargs", {})
        if key == "activation_fn":
            kwargs[key] = value
        elif key in ENCODER_KEYS:
            kwargs.setdefault("features_extractor_kwargs", {})[key] = value
        else:
            params[key] = value
    return params


def frame_cost(params: dict, frames: int) -> tuple[float, dict]:
    """Frames per CPU-second of PPO training (rollouts and updates) with these settings, and the
    network's :func:`~mesa_maze.agents.policy_cost`."""
    import torch

    from mesa_maze import agents
    from mesa_maze.training.train import training_env

    torch.set_num_threads(1)
    env = training_env(VARIANT, params, 0)
    model = agents.build_model("ppo", env, params, 0)
    model.learn(params["n_steps"] * params["n_envs"])  # warm-up: allocations, first rollout
    start = time.process_time()
    model.learn(frames, reset_num_timesteps=False)
    return frames / (time.process_time() - start), agents.policy_cost(model)


def update_cost(params: dict, bf16: bool, minibatches: int = 40) -> float:
    """Milliseconds of CPU per PPO minibatch (forward, backward, Adam) of ``batch_size``
    observations, in float32 or under bfloat16 autocast."""
    import torch

    from mesa_maze import agents
    from mesa_maze.training.train import training_env

    torch.set_num_threads(1)
    env = training_env(VARIANT, params, 0)
    model = agents.build_model("ppo", env, params, 0)
    obs = np.stack([env.reset()[i % env.num_envs] for i in range(params["batch_size"])])
    obs = torch.as_tensor(obs).float().permute(0, 3, 1, 2)  # as VecTransposeImage gives them
    actions = torch.zeros(len(obs))
    policy = model.policy

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            values, log_prob, entropy = policy.evaluate_actions(obs, actions)
            loss = values.float().mean() + log_prob.float().mean() + entropy.float().mean()
        policy.optimizer.zero_grad()
        loss.backward()
        policy.optimizer.step()

    for _ in range(5):
        step()
    start = time.process_time()
    for _ in range(minibatches):
        step()
    return (time.process_time() - start) / minibatches * 1000


def costs(out: Path, repeats: int, frames: int) -> pd.DataFrame:
    """Every network of COST_VARIANTS, repeats interleaved (a noisy machine slows them alike),
    and bfloat16 autocast against float32 on the default network; medians of the repeats."""
    rows, network_costs = [], {}
    for repeat in range(repeats):
        for label, config, change in COST_VARIANTS:
            rate, network_costs[label] = frame_cost(cost_variant_params(config, change), frames)
            rows.append({"measure": "frames_per_cpu_second", "network": label, "repeat": repeat,
                         "value": rate})  # fmt: skip
        params = cost_variant_params("default", None)
        for bf16 in (False, True):
            rows.append({"measure": "update_ms_per_minibatch", "repeat": repeat,
                         "network": "default, bfloat16 autocast" if bf16 else "default, float32",
                         "value": update_cost(params, bf16)})  # fmt: skip
        print(f"repeat {repeat + 1} of {repeats} done", flush=True)
    table = pd.DataFrame(rows)
    summary = table.groupby(["measure", "network"], sort=False)["value"].median().reset_index()
    for label, cost in network_costs.items():
        mask = summary["network"] == label
        summary.loc[mask, "parameters"] = cost["parameters"]
        summary.loc[mask, "train_mflop_per_frame"] = round(cost["train_mflop_per_frame"], 2)
    summary["repeats"] = repeats
    summary["frames"] = frames
    summary["machine"] = machine()
    summary["date"] = datetime.date.today().isoformat()
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "learning_costs.csv", index=False)
    return summary


def parse_value(text: str):
    return tomllib.loads(f"v = {text}")["v"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["default", "previous"],
                        choices=sorted(HYPERPARAMS))  # fmt: skip
    parser.add_argument("--sizes", nargs="+", type=int, default=[7, 9, 11])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--size-seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                        help="seeds of the sizes above 7 (default config only)")  # fmt: skip
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--label", help="config name for a run with --set")
    parser.add_argument("--max-cpu", type=float, help="cap in CPU-seconds per run")
    parser.add_argument("--max-frames", type=int)
    parser.add_argument("--every", type=int)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--progress", action="store_true", help="print every checkpoint")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the outputs")
    parser.add_argument("--report", action="store_true", help="only rebuild the outputs")
    parser.add_argument("--costs", action="store_true",
                        help="only measure frames/CPU-s of each network, side by side")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="repeats of --costs")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.costs:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(costs(args.out, args.repeats, args.max_frames or 30_000))
        return
    if args.set and not args.label:
        parser.error("--set needs --label (the config name in the CSV)")
    if args.label and len(args.configs) != 1:
        parser.error("--label names one config: give --configs default or --configs previous")
    if args.label in HYPERPARAMS:
        parser.error(f"--label {args.label!r} is a config's own name; choose another")
    if not args.report:
        overrides = []
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep:
                parser.error(f"--set {item!r}: expected KEY=VALUE")
            overrides.append((key, parse_value(value)))
        jobs = []
        for base in args.configs:
            for size in args.sizes:
                if size != 7 and base == "previous":
                    continue  # the settings before the current ones: 7x7 only, to compare
                every, frames, cpu = SCHEDULE.get(size, SCHEDULE[11])
                for seed in args.seeds if size == 7 else args.size_seeds:
                    jobs.append(Job(args.label or base, base, tuple(overrides), size, seed,
                                    args.every or every, args.max_frames or frames,
                                    args.max_cpu or cpu, args.out, args.progress))  # fmt: skip
        todo = [j for j in jobs if not j.path.exists()]
        print(f"{len(jobs) - len(todo)} of {len(jobs)} runs already done; {len(todo)} to run")
        context = get_context("spawn")  # a fresh interpreter per run: one thread, clean torch
        with ProcessPoolExecutor(args.jobs, mp_context=context, max_tasks_per_child=1) as pool:
            futures = {pool.submit(run, job): job for job in todo}
            for future in as_completed(futures):
                job, table = futures[future], future.result()
                atomic_write_text(job.path, table.to_csv(index=False))
                last = table.iloc[-1]
                print(f"{job.config} {job.size}x{job.size} seed {job.seed}: "
                      f"{last['train_exit_rate']:.3f} at {int(last['frames'])} frames, "
                      f"{last['cpu_seconds']:.0f} CPU-s", flush=True)  # fmt: skip
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(report(args.out))


if __name__ == "__main__":
    main()

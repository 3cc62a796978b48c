"""Zero-shot on bigger mazes: the default suite's apple-exit agents, trained on 7x7, on the size
ladder's mazes (13x13 and 25x25 by default), which they never saw.

Does a network that plans carry its objective competently to mazes far larger than its training
ones, where a bundle of local heuristics would wander? Each learned run of the default suite on
apple-exit (``ppo-vin``, ``ppo``; seed k's ``model.zip``) plays ``--episodes`` levels of every
split of ``apple-exit-ladder-SIZE`` (apple-exit's rules at that size): its seed's own block of
evaluation levels, sampled actions with the run's seed, the run's own hyper-parameters, exactly
as a suite evaluates. ``random`` plays the same levels as the chance level. Writes one row per
(agent, size, split) with the mean over seeds and the 95% t-interval of every outcome share and
of the directed shares to ``results/zero_shot.csv``, and each run's own rates to
``results/zero_shot_seeds.csv``.

    python benchmarks/zero_shot.py                       # after make benchmark
    python benchmarks/zero_shot.py --runs /work/suite/runs/default --sizes 13 --episodes 50
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
from machine_info import cpu_name  # noqa: E402

from mesa_maze import agents  # noqa: E402
from mesa_maze.core.levels import final_eval_seeds  # noqa: E402
from mesa_maze.core.variants import TRAIN, get_variant  # noqa: E402
from mesa_maze.evaluation import metrics  # noqa: E402
from mesa_maze.evaluation.episodes import run_episodes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LEARNED = ("ppo-vin", "ppo")
REPORTED = ("exit_rate", "exit", "apple_then_exit", "misgeneralized", "failed",
            "exit_directed", "misgeneralized_directed")  # fmt: skip


def learned_runs(runs: Path, variant: str = "apple-exit"):
    """(agent, seed, model.zip, hyper-parameters) of every finished learned run on ``variant``."""
    for agent in LEARNED:
        for run in sorted((runs / agent / variant).glob("seed*")):
            if ".stale-" in run.name or not (run / "summary.json").is_file():
                continue
            config = json.loads((run / "config.json").read_text())
            yield agent, config["seed"], run / "model.zip", config["hyperparams"]


def play(agent, name, seed, variant, splits, count, hyperparams) -> list[dict]:
    rows = []
    for split in splits:
        seeds = final_eval_seeds(seed, count)
        start = time.process_time()
        records, _, _ = run_episodes(agent, variant, split, seeds, hyperparams, sample_seed=seed)
        seconds = time.process_time() - start
        for record in records:
            rows.append({"agent": name, "variant": variant, "seed": seed, **record})
        print(f"{name} seed {seed} {variant} {split}: {len(records)} episodes, {seconds:.0f} CPU-s",
              flush=True)  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "runs" / "default")
    parser.add_argument("--sizes", nargs="+", type=int, default=[13, 25])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "zero_shot.csv")
    args = parser.parse_args()
    found = list(learned_runs(args.runs))
    if not found:
        raise SystemExit(f"{args.runs}: no finished apple-exit runs of {', '.join(LEARNED)}")
    rows = []
    for size in args.sizes:
        variant = f"apple-exit-ladder-{size}"
        splits = [TRAIN, *get_variant(variant).shifts]
        splits = [s for s in splits if s != "bigger"]  # the rung's own size is the point
        for name, seed, model_zip, hyperparams in found:
            agent = agents.load_sb3(model_zip, name, hyperparams.get("deterministic", False))
            rows += play(agent, name, seed, variant, splits, args.episodes, hyperparams)
        for seed in sorted({seed for _, seed, *_ in found}):
            chance = agents.get_agent_spec("random").build(4, seed=seed, actions="cardinal")
            rows += play(chance, "random", seed, variant, splits, args.episodes, found[0][3])
    episodes = pd.DataFrame(rows)
    rates = metrics.run_rates(episodes)
    table = metrics.aggregate(rates, metrics=list(REPORTED))
    table["train_variant"] = "apple-exit"
    table["machine"] = cpu_name()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    per_seed = args.out.with_name(args.out.stem + "_seeds.csv")
    rates[["agent", "variant", "shift", "seed", "episodes", *REPORTED]].to_csv(
        per_seed, index=False
    )
    shown = table[["agent", "variant", "shift", "seeds", "exit_rate", "misgeneralized_directed",
                   "failed"]]  # fmt: skip
    print(shown.round(3).to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

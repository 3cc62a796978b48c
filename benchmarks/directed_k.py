"""How directed is each agent's first arrival? The measurement behind ``metrics.DIRECTED_K``.

For every episode of a suite's finished runs that reached a target (the exit or the declared
proxy), the ratio of the steps it took to the fewest steps to that cell from the start. The
oracles sit at 1 by construction; a random walk wanders; a learned policy should sit near 1 with a
tail of detours. ``k`` must keep nearly all of a capable policy's arrivals and few of a random
walk's.

Writes ``results/directed_k.csv``: per agent and first target (test shifts and train apart),
the number of arrivals, quantiles of the ratio and the share of arrivals with ratio <= k for each
candidate k, plus the configuration (runs folder, k in use).

    python benchmarks/directed_k.py                       # results/runs/default
    python benchmarks/directed_k.py --runs results/runs/quick --out /tmp/k.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mesa_maze.evaluation import leaderboard, metrics

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = (1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
QUANTILES = (0.5, 0.75, 0.9, 0.95)
AGENTS = ("random", "oracle-exit", "oracle-apple", "ppo")


def arrival_ratios(episodes: pd.DataFrame) -> pd.DataFrame:
    """The episodes that reached a target, with ``ratio`` = steps / fewest steps and
    ``split`` = "train" or "test"."""
    missing = [c for c in metrics.ARRIVAL_COLUMNS if c not in episodes.columns]
    if missing:
        raise SystemExit(f"these runs were made without the arrival columns {missing}: rerun them")
    reached = episodes[episodes["first_target_distance"] > 0].copy()
    reached["ratio"] = reached["first_target_steps"] / reached["first_target_distance"]
    reached["target"] = np.where(reached["first_target"] == "exit", "exit", "proxy")
    reached["split"] = np.where(reached["shift"] == metrics.TRAIN_SHIFT, "train", "test")
    return reached


def ratio_table(reached: pd.DataFrame, agents=AGENTS) -> pd.DataFrame:
    rows = []
    reached = reached[reached["agent"].isin(agents)]
    for (agent, split, target), g in reached.groupby(["agent", "split", "target"], sort=True):
        row = {"agent": agent, "split": split, "target": target, "arrivals": len(g)}
        row.update({f"ratio_q{int(100 * q)}": g["ratio"].quantile(q) for q in QUANTILES})
        row.update({f"within_k{k:g}": (g["ratio"] <= k).mean() for k in CANDIDATES})
        rows.append(row)
    return pd.DataFrame(rows).round(3)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "runs" / "default")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "directed_k.csv")
    args = parser.parse_args(argv)
    episodes, _ = leaderboard.load_runs(args.runs)
    if episodes.empty:
        raise SystemExit(f"{args.runs}: no finished runs")
    table = ratio_table(arrival_ratios(episodes))
    table["runs"] = str(
        args.runs.relative_to(ROOT) if args.runs.is_relative_to(ROOT) else args.runs
    )
    table["k_in_use"] = metrics.DIRECTED_K
    args.out.parent.mkdir(parents=True, exist_ok=True)
    leaderboard.atomic_write_text(args.out, table.to_csv(index=False))
    print(table.to_string(index=False))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

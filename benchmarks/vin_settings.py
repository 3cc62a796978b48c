"""How [ppo-vin]'s settings were chosen: the train exit rates of suite runs under each candidate.

Each candidate was a copy of ``benchmarks/hyperparams/sb3.toml`` with ``[ppo-vin]`` changed,
run as the default suite's ``ppo-vin`` on apple-exit, corner or key-exit (seeds 0-4, the suite's
evaluation, which checkpoints the train exit rate on 100 held-out levels every ``eval_every``
steps and writes ``eval.csv``) into a runs folder of its own:

    mesa-maze benchmark --suite <candidate suite.toml> --jobs 2 --runs-dir /tmp/vinT4/runs

This script reads those folders and writes one row per candidate, variant, seed and checkpoint, with the
run's resolved ``[ppo-vin]`` settings, to ``results/perf/search/vin/settings.csv``, and prints,
per candidate and variant, the worst seed's rate at the last checkpoint.

    python benchmarks/vin_settings.py T4=/tmp/vinT4/runs C=/tmp/vinC/runs ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from machine_info import cpu_name

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "perf" / "search" / "vin" / "settings.csv"


def candidate_rows(label: str, runs: Path) -> list[dict]:
    rows = []
    for config in sorted(runs.glob("*/ppo-vin/*/seed*/config.json")):
        run = config.parent
        if ".stale-" in run.name or not (run / "eval.csv").is_file():
            continue
        cfg = json.loads(config.read_text())
        settings = json.dumps(cfg["hyperparams"], sort_keys=True)
        for _, check in pd.read_csv(run / "eval.csv").iterrows():
            rows.append({
                "candidate": label,
                "variant": cfg["variant"],
                "seed": cfg["seed"],
                "train_steps": cfg["train_steps"],
                "timesteps": int(check["timesteps"]),
                "train_exit_rate": float(check["exit_rate"]),
                "settings": settings,
            })  # fmt: skip
    if not rows:
        raise SystemExit(f"{runs}: no finished ppo-vin runs with an eval.csv")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", metavar="LABEL=RUNS_DIR")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows = []
    for item in args.candidates:
        label, sep, folder = item.partition("=")
        if not sep:
            raise SystemExit(f"{item!r}: expected LABEL=RUNS_DIR")
        rows += candidate_rows(label, Path(folder))
    table = pd.DataFrame(rows)
    table["machine"] = cpu_name()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    last = table.sort_values("timesteps").groupby(["candidate", "variant", "seed"]).tail(1)
    summary = last.groupby(["candidate", "variant"])["train_exit_rate"]
    summary = summary.agg(["count", "min", "median"])
    print(summary.rename(columns={"count": "seeds", "min": "worst_last", "median": "median_last"}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

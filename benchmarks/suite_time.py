"""How long a suite took, from its run folders: each run's ``config.json`` is written when the
run starts and its ``summary.json`` when it ends, so their times bound the run.

Writes one row per agent (runs, the sum of their run times) and a row ``all`` with the suite's
wall time, from the first run's start to its last run's end. Runs moved aside as stale are left
out. Measure on a suite made from scratch in one go (a resumed suite's runs span sessions).

    python benchmarks/suite_time.py                      # results/runs/default -> results/perf
    python benchmarks/suite_time.py --runs results/runs/quick --out /tmp/quick_time.csv
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
from machine_info import cpu_name

ROOT = Path(__file__).resolve().parent.parent


def suite_times(runs: Path) -> pd.DataFrame:
    rows = []
    for config in sorted(runs.glob("*/*/seed*/config.json")):
        run = config.parent
        summary = run / "summary.json"
        if ".stale-" in run.name or not summary.is_file():
            continue
        start, end = os.path.getmtime(config), os.path.getmtime(summary)
        rows.append({"agent": run.parent.parent.name, "start": start, "end": end})
    if not rows:
        raise SystemExit(f"{runs}: no finished runs")
    runs_table = pd.DataFrame(rows)
    runs_table["seconds"] = runs_table["end"] - runs_table["start"]
    table = runs_table.groupby("agent")["seconds"].agg(runs="size", run_seconds="sum")
    table = table.sort_values("run_seconds", ascending=False).reset_index()
    wall = runs_table["end"].max() - runs_table["start"].min()
    total = pd.DataFrame([{"agent": "all", "runs": len(runs_table),
                           "run_seconds": runs_table["seconds"].sum(), "wall_seconds": wall}])  # fmt: skip
    table = pd.concat([total, table], ignore_index=True).round(1)
    table["suite"] = runs.name
    table["machine"] = f"{cpu_name()}, {os.cpu_count()} cores"
    table["date"] = pd.Timestamp(runs_table["end"].max(), unit="s").date().isoformat()
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "runs" / "default")
    parser.add_argument("--out", type=Path, help="default: results/perf/suite_time_<suite>.csv")
    args = parser.parse_args(argv)
    table = suite_times(args.runs)
    out = args.out or ROOT / "results" / "perf" / f"suite_time_{args.runs.name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_string(index=False))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

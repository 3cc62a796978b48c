"""Heuristic or mesa-optimizer? The tables of docs/results.md's section of that name, from the
default leaderboard.

Reads ``results/leaderboard.csv`` (``make benchmark``) and writes
``results/heuristic_or_mesa.csv``: for every learned agent (``ppo``, ``ppo-vin``) and every
variant and split, the columns the section reads (behaviour, agreement with each heuristic
reference and with ``oracle-apple``, the reward-map read-out, the plan probes), each with its
95% interval over seeds and its chance level (``random``'s agreement; a probe's majority label).
It prints the same tables as markdown, values in % with [lo, hi].

With ``--runs`` (the default suite's runs folder), it also writes
``results/heuristic_or_mesa_seeds.csv``: for every ``ppo-vin`` run, per split, the read-out of
its reward map (``summary.json``) beside the shares of its episodes' outcomes
(``episodes.csv``), the per-seed table of the section.

    python benchmarks/mesa_report.py
    python benchmarks/mesa_report.py --board /tmp/default/leaderboard.csv --out /tmp/h.csv
    python benchmarks/mesa_report.py --runs results/runs/default
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from mesa_maze.evaluation import metrics, plan_probe, readout

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ("ppo", "ppo-vin")
BEHAVIOUR = ("exit_rate", "misgeneralized_directed")
AGREEMENT = tuple(metrics.agreement_column(name) for name in metrics.AGREEMENT_REFERENCES)
READOUT = readout.READOUT_METRICS
PROBES = plan_probe.PROBE_METRICS


def table(board: pd.DataFrame) -> pd.DataFrame:
    """The learned agents' rows, with each column's interval and chance beside it."""
    rows = board[board["agent"].isin(AGENTS)]
    keep = ["agent", "variant", "shift", "seeds"]
    for column in (*BEHAVIOUR, *AGREEMENT, *READOUT, *PROBES):
        keep += [column, f"{column}_lo", f"{column}_hi"]
        chance = chance_column(column)
        if chance in board.columns:
            keep.append(chance)
    keep = [c for c in dict.fromkeys(keep) if c in rows.columns]
    return rows[keep].sort_values(["variant", "agent", "shift"]).reset_index(drop=True)


def chance_column(column: str) -> str:
    if column.startswith("plan_probe_goal_"):  # scored against the exit's or the proxy's label
        return column.replace("plan_probe_goal_", "plan_probe_chance_")
    if column.startswith("plan_probe_"):
        return column.replace("plan_probe_", "plan_probe_chance_")
    return f"chance_{column}"


def cell(row, column: str) -> str:
    value = row.get(column, math.nan)
    if pd.isna(value):
        return ""
    lo, hi = row.get(f"{column}_lo", math.nan), row.get(f"{column}_hi", math.nan)
    text = f"{100 * value:.1f}"
    if not pd.isna(lo) and not pd.isna(hi) and (lo, hi) != (value, value):
        text += f" [{100 * lo:.1f}, {100 * hi:.1f}]"
    chance = row.get(chance_column(column), math.nan)
    return f"{text} ({100 * chance:.0f})" if not pd.isna(chance) else text


def markdown(rows: pd.DataFrame, columns, title: str) -> str:
    present = [c for c in columns if c in rows.columns and rows[c].notna().any()]
    if not present:
        return ""
    head = ["agent", "variant", "shift", *present]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|---|---|---|"]
    lines[-1] += "--:|" * len(present)
    for _, row in rows.iterrows():
        if not any(not pd.isna(row[c]) for c in present):
            continue
        values = [cell(row, c) for c in present]
        lines.append(
            f"| {row['agent']} | {row['variant']} | {row['shift']} | " + " | ".join(values) + " |"
        )
    return "\n".join(lines) + "\n"


def seed_rows(runs: Path, agent: str = "ppo-vin") -> pd.DataFrame:
    """Per run of ``agent`` and split: the reward-map read-out beside its outcome shares."""
    rows = []
    for summary_path in sorted(runs.glob(f"{agent}/*/seed*/summary.json")):
        if ".stale-" in summary_path.parent.name:
            continue
        summary = json.loads(summary_path.read_text())
        episodes = pd.read_csv(summary_path.parent / summary["episodes_file"])
        outcomes = episodes.groupby("shift")["outcome"].value_counts(normalize=True).unstack()
        for split, read in (summary.get("mesa_objective") or {}).items():
            shares = outcomes.loc[split].fillna(0.0).to_dict() if split in outcomes.index else {}
            row = {"agent": agent, "variant": summary["variant"], "seed": summary["seed"]}
            rows.append({**row, "shift": split, **read, **shares})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", type=Path, default=ROOT / "results" / "leaderboard.csv")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "heuristic_or_mesa.csv")
    parser.add_argument("--runs", type=Path, help="the default suite's runs folder")
    args = parser.parse_args()
    if args.runs is not None:
        seeds = seed_rows(args.runs)
        if seeds.empty:
            raise SystemExit(f"{args.runs}: no finished ppo-vin runs with a reward map")
        per_seed = args.out.with_name(args.out.stem + "_seeds.csv")
        seeds.to_csv(per_seed, index=False)
        print(f"wrote {per_seed}")
    rows = table(pd.read_csv(args.board))
    if rows.empty:
        raise SystemExit(f"{args.board}: no rows of {', '.join(AGENTS)}")
    rows.to_csv(args.out, index=False)
    print(markdown(rows, BEHAVIOUR + AGREEMENT, "Behaviour and agreement (chance in brackets)"))
    print(markdown(rows, READOUT, "The reward map read out"))
    print(markdown(rows, PROBES, "The plan decoded (chance: the majority label)"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

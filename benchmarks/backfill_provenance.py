"""Provenance and model cards for runs made before mesa-maze recorded them (run once, on
2026-12-03, over the default suite's 245 runs before their records were committed).

It writes only what the run folders prove: ``verified`` (the suite evaluated them from their
artefacts), the artefact's SHA-256 (the model zips are there) and the mesa-maze version their
summary names. The commit, library versions, CPU-seconds and machine were not recorded, so they
stay None ("not recorded" in the model card, empty on the board). A run that has provenance
keeps it; every run gets a model card. Then ``mesa-maze leaderboard --runs-dir ... --out
results`` copies them into the records.

    python benchmarks/backfill_provenance.py --runs /path/to/runs --suite default
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

import pandas as pd

from mesa_maze.core.provenance import sha256
from mesa_maze.evaluation import leaderboard
from mesa_maze.experiments import runs

NOT_RECORDED = ("commit", "python", "torch", "sb3", "gymnasium", "train_cpu_s", "eval_cpu_s",
                "machine")  # fmt: skip


def config_of(run_dir: Path) -> runs.RunConfig:
    data = json.loads((run_dir / "config.json").read_text())
    names = {f.name for f in fields(runs.RunConfig)}
    return runs.RunConfig(
        **{
            k: tuple(v) if isinstance(v, list) and k != "hyperparams" else v
            for k, v in data.items()
            if k in names
        }
    )


def backfill(root: Path, suite: str) -> int:
    done = 0
    for run_dir, summary in leaderboard.find_runs(root / suite):
        cfg = config_of(run_dir)
        if "provenance" not in summary:
            path = runs.artefact(cfg, root)
            summary["provenance"] = {
                "verified": True,
                "artefact": None if path is None else path.name,
                "artefact_sha256": sha256(path) if path is not None and path.is_file() else None,
                "mesa_maze": summary["version"],
                **dict.fromkeys(NOT_RECORDED),
            }
            leaderboard.atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
            done += 1
        rows = pd.read_csv(run_dir / summary["episodes_file"]).to_dict("records")
        card = runs.model_card(cfg, summary, rows)
        leaderboard.atomic_write_text(run_dir / runs.MODEL_CARD, card)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, type=Path, help="the runs folder")
    parser.add_argument("--suite", default="default")
    args = parser.parse_args()
    print(f"provenance backfilled on {backfill(args.runs, args.suite)} runs")


if __name__ == "__main__":
    main()

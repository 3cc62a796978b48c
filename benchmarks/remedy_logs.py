"""What the remedies trained on, from each run's ``remedy.csv`` (written during training): per
agent and α, the share of training episodes on levels where apples and exit are apart, the
buffer's apart and mutated shares at the end of training (PLR⊥, ACCEL) and the env steps spent
scoring levels without a gradient; means over seeds. The numbers behind the buffer-composition
plot (``remedy_levels_<variant>.png``) and the results page's remedies section.

    python benchmarks/remedy_logs.py          # results/runs/remedies -> results/remedies
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mesa_maze.evaluation.leaderboard import atomic_write_text
from mesa_maze.training.remedies.base import log_table

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # The committed records keep every run's remedy.csv: a clone reruns this without the runs.
    parser.add_argument("--runs", type=Path, default=ROOT / "results/remedies/records/remedies")
    parser.add_argument("--out", type=Path, default=ROOT / "results/remedies/remedy_logs.csv")
    args = parser.parse_args()
    table = log_table(args.runs)
    if table.empty:
        raise SystemExit(f"{args.runs}: no run has a remedy.csv")
    atomic_write_text(args.out, table.to_csv(index=False, float_format="%.4f"))
    print(table.to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

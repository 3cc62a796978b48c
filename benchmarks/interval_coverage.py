"""Coverage of the leaderboard's 95% intervals, measured by simulation (docs/design.md §5).

For each cell of a grid (seeds n, the true mean, the seed-level spread), 2,000 simulated metrics
with a known mean: each seed draws its success probability from a Beta with that mean and a
standard deviation of ``spread`` times the binomial one, sqrt(mean (1 - mean)), then plays 500
binomial episodes (its own block of levels). Two intervals per metric, from the n seed values:

- ``t``: the leaderboard's, :func:`mesa_maze.evaluation.metrics.interval_over_seeds` (a Student-t
  interval of the mean, clipped to [0, 1]);
- ``bootstrap``: the percentile bootstrap over seeds (1,000 resamples) that the leaderboard used
  before (rliable's stratified bootstrap with one task is this).

``mean = "uniform"`` draws each metric's mean from U(0.1, 0.9), as the coverage test does
(tests/evaluation/test_interval_coverage.py). Writes results/perf/interval_coverage.csv.

    .venv/bin/python benchmarks/interval_coverage.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from mesa_maze.evaluation.metrics import interval_over_seeds

OUT = Path(__file__).resolve().parents[1] / "results" / "perf" / "interval_coverage.csv"
SEEDS = (3, 5, 10)
MEANS = ("uniform", 0.02, 0.1, 0.5, 0.9, 0.98)
SPREADS = (0.0, 0.05, 0.25, 0.5)
EPISODES = 500
RESAMPLES = 1000


def seed_values(n: int, mean, spread: float, sims: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(sims, n) seed values and the (sims,) true means."""
    mu = rng.uniform(0.1, 0.9, sims) if mean == "uniform" else np.full(sims, float(mean))
    if spread > 0:
        k = 1 / spread**2 - 1
        p = rng.beta((mu * k)[:, None], ((1 - mu) * k)[:, None], size=(sims, n))
    else:
        p = np.repeat(mu[:, None], n, axis=1)
    return rng.binomial(EPISODES, p) / EPISODES, mu


def bootstrap(values: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of each row's mean."""
    sims, n = values.shape
    draws = rng.integers(0, n, size=(sims, RESAMPLES, n))
    means = np.take_along_axis(values[:, None, :], draws, axis=2).mean(axis=2)
    return np.percentile(means, 2.5, axis=1), np.percentile(means, 97.5, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows = []
    for n in SEEDS:
        for mean in MEANS:
            for spread in SPREADS:
                rng = np.random.default_rng([n, SPREADS.index(spread), MEANS.index(mean)])
                values, mu = seed_values(n, mean, spread, args.sims, rng)
                t = np.array([interval_over_seeds(v, bounds=(0.0, 1.0)) for v in values])
                b = bootstrap(values, rng)
                for method, lo, hi in (("t", t[:, 0], t[:, 1]), ("bootstrap", *b)):
                    rows.append(
                        {
                            "method": method,
                            "seeds": n,
                            "mean": mean,
                            "spread": spread,
                            "episodes": EPISODES,
                            "simulations": args.sims,
                            "coverage": float(np.mean((lo <= mu) & (mu <= hi))),
                            "mean_width": float(np.mean(hi - lo)),
                        }
                    )
        print(f"{n} seeds done", flush=True)
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    uniform = table[table["mean"] == "uniform"].pivot_table(
        index=["spread", "seeds"], columns="method", values="coverage"
    )
    print(uniform.round(3).to_string())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

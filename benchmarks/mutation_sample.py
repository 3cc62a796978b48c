"""How well does the fast test suite catch small, plausible bugs in the core modules?

Curated, fixed samples of hand-written mutants (our "mutmut or similar"). Each mutant is one
exact text replacement in one library file: an off-by-one, ``>`` for ``>=``, a dropped term, a
swapped axis, max for mean, a missing NaN filter, ... The mutants were written by reading the
library code only, never the tests, so that a sample was not chosen to be caught.

Two samples:

- ``MUTANTS`` (sample 1, 60 mutants, ``--sample 1``, the default): the first measure. It has
  been run, and tests were then written for its survivors, so its score now says how well the
  suite catches bugs it was shown, not bugs in general: it is no longer a fresh measure.
- ``SECOND_SAMPLE`` (sample 2, ``--sample 2``): new mutants chosen after those tests were
  written, over the same modules (plus the batched env's pools and rendering), again from the
  library code alone and repeating no first-sample bug. Only a sample chosen after the tests
  measures the suite afresh; run it once, before writing tests for its survivors.

How it runs: the repository's files (tracked and untracked-but-not-ignored, as they are on disk)
are copied once into a temporary folder. For each mutant the pristine file is restored, the
replacement applied, and the tests mapped to that module are run there:

    python -m pytest -x -q -m "not slow" -p no:cacheprovider -k "not ctrl_c" <subset>

with the copy first on PYTHONPATH and as the working directory (the venv's editable install
points at this checkout, so the copy's ``mesa_maze`` must win; checked at start). Exit code 1
(tests failed) = caught, 0 = survived, anything else (collection error, internal error, no
tests) = error, except a package that no longer imports (every test run fails: import-broken),
past the per-mutant limit = timeout. Before any mutant, each distinct subset
runs once unmutated and must pass, else every mutant would look caught.

Rows go to ``results/mutation/mutants.csv`` (sample 1) or ``results/mutation/mutants_sample2.csv``
(sample 2), one line per mutant, appended and flushed as it finishes, so an interrupted run
keeps what it measured and a rerun resumes where it stopped. ``--sample all`` runs sample 1,
then sample 2, each into its own file.

    .venv/bin/python benchmarks/mutation_sample.py --list            # sample 1
    .venv/bin/python benchmarks/mutation_sample.py --sample 2 --list # sample 2
    .venv/bin/python benchmarks/mutation_sample.py --sample all --check  # both apply? no tests
    .venv/bin/python benchmarks/mutation_sample.py --sample 2        # run what is not in its CSV
    .venv/bin/python benchmarks/mutation_sample.py --only ID[,ID]    # just these (of --sample)
    .venv/bin/python benchmarks/mutation_sample.py --fresh           # forget earlier rows, rerun
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "results" / "mutation"
# date, git_head, dirty and tree say what was measured: tree is a digest of the copied files, so
# rows measured on different dirty trees can be told apart.
COLUMNS = ("id", "module", "why", "status", "seconds", "tests", "date", "git_head", "dirty", "tree")
TIMEOUT_S = 900  # per mutant; a mutant that makes a loop endless must not stall the sample
# The Ctrl-C test times a whole suite's shutdown against a deadline: it checks signal handling,
# which no mutant here touches, and on a loaded machine it can time out whatever the mutant.
PYTEST_ARGS = (
    *("-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider"),
    *("-k", "not ctrl_c"),
)


@dataclass(frozen=True)
class Mutant:
    id: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    why: str  # the bug it stands for


# The fast tests that exercise each module, as small as is honest: each mutant reruns its subset.
TESTS = {
    "mesa_maze/core/levels.py": ("tests/core", "tests/envs"),
    "mesa_maze/core/solver.py": ("tests/core", "tests/envs"),
    "mesa_maze/evaluation/metrics.py": ("tests/evaluation",),
    "mesa_maze/envs/vector.py": ("tests/envs", "tests/evaluation/test_directed.py"),
    "mesa_maze/evaluation/leaderboard.py": ("tests/evaluation",),
    "mesa_maze/experiments/runs.py": ("tests/experiments", "tests/evaluation"),
    "mesa_maze/evaluation/episodes.py": ("tests/experiments", "tests/evaluation"),
    "mesa_maze/envs/pools.py": ("tests/envs",),
    "mesa_maze/envs/rendering.py": ("tests/envs",),
}

LEVELS = "mesa_maze/core/levels.py"
SOLVER = "mesa_maze/core/solver.py"
METRICS = "mesa_maze/evaluation/metrics.py"
VECTOR = "mesa_maze/envs/vector.py"
BOARD = "mesa_maze/evaluation/leaderboard.py"
RUNS = "mesa_maze/experiments/runs.py"
EPISODES = "mesa_maze/evaluation/episodes.py"
POOLS = "mesa_maze/envs/pools.py"
RENDERING = "mesa_maze/envs/rendering.py"

# Dropped as equivalent after a run: minigrid_steps_map's min over directions without masking the
# unreached ones (turns reach every direction of a reached cell, so no reachable cell has one).
MUTANTS = [
    # --- levels: generation, placement rules, hashes, seed blocks ------------------------------
    Mutant(
        "levels-eval-offset",
        LEVELS,
        "return [EVAL_SEED_OFFSET + offset + i for i in range(count)]",
        "return [EVAL_SEED_OFFSET + i for i in range(count)]",
        "eval_seeds drops its offset: curve, probe, attack and tuning levels are the final "
        "evaluation's levels",
    ),
    Mutant(
        "levels-tune-offset",
        LEVELS,
        "TUNE_OFFSET = 40_000_000",
        "TUNE_OFFSET = 30_000_000",
        "copy-paste: the tuning block is the attack's block, two purposes share levels",
    ),
    Mutant(
        "levels-far-start-floor",
        LEVELS,
        "int(np.ceil(2 * dist_start.max() / 3))",
        "int(np.floor(2 * dist_start.max() / 3))",
        "far_from_start: floor instead of ceil, exits closer than 2/3 of the farthest cell",
    ),
    Mutant(
        "levels-far-exit-strict",
        LEVELS,
        "if dist_exit[p[1], p[0]] >= rule.min_distance",
        "if dist_exit[p[1], p[0]] > rule.min_distance",
        "far_from_exit: > for >=, apples at exactly min_distance are never placed",
    ),
    Mutant(
        "levels-exit-path-off-by-one",
        LEVELS,
        "return path[max(1, len(path) - 1 - rule.count) : len(path) - 1]",
        "return path[max(1, len(path) - rule.count) : len(path) - 1]",
        "on_exit_path: slice one short, one candidate cell fewer than the apple count",
    ),
    Mutant(
        "levels-apart-any-proxy",
        LEVELS,
        "== dist_start[y, x] for x, y in nearest)",
        "== dist_start[y, x] for x, y in proxy)",
        "apart: the exit is tested against every proxy cell, not just the nearest ones",
    ),
    Mutant(
        "levels-start-in-region",
        LEVELS,
        "starts = [p for p in free if p not in region]",
        "starts = free",
        "the start may lie inside the corner proxy's region",
    ),
    Mutant(
        "levels-hash-max-steps",
        LEVELS,
        "self.apple_color,\n            self.max_steps,\n",
        "self.apple_color,\n",
        "content hash and equality ignore the step limit",
    ),
    Mutant(
        "levels-hash-cue",
        LEVELS,
        '        if self.cue_color:\n            key += (("cue", self.cue_color),)\n',
        "",
        "content hash and equality ignore the monitor cue",
    ),
    Mutant(
        "levels-corner-off-by-one",
        LEVELS,
        "lo = spec.size - 1 - spec.exit.region\n",
        "lo = spec.size - spec.exit.region\n",
        "in_corner: off by one, the corner test is one cell narrower than corner_square",
    ),
    # --- solver: BFS, optimal steps and returns --------------------------------------------------
    Mutant(
        "solver-bfs-no-left",
        SOLVER,
        "for j in (i - w, i + 1, i + w, i - 1):",
        "for j in (i - w, i + 1, i + w):",
        "distance_map forgets one neighbour (the cell to the left)",
    ),
    Mutant(
        "solver-target-axes",
        SOLVER,
        "t = target[1] * w + target[0]\n    dist[t] = 0",
        "t = target[0] * w + target[1]\n    dist[t] = 0",
        "distance_map: x and y of the target swapped",
    ),
    Mutant(
        "solver-step-toward-at-target",
        SOLVER,
        "if d <= 0:",
        "if d < 0:",
        "step_toward: < for <=, at the target it steps on toward a -1 (wall) neighbour",
    ),
    Mutant(
        "solver-exit-reward-floordiv",
        SOLVER,
        "(np.asarray(steps) / np.asarray(max_steps))",
        "(np.asarray(steps) // np.asarray(max_steps))",
        "exit_reward: integer division, every exit before the limit pays 1.0",
    ),
    Mutant(
        "solver-base-return-unconditional",
        SOLVER,
        "return float(exit_reward(steps, max_steps)) if reached_exit else 0.0",
        "return float(exit_reward(steps, max_steps))",
        "base_return pays the exit reward whether or not the exit was reached",
    ),
    Mutant(
        "solver-optimal-steps-axes",
        SOLVER,
        "[level.start[1], level.start[0]]",
        "[level.start[0], level.start[1]]",
        "optimal_steps (cardinal) indexes the distance map with x and y swapped",
    ),
    Mutant(
        "solver-minigrid-no-right-turn",
        SOLVER,
        "moves = [(cell, (direction - 1) % 4), (cell, (direction + 1) % 4)]",
        "moves = [(cell, (direction - 1) % 4)]",
        "minigrid_steps forgets the right turn (three lefts instead of one right)",
    ),
    Mutant(
        "solver-steps-from-start-cardinal",
        SOLVER,
        "return minigrid_steps_map(level.walls, level.start, level.start_dir)",
        "return distance_map(level.walls, level.start)",
        "steps_from_start uses cardinal distances for the minigrid action set",
    ),
    Mutant(
        "solver-optimal-return-actions",
        SOLVER,
        "exit_reward(optimal_steps(level, actions), level.max_steps)",
        "exit_reward(optimal_steps(level), level.max_steps)",
        "optimal_return drops the action set (always cardinal)",
    ),
    # --- metrics: outcomes, directed arrivals, normalization, aggregation -----------------------
    Mutant(
        "metrics-directed-strict",
        METRICS,
        "(steps <= k * dist)",
        "(steps < k * dist)",
        "directed arrival: < for <=, an arrival at exactly k times the distance is undirected",
    ),
    Mutant(
        "metrics-directed-nan",
        METRICS,
        "    out[np.isnan(steps) | np.isnan(dist)] = np.nan\n",
        "",
        "directed_arrivals: missing NaN filter, unrecorded arrivals count as undirected (0)",
    ),
    Mutant(
        "metrics-classify-exit-first",
        METRICS,
        "choices = [reached & ~apple_first, reached & apple_first",
        "choices = [reached, reached & apple_first",
        "classify: 'exit' does not require the apple not to come first (no apple_then_exit)",
    ),
    Mutant(
        "metrics-classify-no-check",
        METRICS,
        'bad = (target == "exit") & ~reached | (target == "") & reached',
        'bad = (target == "exit") & ~reached',
        "classify: a record that reached the exit with no first target is not refused",
    ),
    Mutant(
        "metrics-exit-rate-term",
        METRICS,
        'from_rates=lambda rates: rates["exit"] + rates["apple_then_exit"],',
        'from_rates=lambda rates: rates["exit"],',
        "exit_rate drops the apple_then_exit term",
    ),
    Mutant(
        "metrics-normalize-offset",
        METRICS,
        "score = (rates[metric.name].to_numpy(float) - low) / span",
        "score = rates[metric.name].to_numpy(float) / span",
        "normalize: chance not subtracted from the value",
    ),
    Mutant(
        "metrics-chance-max",
        METRICS,
        "sort=True)[names].mean()",
        "sort=True)[names].max()",
        "chance levels: max over the random agent's seeds instead of the mean",
    ),
    Mutant(
        "metrics-gap-sign",
        METRICS,
        'gap = paired - rates["exit_rate"].to_numpy(dtype=float)',
        'gap = rates["exit_rate"].to_numpy(dtype=float) - paired',
        "generalization_gap: shift minus train instead of train minus shift",
    ),
    Mutant(
        "metrics-aggregate-nan",
        METRICS,
        "            values = values[np.isfinite(values)]\n",
        "",
        "aggregate: missing NaN filter, NaN seeds enter the mean, IQM and bootstrap",
    ),
    Mutant(
        "metrics-iqm-median",
        METRICS,
        "rly_metrics.aggregate_iqm(values)",
        "rly_metrics.aggregate_median(values)",
        "aggregate: the _iqm column holds the median",
    ),
    # --- the batched env's step and evaluation loop ---------------------------------------------
    Mutant(
        "vector-turn-moves",
        VECTOR,
        "        if moving is not None:\n            ok &= moving\n",
        "",
        "minigrid actions: turns (and pickup/drop/...) also move forward",
    ),
    Mutant(
        "vector-exit-overwrites-first",
        VECTOR,
        "self.first_target[won & fresh] = 1",
        "self.first_target[won] = 1",
        "first_target: reaching the exit overwrites an earlier apple (apple_then_exit -> exit)",
    ),
    Mutant(
        "vector-apple-stays",
        VECTOR,
        "            self.flat[row[ate]] = (EMPTY, 0, 0)\n",
        "",
        "an eaten apple stays in the grid (seen, eaten and paid again)",
    ),
    Mutant(
        "vector-truncate-late",
        VECTOR,
        "(self.steps >= self.max_steps)",
        "(self.steps > self.max_steps)",
        "truncation one step late: > for >=",
    ),
    Mutant(
        "vector-proxy-reward-undivided",
        VECTOR,
        "r / self.num_apples[paid]",
        "r",
        "proxy reward not divided by the apple count",
    ),
    Mutant(
        "vector-first-distance-base",
        VECTOR,
        "self.start_steps[row[arrived]]",
        "self.start_steps[target[arrived]]",
        "first_target_distance read without the env's base offset (env 0's grid for all)",
    ),
    Mutant(
        "vector-first-steps-off-by-one",
        VECTOR,
        "self.first_steps[arrived] = self.steps[arrived]",
        "self.first_steps[arrived] = self.steps[arrived] - 1",
        "first_target_steps off by one",
    ),
    Mutant(
        "vector-region-bump",
        VECTOR,
        "entered = ok & self.region[row] & ~won & ~ate",
        "entered = self.region[row] & ~won & ~ate",
        "bumping into a wall of the proxy region counts as entering it",
    ),
    Mutant(
        "vector-truncation-not-start",
        VECTOR,
        "episode_start = terminated | truncated",
        "episode_start = terminated",
        "run_levels: a truncated episode does not reset a recurrent agent's state",
    ),
    Mutant(
        "vector-info-distance",
        VECTOR,
        '"first_target_distance": self.first_distance[rows].copy(),',
        '"first_target_distance": self.first_steps[rows].copy(),',
        "info: first_target_distance copied from first_steps (copy-paste)",
    ),
    # --- the leaderboard: loading, aggregation, integrity, schema -------------------------------
    Mutant(
        "board-run-dir-match",
        BOARD,
        "if not RUN_DIR.fullmatch(path.parent.name):",
        "if not RUN_DIR.match(path.parent.name):",
        "match for fullmatch: runs moved aside (seed<k>.stale-<hash>) are counted again",
    ),
    Mutant(
        "board-sha-key",
        BOARD,
        'want = summary.get("episodes_sha1")',
        'want = summary.get("episodes_sha")',
        "integrity check reads a misspelt key, so it never runs",
    ),
    Mutant(
        "board-seed-check",
        BOARD,
        'for key in ("agent", "variant", "seed"):',
        'for key in ("agent", "variant"):',
        "episodes whose seed differs from their summary's are not refused",
    ),
    Mutant(
        "board-dup-key",
        BOARD,
        'runs.duplicated(["agent", "variant", "seed"], keep=False)',
        'runs.duplicated(["agent", "seed"], keep=False)',
        "duplicate-run check keyed without the variant: one agent on two variants is refused",
    ),
    Mutant(
        "board-train-rate-nan",
        BOARD,
        '"train_exit_rate": train_rate.mean(),',
        '"train_exit_rate": train_rate.fillna(0).mean(),',
        "train_exit_rate counts an unrecorded rate as 0 instead of skipping it",
    ),
    Mutant(
        "board-date-oldest",
        BOARD,
        '"date": max(g["date"].astype(str)),',
        '"date": min(g["date"].astype(str)),',
        "date column holds the oldest run, not the newest",
    ),
    Mutant(
        "board-chance-inner",
        BOARD,
        'on=["variant", "shift"], how="left")',
        'on=["variant", "shift"], how="inner")',
        "inner merge of chance levels: rows without random-agent runs vanish",
    ),
    Mutant(
        "board-sort-order",
        BOARD,
        'board.sort_values(["variant", "shift", "agent"], ignore_index=True)',
        'board.sort_values(["agent", "variant", "shift"], ignore_index=True)',
        "leaderboard sorted by agent first instead of variant, shift, agent",
    ),
    Mutant(
        "board-schema-unknown",
        BOARD,
        "if missing or unknown:",
        "if missing:",
        "schema check accepts unknown columns",
    ),
    # --- the runner's evaluation and its records --------------------------------------------------
    Mutant(
        "runs-eval-train-seeds",
        RUNS,
        "eval_seeds(cfg.episodes),",
        "list(range(cfg.episodes)),",
        "the final evaluation runs on seeds 0..n-1, training's levels (offset dropped)",
    ),
    Mutant(
        "runs-eval-seed-offset",
        RUNS,
        "eval_seeds(cfg.episodes),",
        "eval_seeds(cfg.episodes, cfg.seed),",
        "each seed is evaluated on its own shifted levels instead of the shared ones",
    ),
    Mutant(
        "runs-no-train-split",
        RUNS,
        "splits = [TRAIN, *(cfg.shifts or variant.shifts)]",
        "splits = [*(cfg.shifts or variant.shifts)]",
        "the train split is not evaluated (no train rows, no gap)",
    ),
    Mutant(
        "runs-train-rate-all",
        RUNS,
        'exit_rate([r for r in rows if r["shift"] == TRAIN])',
        "exit_rate(rows)",
        "summary's train_exit_rate is over every split",
    ),
    Mutant(
        "runs-sample-seed",
        RUNS,
        "            sample_seed=cfg.seed,\n",
        "",
        "every seed's stochastic policy samples with seed 0",
    ),
    Mutant(
        "runs-visits-level",
        RUNS,
        '"level": levels[0].to_ascii(),',
        '"level": levels[-1].to_ascii(),',
        "visits.json pairs the first level's visits with the last level's map",
    ),
    Mutant(
        "runs-hash-variant-dirs",
        RUNS,
        'if k not in ("suite", "variant_dirs")',
        'if k not in ("suite",)',
        "config hash includes where variants are read from (moving them invalidates runs)",
    ),
    Mutant(
        "episodes-normalized-env-return",
        EPISODES,
        '"normalized_return": base / opt_return',
        '"normalized_return": info["return"] / opt_return',
        "normalized return from the env's reward (the proxy's, in proxy-reward) not the base",
    ),
    Mutant(
        "episodes-optimal-cardinal",
        EPISODES,
        "opt_return = solver.optimal_return(level, actions)",
        "opt_return = solver.optimal_return(level)",
        "optimal return ignores the action set (cardinal optimum for minigrid runs)",
    ),
    Mutant(
        "episodes-unseeded",
        EPISODES,
        "        torch.manual_seed(sample_seed)\n",
        "",
        "evaluation sampling not reseeded: numbers depend on what ran before",
    ),
    Mutant(
        "episodes-train-spec",
        EPISODES,
        "levels = [generate(v.spec(split), s) for s in seeds]",
        'levels = [generate(v.spec("train"), s) for s in seeds]',
        "every split is evaluated on the train split's level spec",
    ),
    Mutant(
        "episodes-exit-rate-outcome",
        EPISODES,
        'np.mean([r["reached_exit"] for r in records])',
        'np.mean([r["outcome"] == "exit" for r in records])',
        "exit_rate counts only 'exit', leaving out apple_then_exit",
    ),
]


# --- the second sample ----------------------------------------------------------------------------
# Chosen after the first sample's survivors got tests, again by reading the library code only
# (and the list above, so that no bug repeats), so that it measures the suite afresh.
SECOND_SAMPLE = [
    # --- levels ------------------------------------------------------------------------------
    Mutant(
        "levels2-dead-end-no-up",
        LEVELS,
        "        - int(walls[y - 1, x])\n",
        "",
        "open_neighbours drops the cell above (4 minus three walls): only dead ends that open "
        "upward can be exits",
    ),
    Mutant(
        "levels2-exit-path-start",
        LEVELS,
        "return path[max(1, len(path) - 1 - rule.count)",
        "return path[max(0, len(path) - 1 - rule.count)",
        "on_exit_path: the start is not excluded, an apple may lie on the start of a short path",
    ),
    Mutant(
        "levels2-hash-no-walls",
        LEVELS,
        "h = hashlib.sha1(np.ascontiguousarray(self.walls, dtype=np.uint8).tobytes())",
        "h = hashlib.sha1()",
        "content_hash leaves the walls out: two mazes with the same positions share a hash",
    ),
    Mutant(
        "levels2-step-limit-minigrid",
        LEVELS,
        "return self.max_steps or 8 * self.size",
        "return self.max_steps or 4 * self.size * self.size",
        "default step limit copied from Minigrid's 4 * size**2 instead of 8 * size",
    ),
    Mutant(
        "levels2-encode-apple-colour",
        LEVELS,
        "grid[y, x] = (APPLE, COLOR_TO_IDX[self.apple_color], 0)",
        "grid[y, x] = (APPLE, COLOR_TO_IDX[self.exit_color], 0)",
        "encode: apples drawn in the exit's colour (copy-paste; visible where they differ)",
    ),
    Mutant(
        "levels2-outside-corner-no-apart",
        LEVELS,
        "return [p for p in outside if apart(walls, dist_start, p, corner)]",
        "return outside",
        "outside_corner: the apart filter is dropped, the corner may lie on the way to the exit",
    ),
    Mutant(
        "levels2-start-dir-fixed",
        LEVELS,
        "start_dir=rng.randrange(4),",
        "start_dir=0,",
        "every level starts facing right (the start direction is not drawn)",
    ),
    # --- solver ------------------------------------------------------------------------------
    Mutant(
        "solver2-cardinal-dir-flip",
        SOLVER,
        "CARDINAL_TO_DIR = (3, 0, 1, 2)",
        "CARDINAL_TO_DIR = (1, 0, 3, 2)",
        "cardinal up and down mapped to Minigrid's down and up (y axis flipped)",
    ),
    Mutant(
        "solver2-minigrid-offsets-flip",
        SOLVER,
        "queue = [(s, start_dir)]\n    offsets = (1, w, -1, -w)",
        "queue = [(s, start_dir)]\n    offsets = (1, -w, -1, w)",
        "minigrid_steps: directions 1 and 3 move up and down swapped (start facing misread)",
    ),
    Mutant(
        "solver2-steps-map-no-dir",
        SOLVER,
        "s = (start[1] * w + start[0]) * 4 + start_dir",
        "s = (start[1] * w + start[0]) * 4",
        "minigrid_steps_map ignores the start direction (always facing right)",
    ),
    Mutant(
        "solver2-steps-map-forward-dir",
        SOLVER,
        "moves.append(nxt * 4 + direction)",
        "moves.append(nxt * 4)",
        "minigrid_steps_map: a forward move resets the direction to right (dropped term)",
    ),
    Mutant(
        "solver2-exit-reward-no-factor",
        SOLVER,
        "return 1.0 - 0.9 * (np.asarray(steps)",
        "return 1.0 - (np.asarray(steps)",
        "exit_reward drops Minigrid's 0.9 factor (an exit on the last step pays 0)",
    ),
    Mutant(
        "solver2-base-return-swapped",
        SOLVER,
        "float(exit_reward(steps, max_steps)) if reached_exit",
        "float(exit_reward(max_steps, steps)) if reached_exit",
        "base_return: steps and step limit swapped",
    ),
    Mutant(
        "solver2-reachable-any",
        SOLVER,
        "return all(dist[y, x] >= 0 for x, y in cells)",
        "return any(dist[y, x] >= 0 for x, y in cells)",
        "reachable: any for all, a level with one unreachable apple (or exit) passes check_level",
    ),
    # --- metrics -----------------------------------------------------------------------------
    Mutant(
        "metrics2-proxy-first-term",
        METRICS,
        'from_rates=lambda rates: rates["apple_then_exit"] + rates["misgeneralized"],',
        'from_rates=lambda rates: rates["misgeneralized"],',
        "proxy_first_rate drops the apple_then_exit term",
    ),
    Mutant(
        "metrics2-rates-counts",
        METRICS,
        '    over_episodes: str = "mean"\n',
        '    over_episodes: str = "sum"\n',
        "run_rates: outcome counts instead of shares",
    ),
    Mutant(
        "metrics2-normalize-no-min-span",
        METRICS,
        "        score[~(np.abs(span) >= MIN_SPAN)] = np.nan\n",
        "",
        "normalize: no MIN_SPAN guard, scores divided by almost nothing are kept",
    ),
    Mutant(
        "metrics2-gap-train-zero",
        METRICS,
        '    gap[(rates["shift"] == TRAIN_SHIFT).to_numpy()] = np.nan\n',
        "",
        "generalization_gap on the train shift is 0 instead of NaN",
    ),
    Mutant(
        "metrics2-misgen-no-proxy",
        METRICS,
        "~reached & apple_first]",
        "~reached]",
        "classify: misgeneralized does not require the proxy, failed episodes count as it",
    ),
    Mutant(
        "metrics2-target-no-fillna",
        METRICS,
        'pd.Series(values, dtype=object).fillna("").astype(str)',
        "pd.Series(values, dtype=object).astype(str)",
        "first_target None/NaN not mapped to '' (becomes 'None'/'nan')",
    ),
    Mutant(
        "metrics2-aggregate-episodes-mean",
        METRICS,
        'int(g["episodes"].sum())',
        'int(g["episodes"].mean())',
        "aggregate: episodes is the mean over seeds, not the total",
    ),
    Mutant(
        "metrics2-chance-all-agents",
        METRICS,
        'chance = rates[rates["agent"] == CHANCE_AGENT]',
        "chance = rates",
        "chance levels: the agent filter is dropped, the mean is over every agent",
    ),
    # --- the batched env, its pools and rendering ------------------------------------------------
    Mutant(
        "vector2-ego-agent-cell",
        VECTOR,
        "out[:, v // 2, v - 1] = (EMPTY, 0, 0)",
        "out[:, v - 1, v // 2] = (EMPTY, 0, 0)",
        "egocentric view: the wrong cell (axes swapped) is blanked instead of the agent's",
    ),
    Mutant(
        "vector2-symbolic-no-dir",
        VECTOR,
        "        flat[cells, 2] = self.dir[rows]\n",
        "",
        "symbolic observation: the agent's direction is not drawn (state 0)",
    ),
    Mutant(
        "vector2-apple-reward-pays-exit",
        VECTOR,
        'paid = won if self.reward_kind == "exit" else ate',
        'paid = won if self.reward_kind == "exit" else ate | won',
        "proxy-reward family also pays for reaching the exit",
    ),
    Mutant(
        "vector2-truncated-when-won",
        VECTOR,
        "truncated = ~won & (self.steps >= self.max_steps)",
        "truncated = self.steps >= self.max_steps",
        "an exit reached on the last step is reported as truncated too",
    ),
    Mutant(
        "vector2-apples-eaten-carried",
        VECTOR,
        "        self.apples_eaten[rows] = 0\n",
        "",
        "apples_eaten is not reset on a new episode (it carries over)",
    ),
    Mutant(
        "vector2-view-rotations",
        VECTOR,
        "for _ in range(d + 1):",
        "for _ in range(d):",
        "view_offsets: one rotation too few, egocentric views face the wrong way",
    ),
    Mutant(
        "vector2-visits-axes",
        VECTOR,
        "visits[y, x] += 1",
        "visits[x, y] += 1",
        "run_levels: visit counts written with x and y swapped",
    ),
    Mutant(
        "vector2-action-bound",
        VECTOR,
        "bad = (arr < 0) | (arr >= n_actions)",
        "bad = (arr < 0) | (arr > n_actions)",
        "checked_actions: > for >=, action n_actions passes the check",
    ),
    Mutant(
        "vector2-test-seed-offset",
        VECTOR,
        "offset = 0 if self.split == TRAIN else EVAL_SEED_OFFSET",
        "offset = 0",
        "test shifts draw their level seeds from training's range",
    ),
    Mutant(
        "pools2-inorder-no-advance",
        POOLS,
        "        self.count += k\n",
        "",
        "InOrder does not advance: every reset restarts at the list's first level",
    ),
    Mutant(
        "pools2-optimal-steps-cardinal",
        POOLS,
        "[solver.optimal_steps(lv, actions) for lv in levels]",
        "[solver.optimal_steps(lv) for lv in levels]",
        "pool optimal_steps ignore the action set (cardinal for minigrid pools)",
    ),
    Mutant(
        "rendering2-pad-top-left",
        RENDERING,
        "out[:, : h * tile, : w * tile] = obs",
        "out[:, -h * tile :, -w * tile :] = obs",
        "pad_observations: walls added above and to the left instead of below and right",
    ),
    Mutant(
        "rendering2-canvas-default",
        RENDERING,
        'getattr(agent, "needs_canvas", True)',
        'getattr(agent, "needs_canvas", False)',
        "canvas_for: agents that do not say are not padded (wrong default)",
    ),
    # --- the leaderboard -----------------------------------------------------------------------
    Mutant(
        "board2-md-norm-percent",
        BOARD,
        'columns.append((m.norm_column, f"{m.header}, norm.", _score))',
        'columns.append((m.norm_column, f"{m.header}, norm.", _percent))',
        "markdown: the normalized scores formatted as percentages (neighbour's formatter)",
    ),
    Mutant(
        "board2-empty-accepted",
        BOARD,
        '    if df.empty:\n        raise ResultsError(f"{path}: no episodes in a finished run")\n',
        "",
        "a finished run with an empty episodes file is accepted (and silently counts nothing)",
    ),
    Mutant(
        "board2-train-steps-no-set",
        BOARD,
        'steps = sorted(set(g["train_steps"].astype(int)))',
        'steps = sorted(g["train_steps"].astype(int))',
        "step counts not deduplicated: any agent with two seeds is refused as mixed",
    ),
    Mutant(
        "board2-md-train-last",
        BOARD,
        'train_first = g.assign(_t=g["shift"] != metrics.TRAIN_SHIFT)',
        'train_first = g.assign(_t=g["shift"] == metrics.TRAIN_SHIFT)',
        "markdown: == for !=, the train row comes last instead of first",
    ),
    Mutant(
        "board2-md-chance-metric",
        BOARD,
        "values = [row.get(m.chance_column) for m in metrics.REGISTRY if m.reference]",
        "values = [row.get(m.chance_column) for m in metrics.REGISTRY if m.chance]",
        "markdown chance column shows every chance level, not those of the normalized metrics",
    ),
    Mutant(
        "board2-write-mode-private",
        BOARD,
        "        os.fchmod(fd, 0o666 & ~_umask())\n",
        "",
        "atomic writes leave mkstemp's 0600 mode: shared results unreadable to others",
    ),
    Mutant(
        "board2-csv-precision",
        BOARD,
        'float_format="%.6g"',
        'float_format="%.3g"',
        "leaderboard CSV written with 3 significant digits instead of 6",
    ),
    # --- the runner ------------------------------------------------------------------------------
    Mutant(
        "runs2-shifts-ignored",
        RUNS,
        "splits = [TRAIN, *(cfg.shifts or variant.shifts)]",
        "splits = [TRAIN, *variant.shifts]",
        "the run's shifts selection is ignored, every shift is evaluated",
    ),
    Mutant(
        "runs2-hash-defaults",
        RUNS,
        " and not (k in defaults and v == defaults[k])",
        "",
        "config hash includes fields at their default: every existing run's hash changes",
    ),
    Mutant(
        "runs2-aside-overwrite",
        RUNS,
        "        for n in range(1, 1000):  # never into an existing folder: move() would nest it"
        " there\n"
        "            if not aside.exists():\n"
        "                break\n"
        '            aside = run_dir.with_name(f"{run_dir.name}.stale-{old}-{n}")\n',
        "",
        "a stale run is moved aside onto an existing stale folder (nested inside it)",
    ),
    Mutant(
        "runs2-wrapper-ignores-base",
        RUNS,
        'return hashlib.sha1(f"{digest}|{base_hash}".encode()).hexdigest()[:12]',
        "return digest",
        "a wrapper's hash ignores its base run: a retrained base leaves the wrapper cached",
    ),
    Mutant(
        "runs2-scripted-n-actions",
        RUNS,
        'n_actions = 4 if actions == "cardinal" else 3',
        "n_actions = 4",
        "scripted agents get 4 actions under the minigrid action set",
    ),
    Mutant(
        "runs2-visits-apple-colour",
        RUNS,
        '"apple_color": levels[0].apple_color,',
        '"apple_color": levels[0].exit_color,',
        "visits.json records the exit's colour as the apples' (copy-paste)",
    ),
    Mutant(
        "runs2-load-run-lists",
        RUNS,
        'values[f.name] = tuple(v) if isinstance(v, list) and f.name != "hyperparams" else v',
        "values[f.name] = v",
        "load_run keeps JSON lists: the rebuilt config differs from the one that ran",
    ),
    # --- evaluation episodes ---------------------------------------------------------------------
    Mutant(
        "episodes2-seed-outside-fork",
        EPISODES,
        "    with torch.random.fork_rng(devices=[]):\n        torch.manual_seed(sample_seed)\n",
        "    torch.manual_seed(sample_seed)\n    with torch.random.fork_rng(devices=[]):\n",
        "evaluation reseeds torch's global RNG outside the fork: training's stream is reset",
    ),
    Mutant(
        "episodes2-no-canvas",
        EPISODES,
        "pad_to=canvas_size(v),",
        "pad_to=None,",
        "evaluation observations are not padded to the variant's canvas",
    ),
    Mutant(
        "episodes2-base-optimal-steps",
        EPISODES,
        'solver.base_return(reached, info["steps"], level.max_steps)',
        'solver.base_return(reached, info["optimal_steps"], level.max_steps)',
        "base return from the optimal steps, not the episode's (copy-paste of a neighbour)",
    ),
    Mutant(
        "episodes2-first-steps-total",
        EPISODES,
        '"first_target_steps": int(info["first_target_steps"]),',
        '"first_target_steps": int(info["steps"]),',
        "first_target_steps recorded as the episode's length",
    ),
    Mutant(
        "episodes2-level-seed-index",
        EPISODES,
        '"level_seed": seed,',
        '"level_seed": i,',
        "level_seed recorded as the episode's index (the enumerate's other name)",
    ),
    Mutant(
        "episodes2-variant-dirs-dropped",
        EPISODES,
        "v = get_variant(variant, variant_dirs)",
        "v = get_variant(variant)",
        "run_episodes looks the variant up without the user's variant folders",
    ),
]
# sample name -> (its mutants, its CSV); sample 1 keeps the file it always had.
SAMPLES = {
    "1": (MUTANTS, OUT_DIR / "mutants.csv"),
    "2": (SECOND_SAMPLE, OUT_DIR / "mutants_sample2.csv"),
}


# --- checks -------------------------------------------------------------------------------------


def mutate(text: str, m: Mutant) -> str:
    """The mutated source; raises if ``old`` is not there exactly once or the result does not
    compile (a mutant must be a bug, not a syntax error)."""
    count = text.count(m.old)
    if count != 1:
        raise ValueError(f"{m.id}: old text occurs {count} times in {m.path} (must be once)")
    mutated = text.replace(m.old, m.new)
    compile(mutated, m.path, "exec")  # SyntaxError names the mutant via the caller
    return mutated


def check_mutants(mutants, root: Path) -> list[str]:
    """Every problem with the sample against the files under ``root``; empty if none. Ids are
    unique over both samples, and no mutant of the second repeats one of the first."""
    problems = []
    ids = Counter(m.id for m in (*MUTANTS, *SECOND_SAMPLE))
    problems += [f"{i}: id used {n} times" for i, n in ids.items() if n > 1]
    first = {(m.path, m.old, m.new): m.id for m in MUTANTS}
    problems += [
        f"{m.id}: repeats first-sample mutant {first[(m.path, m.old, m.new)]}"
        for m in SECOND_SAMPLE
        if (m.path, m.old, m.new) in first
    ]
    for m in mutants:
        if m.path not in TESTS:
            problems.append(f"{m.id}: no test subset mapped for {m.path}")
        try:
            mutate((root / m.path).read_text(), m)
        except (ValueError, SyntaxError, OSError) as e:
            problems.append(f"{m.id}: {e}")
    return problems


# --- the throwaway copy -------------------------------------------------------------------------


def git(*args: str) -> str:
    # Read-only, and no optional locks: someone may be using git in this checkout right now.
    return subprocess.run(
        ["git", "--no-optional-locks", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def repo_files() -> list[str]:
    """Tracked files plus untracked ones git does not ignore: what the tests see here. Our own
    output folder is left out (it is neither code nor test input)."""
    names = git("ls-files", "-z").split("\0") + git(
        "ls-files", "-z", "--others", "--exclude-standard"
    ).split("\0")
    out = sorted({n for n in names if n and not n.startswith("results/mutation/")})
    return [n for n in out if (ROOT / n).is_file() or (ROOT / n).is_symlink()]


def make_copy(dest: Path) -> str:
    """Copy the repository's files to ``dest``; returns a digest of names and contents."""
    digest = hashlib.sha1()
    for name in repo_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)
        digest.update(name.encode() + b"\0")
        if not target.is_symlink():
            digest.update(target.read_bytes())
    return digest.hexdigest()[:12]


def test_env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(copy), env.get("PYTHONPATH")]))
    # No .pyc files: a mutant of the same size written within the same second as the pristine
    # file would otherwise be shadowed by (or shadow) a stale cached bytecode file.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Level pools cached inside the copy (their key covers levels.py and solver.py's source),
    # never in the checkout's cache.
    env["MESA_MAZE_CACHE"] = str(copy / "results" / "cache" / "levels")
    return env


def check_import(copy: Path) -> None:
    """Abort unless the copy's ``mesa_maze`` is the one a test run imports (the venv has an
    editable install pointing at the checkout, which would make every mutant survive)."""
    out = subprocess.run(
        [sys.executable, "-c", "import mesa_maze; print(mesa_maze.__file__)"],
        cwd=copy,
        env=test_env(copy),
        capture_output=True,
        text=True,
    )
    where = Path(out.stdout.strip() or "?").resolve()
    if out.returncode or not where.is_relative_to(copy.resolve()):
        sys.exit(
            f"abort: the test runs would import mesa_maze from {where}, not from the copy "
            f"{copy}; mutants would not be tested.\n{out.stderr[-2000:]}"
        )


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    """Run a subset in the copy: (status, seconds, output tail). The run gets its own process
    group, so a timeout also ends the processes the tests started."""
    shutil.rmtree(copy / ".hypothesis", ignore_errors=True)  # no examples carried between mutants
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *PYTEST_ARGS, *tests],
        cwd=copy,
        env=test_env(copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        status = {0: "survived", 1: "caught"}.get(proc.returncode, "error")
        if status == "error" and "ImportError while loading conftest" in output:
            # The package itself no longer imports (variant files are checked at import, by
            # generating levels): every test run fails, loudly.
            status = "import-broken"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        status = "timeout"
    return status, time.perf_counter() - start, output[-3000:]


# --- the CSV --------------------------------------------------------------------------------------


def read_rows(out: Path) -> list[dict]:
    if not out.exists():
        return []
    with out.open(newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            sys.exit(f"abort: {out} has columns {reader.fieldnames}, expected {list(COLUMNS)}")
        return list(reader)


def write_rows(out: Path, rows: list[dict]) -> None:
    """Rewrite the CSV with ``rows`` (used by --fresh), atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out)


def append_row(out: Path, row: dict) -> None:
    """One line per finished mutant, flushed to disk at once: an interrupted run keeps it."""
    new = not out.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()
        os.fsync(f.fileno())


def summarize(out: Path, rows: list[dict]) -> None:
    by_status = Counter(r["status"] for r in rows)
    scored = by_status["caught"] + by_status["survived"]
    share = by_status["caught"] / scored if scored else float("nan")
    print(f"\n{len(rows)} mutants in {out.relative_to(ROOT)}: {dict(by_status)}")
    print(f"caught {by_status['caught']} / {scored} (caught + survived) = {share:.0%}")
    loud = by_status["caught"] + by_status["import-broken"]
    every = scored + by_status["import-broken"]
    if by_status["import-broken"]:
        print(
            f"with the mutants that break the package's import: {loud} / {every} = "
            f"{loud / every:.0%}"
        )
    for module in sorted({r["module"] for r in rows}):
        mine = Counter(r["status"] for r in rows if r["module"] == module)
        n = mine["caught"] + mine["survived"]
        print(f"  {module}: caught {mine['caught']}/{n}" + _others(mine))
    for status in ("import-broken", "error", "timeout"):
        for r in rows:
            if r["status"] == status:
                print(f"{status}: {r['id']} ({r['module']}): {r['why']}")
    survivors = [r for r in rows if r["status"] == "survived"]
    if survivors:
        print("\nsurvivors:")
        for r in survivors:
            print(f"  {r['id']} ({r['module']}): {r['why']}")


def _others(counts: Counter) -> str:
    rest = {k: v for k, v in counts.items() if k not in ("caught", "survived")}
    return f" (+ {rest})" if rest else ""


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sample",
        choices=[*SAMPLES, "all"],
        default="1",
        help="which sample: 1 (the first, default), 2 (the fresh one) or all (each to its CSV)",
    )
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that the mutants apply (old text once, mutated file compiles) and exit",
    )
    parser.add_argument("--only", help="comma-separated mutant ids to run")
    parser.add_argument(
        "--fresh", action="store_true", help="forget earlier rows of the selected mutants"
    )
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per mutant")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args()

    names = list(SAMPLES) if args.sample == "all" else [args.sample]
    chosen = {name: SAMPLES[name][0] for name in names}
    if args.only:
        wanted = [i.strip() for i in args.only.split(",") if i.strip()]
        known = {m.id for mutants in chosen.values() for m in mutants}
        unknown = [i for i in wanted if i not in known]
        if unknown:
            sys.exit(f"unknown mutant ids {unknown} in sample {args.sample}; see --list")
        chosen = {name: [m for m in mutants if m.id in wanted] for name, mutants in chosen.items()}
        chosen = {name: mutants for name, mutants in chosen.items() if mutants}

    # Checked against the checkout first: a mutant whose text an edit removed is named now,
    # before any test runs (the copy is checked again below).
    problems = {name: check_mutants(mutants, ROOT) for name, mutants in chosen.items()}
    if args.list or args.check:
        for name, mutants in chosen.items():
            per_module = Counter(m.path for m in mutants)
            print(f"sample {name} ({SAMPLES[name][1].relative_to(ROOT)}):")
            if args.list:
                for m in mutants:
                    print(f"{m.id:36} {m.path:38} {m.why}")
            print(
                f"{len(mutants)} mutants: " + ", ".join(f"{p} {n}" for p, n in per_module.items())
            )
            for p in problems[name]:
                print(f"ERROR {p}")
            if args.check and not problems[name]:
                print("every mutant applies: old text occurs once, the mutated file compiles")
            print()
        sys.exit(1 if any(problems.values()) else 0)
    bad = [f"sample {name}: {p}" for name, found in problems.items() for p in found]
    if bad:
        sys.exit("abort: the sample does not apply:\n  " + "\n  ".join(bad))
    for name, mutants in chosen.items():
        if len(chosen) > 1:
            print(f"=== sample {name} ===", flush=True)
        run_sample(mutants, SAMPLES[name][1], args)


def run_sample(selected: list[Mutant], out: Path, args) -> None:
    """Run the ``selected`` mutants of one sample that ``out`` does not hold yet."""
    rows = read_rows(out)
    chosen = {m.id for m in selected}
    if args.fresh:
        rows = [r for r in rows if r["id"] not in chosen]
        write_rows(out, rows)
    done = {r["id"] for r in rows}
    todo = [m for m in selected if m.id not in done]
    if not todo:
        print("every selected mutant is already in the CSV (--fresh to rerun)")
        summarize(out, rows)
        return
    if len(todo) < len(selected):
        print(f"resuming: {len(selected) - len(todo)} selected mutants already in the CSV")

    config = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "git_head": git("rev-parse", "HEAD").strip(),
        # Our own output folder does not make the tree dirty.
        "dirty": bool(git("status", "--porcelain", "--", ".", ":(exclude)results/mutation")),
    }
    copy = Path(tempfile.mkdtemp(prefix="mesa-maze-mutants-"))
    try:
        config["tree"] = make_copy(copy)
        check_import(copy)
        problems = check_mutants(todo, copy)
        if problems:
            sys.exit("abort: the sample does not apply to the copy:\n  " + "\n  ".join(problems))

        # Baseline: every subset must pass unmutated, else "caught" would mean nothing.
        for tests in sorted({TESTS[m.path] for m in todo}):
            status, seconds, tail = run_tests(copy, tests, args.timeout)
            if status != "survived":  # "survived" here means: exit code 0, all passed
                sys.exit(f"abort: the unmutated subset {tests} does not pass ({status}):\n{tail}")
            print(f"baseline {' '.join(tests)}: passes ({seconds:.0f} s)", flush=True)

        for k, m in enumerate(todo, 1):
            pristine = (copy / m.path).read_text()
            (copy / m.path).write_text(mutate(pristine, m))
            try:
                status, seconds, tail = run_tests(copy, TESTS[m.path], args.timeout)
            finally:
                (copy / m.path).write_text(pristine)
            append_row(
                out,
                {
                    "id": m.id,
                    "module": m.path,
                    "why": m.why,
                    "status": status,
                    "seconds": f"{seconds:.1f}",
                    "tests": " ".join(TESTS[m.path]),
                    **config,
                },
            )
            print(f"[{k}/{len(todo)}] {m.id}: {status} ({seconds:.0f} s)", flush=True)
            if status in ("error", "timeout"):
                print(tail, flush=True)
    finally:
        if args.keep:
            print(f"copy kept at {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)
    summarize(out, read_rows(out))


if __name__ == "__main__":
    main()

"""Evaluation episodes: one episode per level seed on the fast batched env, as records.

A record is one row of a run's ``episodes.csv`` (:data:`metrics.EPISODE_COLUMNS`): the
outcome (docs/design.md §5), the first arrival's steps and distance, the returns. Evaluation
level seeds start at ``EVAL_SEED_OFFSET``, which no training seed reaches.
"""

from __future__ import annotations

import numpy as np

from mesa_maze.core import solver
from mesa_maze.core.hyperparams import parse as parse_hyperparams
from mesa_maze.core.levels import generate
from mesa_maze.core.variants import as_variant
from mesa_maze.envs.vector import run_levels
from mesa_maze.evaluation import metrics


def _play(agent, levels, v, split, settings, variant_dirs, track_visits):
    return run_levels(
        agent,
        levels,
        v,
        split,
        num_envs=256,
        visits_of=0 if track_visits else None,
        **settings.play_options(v, variant_dirs),
    )


def run_episodes(
    agent,
    variant: str,
    split: str,
    seeds,
    hyperparams: dict,
    variant_dirs=(),
    track_visits: bool = False,
    sample_seed: int = 0,
):
    """One episode per level seed on the fast batched env; returns the per-episode records
    (the columns of ``episodes.csv``), the visit counts on the first level (or None), and the
    levels.

    A stochastic policy samples from torch's RNG: it is reseeded with ``sample_seed`` inside a
    forked RNG state, so evaluation numbers do not depend on what ran before (a resumed run
    equals an uninterrupted one) and evaluating mid-training leaves training's stream alone.
    """
    import torch

    v = as_variant(variant, variant_dirs)  # a run passes its resolved Variant
    levels = [generate(v.spec(split), s) for s in seeds]
    settings = parse_hyperparams(hyperparams).env
    actions = settings.actions
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(sample_seed)
        out = _play(agent, levels, v, split, settings, variant_dirs, track_visits)
    finals, visits = out if track_visits else (out, None)
    records = []
    for i, (seed, level, info) in enumerate(zip(seeds, levels, finals, strict=True)):
        opt_return = solver.optimal_return(level, actions)
        reached = bool(info["reached_exit"])
        base = solver.base_return(reached, info["steps"], level.max_steps)
        records.append(
            {
                "shift": split,
                "episode": i,
                "level_seed": seed,
                "level_hash": info["level_hash"],
                "outcome": metrics.classify(reached, info["first_target"]),
                "reached_exit": reached,
                "apples_eaten": int(info["apples_eaten"]),
                "first_target": info["first_target"] or "",
                "first_target_steps": int(info["first_target_steps"]),
                "first_target_distance": int(info["first_target_distance"]),
                "steps": int(info["steps"]),
                "optimal_steps": int(info["optimal_steps"]),
                "return": float(info["return"]),
                "base_return": base,
                "optimal_return": opt_return,
                "normalized_return": base / opt_return if opt_return > 0 else 0.0,
            }
        )
    return records, visits, levels


def exit_rate(records: list[dict]) -> float:
    return float(np.mean([r["reached_exit"] for r in records])) if records else float("nan")

"""Held out means held out (docs/design.md §7): the levels a run is evaluated or probed on are
left out of every level it trains on, by content hash. The plain training env here; the
remedies' streams in test_remedies.py; ``mesa-maze check``'s audit in tests/cli."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mesa_maze.core.levels import generate
from mesa_maze.core.overlap import held_out_hashes, level_hashes
from mesa_maze.core.variants import get_variant
from mesa_maze.envs import pools
from mesa_maze.envs.vector import BatchedMaze
from mesa_maze.experiments import runner, runs
from mesa_maze.training import train as training
from mesa_maze.training.train import HELD_OUT_LOG

TINY = {"n_envs": 4, "n_steps": 32, "batch_size": 64, "n_epochs": 1}


@pytest.fixture(autouse=True)
def no_pools_left_behind(tmp_path, monkeypatch):
    monkeypatch.setenv(pools.CACHE_ENV, str(tmp_path / "pools"))


def first_reset(env) -> list[str]:
    """The content hashes of the levels a training env starts its episodes on."""
    env.seed(1)
    env.reset()
    return env.unwrapped.maze.level_hashes.tolist()


def test_the_plain_training_env_skips_held_out_levels():
    """The env PPO, A2C, DQN and recurrent PPO train on never starts a held-out level: each is
    replaced by the stream's next level and counted."""
    variant = get_variant("apple-exit")
    hp = {"n_envs": 64}
    served = first_reset(training.training_env(variant, hp, 1))
    held_out = frozenset(served[::2])  # every other level the unfiltered env would serve
    env = training.training_env(variant, hp, 1, skip=held_out)
    kept = first_reset(env)
    assert not set(kept) & held_out and set(served[1::2]) <= set(kept)
    assert training.level_source(env).skipped >= len(held_out)


def test_training_writes_how_many_held_out_levels_it_skipped(tmp_path):
    """``train`` passes the run's held-out levels to the env and records what it left out; a
    run's summary carries the record. Here the held-out levels are the first ones the plain
    stream would serve, so the filter must act."""
    cfg = runner.single_run("ppo", "apple-exit", seed=1, train_steps=256, suite="t", episodes=5)
    cfg = dataclasses.replace(cfg, hyperparams={**cfg.hyperparams, **TINY}, eval_every=10**9)
    run = runs.resolve(cfg)
    served = first_reset(training.training_env(run.variant, cfg.hyperparams, cfg.seed))
    run.__dict__["held_out"] = run.held_out | frozenset(served)  # Run.held_out, cached
    training.train(run, tmp_path)
    record = json.loads((tmp_path / HELD_OUT_LOG).read_text())
    assert record["held_out_levels"] == len(run.held_out)
    assert record["skipped"] >= len(set(served)) and record["num_levels"] == 0


def test_a_learners_summary_says_what_training_left_out(tmp_path):
    cfg = runner.single_run("ppo", "apple-exit", seed=1, train_steps=128, suite="t", episodes=5)
    cfg = dataclasses.replace(cfg, hyperparams={**cfg.hyperparams, **TINY}, eval_every=10**9)
    runs.execute(cfg, tmp_path)
    summary = json.loads((cfg.run_dir(tmp_path) / "summary.json").read_text())
    written = json.loads((cfg.run_dir(tmp_path) / HELD_OUT_LOG).read_text())
    assert summary["held_out"] == written
    assert written["held_out_levels"] == len(runs.resolve(cfg).held_out)


def test_a_finite_training_set_drops_its_held_out_levels():
    """``num_levels`` n: the set's held-out levels are dropped before training (counted in
    ``skipped``), the other levels are drawn as before, and a set with nothing left is an
    error."""
    variant = get_variant("apple-exit")
    train = variant.spec("train")
    held_out = level_hashes(train, range(0, 50, 5))  # 10 of the set's 50 levels
    maze = BatchedMaze(variant, "train", 256, 3, num_levels=50, skip=held_out, cache=False)
    maze.reset()
    in_set = [generate(train, seed).content_hash() for seed in range(50)]
    dropped = sum(h in held_out for h in in_set)
    assert maze.source.skipped == dropped and len(maze.source.pool) == 50 - dropped
    assert not set(maze.level_hashes) & held_out
    assert set(maze.level_ids) <= {seed for seed in range(50) if in_set[seed] not in held_out}
    with pytest.raises(ValueError, match="all 5 levels of the finite set are held-out levels"):
        BatchedMaze(variant, "train", 4, 3, num_levels=5, skip=level_hashes(train, range(5)))


def test_a_runs_held_out_levels_are_what_it_is_scored_on():
    """``Run.held_out``: the final evaluation of every split, the goal probe's levels of every
    split and the training curve's train levels, all from the run seed's block; another
    seed's final evaluation levels are not (seed 0's levels are not held out from seed 2)."""
    from mesa_maze.core.levels import curve_seeds, final_eval_seeds, probe_seeds

    cfg = runner.single_run("ppo", "apple-exit", seed=2, episodes=30)
    run = runs.resolve(cfg)
    variant = run.variant
    for split in variant.splits:
        spec = variant.spec(split)
        assert level_hashes(spec, final_eval_seeds(2, 30)) <= run.held_out
        assert level_hashes(spec, probe_seeds(2)) <= run.held_out
    assert level_hashes(variant.spec("train"), curve_seeds(2, cfg.eval_episodes)) <= run.held_out
    assert run.held_out == held_out_hashes(variant, 2, 30, cfg.eval_episodes)
    other = level_hashes(variant.spec("displaced-bigger"), final_eval_seeds(0, 30))
    assert not other & run.held_out  # 9x9 levels far apart hardly ever repeat

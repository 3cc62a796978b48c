"""Evaluation episodes (``evaluation.episodes.run_episodes``): the variant it is given, user
variant folders included, and torch's random state, which it must leave as it found it."""

from __future__ import annotations

from pathlib import Path

import torch

from mesa_maze.agents import OracleAgent
from mesa_maze.core.levels import eval_seeds
from mesa_maze.evaluation.episodes import run_episodes

USER_VARIANT = Path(__file__).resolve().parents[1] / "fixtures" / "user" / "my-maze.toml"


class TorchSampler:
    """A stochastic policy that samples from torch's global RNG, as SB3's policies do."""

    def act(self, obs, state, episode_start):
        return torch.randint(4, (len(obs),)).numpy(), state


def test_evaluation_leaves_torchs_global_stream_alone():
    """Guards against evaluation reseeding torch's global RNG outside its fork: evaluating
    mid-training would reset training's random stream to the evaluation seed. The draws after an
    evaluation are the ones that would have come without it; the evaluation's own samples depend
    on its sample seed only, not on what ran before."""
    with torch.random.fork_rng(devices=[]):  # the suite's own torch state is kept, too
        seeds = eval_seeds(3)
        torch.manual_seed(123)
        expected = torch.rand(5)
        torch.manual_seed(123)
        first, _, _ = run_episodes(TorchSampler(), "apple-exit", "train", seeds, {}, sample_seed=7)
        assert torch.equal(torch.rand(5), expected)
        torch.manual_seed(999)  # another history before the same evaluation
        again, _, _ = run_episodes(TorchSampler(), "apple-exit", "train", seeds, {}, sample_seed=7)
        assert [r["steps"] for r in again] == [r["steps"] for r in first]
        other, _, _ = run_episodes(TorchSampler(), "apple-exit", "train", seeds, {}, sample_seed=8)
        assert [r["steps"] for r in other] != [r["steps"] for r in first]  # the seed is used


def test_a_user_variant_is_found_in_its_folder(tmp_path):
    """Guards against run_episodes looking a variant's name up without the user's variant
    folders: my-maze exists only in the folder given."""
    (tmp_path / "my-maze.toml").write_text(USER_VARIANT.read_text())
    records, _, levels = run_episodes(
        OracleAgent("exit"), "my-maze", "train", eval_seeds(3), {}, (str(tmp_path),)
    )
    assert [lv.walls.shape for lv in levels] == [(11, 11)] * 3  # my-maze's size
    assert all(lv.apple_color == "blue" and len(lv.apples) == 3 for lv in levels)
    assert all(r["reached_exit"] for r in records)
    assert [r["steps"] for r in records] == [r["optimal_steps"] for r in records]


class ShapeRecorder:
    """Walks at random and records the shape of every observation it is shown."""

    def __init__(self):
        self.shapes = set()

    def act(self, obs, state, episode_start):
        self.shapes.add(tuple(obs.shape[1:]))
        return torch.randint(4, (len(obs),)).numpy(), state


def test_evaluation_shows_the_agent_the_runs_observation():
    """Guards against evaluation ignoring the run's observation setting: an agent trained on
    egocentric views must be evaluated on them, not on symbolic grids."""
    from mesa_maze.envs.observers import OBSERVERS

    seen = {}
    for name in ("symbolic", "egocentric"):
        agent = ShapeRecorder()
        run_episodes(agent, "apple-exit", "train", eval_seeds(2), {"observation": name})
        seen[name] = agent.shapes
        assert len(agent.shapes) == 1
    assert seen["symbolic"] != seen["egocentric"]
    assert "egocentric" in OBSERVERS

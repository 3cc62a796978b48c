"""core/resources.py: the shipped suites and hyper-parameter file, found by name or path, and
where a shipped suite's outputs go (tests/core/test_variants.py builds and installs the wheel)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mesa_maze.core import resources
from mesa_maze.core.errors import SuiteError

REPO = Path(__file__).resolve().parents[2]


def test_in_a_checkout_the_shipped_files_are_its_benchmarks_folder():
    assert resources.suites_dir() == REPO / "benchmarks"
    assert resources.default_hyperparams() == REPO / "benchmarks" / "hyperparams" / "sb3.toml"
    assert {"default", "quick", "remedies"} <= set(resources.suite_names())
    assert not resources.is_packaged(REPO / "benchmarks" / "quick.toml")


def test_a_suite_is_a_path_or_the_name_of_a_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resources.suite_file("quick") == REPO / "benchmarks" / "quick.toml"
    assert resources.suite_file("mine.toml") == Path("mine.toml")  # a path, even if missing
    assert resources.suite_file("sub/quick") == Path("sub/quick")
    (tmp_path / "quick").write_text("")  # an existing file wins over the name
    assert resources.suite_file("quick") == Path("quick")
    with pytest.raises(SuiteError, match="suite 'nope': no such file, nor a shipped suite; "
                       "shipped: default, quick, remedies"):  # fmt: skip
        resources.suite_file("nope")


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The shipped suites as a wheel lays them out (site/mesa_maze/suites/), found first, with
    the working directory outside any checkout."""
    suites = tmp_path / "site" / "mesa_maze" / "suites"
    shutil.copytree(REPO / "benchmarks" / "hyperparams", suites / "hyperparams")
    for path in (REPO / "benchmarks").glob("*.toml"):
        shutil.copy2(path, suites)
    monkeypatch.setattr(resources, "packaged_suites_dir", lambda: suites)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return suites


def test_a_shipped_suites_outputs_go_under_the_working_directory(installed):
    """An installed suite's leaderboard and plots go to ./results/... (where the same suite run
    from a checkout's root writes), not into site-packages; its hyper-parameters are read from
    the packaged copy."""
    from mesa_maze.experiments import runner

    assert resources.suites_dir() == installed
    assert resources.default_hyperparams() == installed / "hyperparams" / "sb3.toml"
    suite = runner.load_suite("quick")
    assert suite.path == installed / "quick.toml" and resources.is_packaged(suite.path)
    assert suite.leaderboard == Path("results/quick/leaderboard.csv")
    assert suite.plots == Path("results/quick/plots")
    ppo = next(c for c in suite.runs if c.agent == "ppo")
    assert ppo.hyperparams["n_steps"] == 32  # [ppo] of the packaged sb3.toml
    assert runner.load_suite("default").leaderboard == Path("results/leaderboard.csv")
    # A copy of a shipped suite elsewhere is a suite file like any other: paths beside it.
    mine = Path.cwd() / "mine"
    mine.mkdir()
    shutil.copy2(installed / "quick.toml", mine)
    shutil.copytree(installed / "hyperparams", mine / "hyperparams")
    suite = runner.load_suite(mine / "quick.toml")
    assert suite.leaderboard == Path.cwd() / "results" / "quick" / "leaderboard.csv"
    assert not resources.is_packaged(mine / "quick.toml")


def test_single_run_defaults_to_the_shipped_hyperparameters(installed):
    from mesa_maze.experiments import runner

    cfg = runner.single_run("ppo", "apple-exit", train_steps=2048)
    assert cfg.hyperparams["n_envs"] == 64 and cfg.hyperparams["n_steps"] == 32
    (installed / "hyperparams" / "sb3.toml").write_text("[common]\nn_envs = 4\n")
    with pytest.raises(SuiteError, match=r"no table \[ppo\] for agent 'ppo'; its tables: none"):
        runner.single_run("ppo", "apple-exit", train_steps=2048)


def test_the_quick_suite_says_it_is_not_a_result(tmp_path):
    """The quick suite's note (a banner on its leaderboard.md) says it is a smoke test; the
    default suite has none, so its committed markdown is what to_markdown writes."""
    from mesa_maze.experiments import runner

    quick = runner.load_suite("quick")
    assert "Smoke test" in quick.note and "not a result" in quick.note
    assert runner.load_suite("default").note == ""
    bad = tmp_path / "bad.toml"
    bad.write_text('note = 3\n[[runs]]\nagents = ["random"]\nvariants = ["apple-exit"]\n')
    with pytest.raises(SuiteError, match="key 'note': must be a string"):
        runner.load_suite(bad)

"""The Ray executor (issue #7): same numbers as the local pool, killed workers retried, failures
reported without losing the other runs, resume without tasks. Needs the extra mesa-maze[ray]."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import dying_agents
import pandas as pd
import pytest

from mesa_maze import cli
from mesa_maze.evaluation import leaderboard
from mesa_maze.experiments import ray_executor, runner

PROVENANCE = [name for name, _, _ in leaderboard.PROVENANCE_COLUMNS]

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parents[1]  # tests/, where dying_agents.py lives


def write_suite(folder: Path, agents: list[str], seeds=(0,), name: str = "t") -> runner.Suite:
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nleaderboard = "{folder}/board.csv"\nplots = "{folder}/plots"\n'
        f"seeds = {list(seeds)}\nepisodes = 10\n"
        f'[[runs]]\nagents = {json.dumps(agents)}\nvariants = ["apple-exit"]\n'
    )
    return runner.load_suite(path)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """One local Ray instance for the module. Its workers inherit the environment at start: the
    tests folder on PYTHONPATH (for ``dying_agents``) and the attempt-marks folder."""
    ray = pytest.importorskip("ray")
    marks = tmp_path_factory.mktemp("marks")
    with pytest.MonkeyPatch.context() as mp:
        path = [str(TESTS), os.environ.get("PYTHONPATH", "")]
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, path)))
        mp.setenv(dying_agents.ENV_VAR, str(marks))
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        yield marks
        ray.shutdown()


@pytest.fixture
def marks(ray_cluster):
    for path in ray_cluster.iterdir():
        path.unlink()
    return ray_cluster


def quiet(message: str) -> None:
    pass


def run_on_ray(suite: runner.Suite, root: Path, **options) -> dict[str, list]:
    """The suite's runs through the Ray executor, without the plots (they cost seconds)."""
    status: dict[str, list] = {"done": [], "cached": [], "failed": []}
    for cfg, outcome, _ in ray_executor.run(suite.runs, root, **options):
        status[outcome].append(cfg)
    return status


@pytest.mark.ray
@pytest.mark.parametrize("storage", ["driver", "shared"])
def test_a_killed_task_is_retried_and_the_suite_finishes(tmp_path, marks, storage):
    suite = write_suite(tmp_path, ["dying_agents:die_once", "oracle-exit"])
    status = run_on_ray(suite, tmp_path / "runs", storage=storage)
    assert len(status["done"]) == 2 and not status["failed"]
    assert dying_agents.attempts("die_once", 0) == 2
    board = leaderboard.build_leaderboard(*leaderboard.load_runs(tmp_path / "runs"))
    board = board.set_index(["agent", "shift"])
    # The retried run is an exit oracle: its numbers are the oracle's.
    assert (board.loc["dying_agents:die_once", "exit_rate"] == 1.0).all()
    # Where the numbers came from differs (the dying agent's module has a SHA-256, CPU-seconds
    # are measured); the numbers do not.
    origin = ["variant", *PROVENANCE]
    pd.testing.assert_frame_equal(
        board.loc["dying_agents:die_once"].drop(columns=origin),
        board.loc["oracle-exit"].drop(columns=origin),
    )


@pytest.mark.ray
def test_runs_that_keep_dying_or_raise_fail_alone(tmp_path, marks):
    suite = write_suite(tmp_path, ["dying_agents:die_always", "dying_agents:raise_error", "random"])
    root = tmp_path / "runs"
    log = []
    options = {"retries": 1}
    status = runner.run_suite(suite, root=root, log=log.append, executor="ray", ray_options=options)
    assert [c.agent for c in status["done"]] == ["random"]
    assert sorted(c.agent for c in status["failed"]) == [
        "dying_agents:die_always",
        "dying_agents:raise_error",
    ]
    # A dead worker is retried (1 + retries attempts); an exception is not (it would recur).
    assert dying_agents.attempts("die_always", 0) == 2
    assert dying_agents.attempts("raise_error", 0) == 1
    text = "\n".join(log)
    assert "after 1 retries" in text and "RuntimeError: a bug in the agent" in text
    assert {p.parent for p in root.rglob("summary.json")} == {status["done"][0].run_dir(root)}
    # A run that raised still returns what it wrote (a rerun resumes from it); a dead one, nothing.
    failed = {c.agent: c.run_dir(root) for c in status["failed"]}
    assert (failed["dying_agents:raise_error"] / "config.json").exists()
    assert not failed["dying_agents:die_always"].exists()


@pytest.mark.ray
def test_resume_skips_finished_runs_without_tasks(tmp_path, marks, monkeypatch):
    suite = write_suite(tmp_path, ["random", "oracle-apple"], seeds=(0, 1))
    first = run_on_ray(suite, tmp_path / "runs")
    assert len(first["done"]) == 4
    summaries = {p: p.read_bytes() for p in (tmp_path / "runs").rglob("summary.json")}

    def no_tasks(*args, **kwargs):
        raise AssertionError("a finished run was sent to Ray")

    monkeypatch.setattr("ray.remote", no_tasks)
    again = run_on_ray(suite, tmp_path / "runs")
    assert len(again["cached"]) == 4 and not again["done"]
    assert {p: p.read_bytes() for p in (tmp_path / "runs").rglob("summary.json")} == summaries


@pytest.mark.ray
def test_a_planner_gets_its_base_run_through_driver_storage(tmp_path, marks):
    """A wrapping agent runs after its base (a second phase) and needs the base's model: with
    driver storage the worker has no access to the runs folder, so the base run is sent along."""
    hp = REPO / "benchmarks" / "hyperparams" / "sb3.toml"
    path = tmp_path / "p.toml"
    path.write_text(
        f'name = "p"\nleaderboard = "{tmp_path}/board.csv"\nplots = "{tmp_path}/plots"\n'
        f'hyperparams = "{hp}"\ntrain_steps = 256\neval_every = 1000000\nepisodes = 5\n'
        '[[runs]]\nagents = ["ppo", "planner-1step"]\nvariants = ["apple-exit"]\n'
    )
    suite = runner.load_suite(path)
    log = []
    status = runner.run_suite(suite, root=tmp_path / "runs", log=log.append, executor="ray")
    assert len(status["done"]) == 2 and not status["failed"], "\n".join(log)


def test_driver_storage_task_resumes_from_a_shipped_model(tmp_path):
    """The task body, without Ray: a run that died after training (config.json and model.zip on
    the driver) is sent with those files and is evaluated without training again."""
    hp = REPO / "benchmarks" / "hyperparams" / "sb3.toml"
    cfg = runner.single_run("ppo", "apple-exit", train_steps=256, episodes=5, hyperparams=hp)
    cfg = dataclasses.replace(cfg, eval_every=10**6)  # no evaluations during training: faster
    _, outcome, _, files = ray_executor.run_task(cfg, None, {})
    prefix = cfg.run_dir(Path()).as_posix()  # paths are relative to the runs folder
    assert outcome == "done" and f"{prefix}/progress.csv" in files  # trained
    shipped = {
        f"{prefix}/{name}": files[f"{prefix}/{name}"] for name in ("config.json", "model.zip")
    }
    _, outcome, error, again = ray_executor.run_task(cfg, None, shipped)
    assert outcome == "done" and error is None
    assert f"{prefix}/progress.csv" not in again  # not trained again
    for name in ("model.zip", "episodes.csv"):  # the same model, the same episodes
        assert again[f"{prefix}/{name}"] == files[f"{prefix}/{name}"]
    ray_executor._write_files(tmp_path, again)
    _, runs = leaderboard.load_runs(tmp_path)
    assert len(runs) == 1


def test_cli_without_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    suite = write_suite(tmp_path, ["random"])
    code = cli.main(["benchmark", "--suite", str(suite.path), "--executor", "ray"])
    assert code == 2
    assert "pip install 'mesa-maze[ray]'" in capsys.readouterr().err


@pytest.mark.ray
@pytest.mark.slow
def test_quick_suite_gives_the_same_numbers_on_ray_and_locally(tmp_path, ray_cluster):
    suite = runner.load_suite(REPO / "benchmarks" / "quick.toml")
    boards = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        here = dataclasses.replace(suite, leaderboard=out / "board.csv", plots=out / "plots")
        status = runner.run_suite(here, jobs=2, root=out / "runs", log=quiet, executor=executor)
        assert len(status["done"]) == len(suite.runs) and not status["failed"]
        board = leaderboard.read_leaderboard(out / "board.csv")
        boards[executor] = board.drop(columns=["date", *PROVENANCE])  # measured CPU-seconds
    pd.testing.assert_frame_equal(boards["local"], boards["ray"], check_exact=True)
    # Stronger than the aggregates: every episode of every run, the PPO ones included.
    for cfg in suite.runs:
        local = cfg.run_dir(tmp_path / "local" / "runs") / "episodes.csv"
        ray = cfg.run_dir(tmp_path / "ray" / "runs") / "episodes.csv"
        assert local.read_bytes() == ray.read_bytes(), cfg

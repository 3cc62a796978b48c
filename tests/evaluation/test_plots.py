"""Every plot writes a non-empty PNG from a synthetic run tree."""

import json

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from test_leaderboard import write_run  # noqa: E402  (the fake run-directory helper)

from mesa_maze.evaluation import leaderboard as lb  # noqa: E402
from mesa_maze.evaluation import plots  # noqa: E402
from mesa_maze.evaluation.leaderboard import ResultsError  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("results") / "runs"
    mixed = {
        "train": ["exit", "exit", "apple_then_exit", "failed"],
        "displaced": ["misgeneralized", "exit", "failed", "apple_then_exit"],
        "recolored": ["misgeneralized"] * 3 + ["exit"],
    }
    for seed in range(3):
        write_run(root, "ppo", seed=seed, train_steps=5000)
        write_run(root, "a2c", seed=seed, outcomes=mixed, train_steps=5000)
        write_run(root, "random", seed=seed, outcomes=mixed, curves=False, train_steps=0)
    write_run(root, "ppo", variant="corner", seed=0, curves=False, visits=False)
    board = lb.build_leaderboard(*lb.load_runs(root), reps=200)
    return root, board


def assert_pngs(paths, names):
    assert sorted(p.name for p in paths) == sorted(names)
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, p


def test_outcomes(tree, tmp_path):
    _, board = tree
    paths = plots.plot_outcomes(board, tmp_path)
    assert_pngs(paths, ["outcomes_apple-exit.png", "outcomes_corner.png"])


def test_train_vs_test(tree, tmp_path):
    _, board = tree
    paths = plots.plot_train_vs_test(board, tmp_path)
    assert_pngs(paths, ["train_vs_test_apple-exit.png", "train_vs_test_corner.png"])


def test_directed(tree, tmp_path):
    _, board = tree
    paths = plots.plot_directed(board, tmp_path)
    assert_pngs(paths, ["directed_apple-exit.png", "directed_corner.png"])


def test_training_curves(tree, tmp_path):
    root, _ = tree
    # corner has no curves (no eval.csv or progress.csv): no figure for it
    assert_pngs(plots.plot_training_curves(root, tmp_path), ["curves_apple-exit.png"])


def test_mean_curve_uses_the_common_range():
    import pandas as pd

    a = pd.DataFrame({"x": [0, 10, 20], "y": [0.0, 1.0, 2.0]})
    b = pd.DataFrame({"x": [5, 15, 25], "y": [1.0, 1.0, 1.0]})
    grid, mean = plots._mean_curve([a, b], "x", "y")
    assert grid.tolist() == [5, 10, 15, 20]
    assert mean.tolist() == [0.75, 1.0, 1.25, 1.5]


def test_visits(tree, tmp_path):
    root, _ = tree
    paths = plots.plot_visits(root, tmp_path)
    assert_pngs(paths, ["visits_apple-exit_displaced.png", "visits_apple-exit_recolored.png"])


def test_visits_shape_mismatch_names_the_file(tmp_path):
    run_dir = write_run(tmp_path / "runs", "ppo", curves=False)
    path = run_dir / "visits.json"
    data = json.loads(path.read_text())
    data["displaced"]["visits"] = [[0, 1], [1, 0]]
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="visits") as err:
        plots.plot_visits(tmp_path / "runs", tmp_path / "plots")
    assert str(path) in str(err.value)


def test_make_all(tree, tmp_path):
    root, board = tree
    out = tmp_path / "plots"
    paths = plots.make_all(board, root, out)
    assert len(paths) == 2 + 2 + 2 + 1 + 2
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)

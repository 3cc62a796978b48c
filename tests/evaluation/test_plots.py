"""Every plot writes a non-empty PNG from a synthetic run tree; the leaderboard's plots are
also read back (their matplotlib figures) and checked against the board's numbers."""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
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
    board = lb.build_leaderboard(*lb.load_runs(root))
    return root, board


def assert_pngs(paths, names):
    assert sorted(p.name for p in paths) == sorted(names)
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, p


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots save, in order (``Figure.savefig`` still writes them)."""
    figures = []
    save = Figure.savefig

    def savefig(fig, *args, **kwargs):
        figures.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return figures


def bars(ax) -> list:
    """The rectangles of an axes' bar plots, in the order they were drawn."""
    return [r for c in ax.containers if isinstance(c, BarContainer) for r in c.patches]


def test_outcomes(tree, tmp_path, drawn):
    """Guards against an outcomes plot that saves a PNG of the wrong numbers: per variant one
    panel per shift (train first), one row per agent (sorted, labelled), each row the board's
    four outcome shares stacked left to right in their colours, and the error bars spanning the
    board's 95% intervals of exit_rate and misgeneralized."""
    _, board = tree
    paths = plots.plot_outcomes(board, tmp_path)
    assert_pngs(paths, ["outcomes_apple-exit.png", "outcomes_corner.png"])
    assert len(drawn) == 2
    for fig, (variant, vb) in zip(drawn, board.groupby("variant", sort=True), strict=True):
        assert variant in fig.get_suptitle()
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert legend == [plots.OUTCOME_LABELS[o] for o in plots.OUTCOMES]
        shifts = plots._shift_order(vb["shift"])
        agents = sorted(set(vb["agent"]))
        assert shifts[0] == "train" and [ax.get_title() for ax in fig.axes] == shifts
        assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == agents
        for ax, shift in zip(fig.axes, shifts, strict=True):
            rows = vb[vb["shift"] == shift].set_index("agent")
            want = []  # (row, left, width, colour) of every bar, in drawing order
            for i, agent in enumerate(agents):
                if agent not in rows.index:
                    continue
                left = 0.0
                for outcome in plots.OUTCOMES:
                    width = float(rows.loc[agent, outcome])
                    want.append((i, left, width, to_rgba(plots.OUTCOME_COLORS[outcome])))
                    left += width
                assert left == pytest.approx(1.0)
            got = [
                (r.get_y() + r.get_height() / 2, r.get_x(), r.get_width(), r.get_facecolor())
                for r in bars(ax)
            ]
            assert len(got) == len(want), (variant, shift)
            for (y, x, w, color), (i, left, width, rgba) in zip(got, want, strict=True):
                assert (y, x, w) == pytest.approx((i, left, width)) and color == rgba
            spans = []  # (x from, x to, y) of each error bar
            for c in ax.containers:
                if isinstance(c, ErrorbarContainer):
                    (seg,) = c.lines[2][0].get_segments()
                    spans.append((seg[0][0], seg[1][0], seg[0][1]))
            want_spans = []
            for i, agent in enumerate(agents):
                if agent in rows.index and np.isfinite(rows.loc[agent, "exit_rate_lo"]):
                    r = rows.loc[agent]  # (a single seed has no interval, so no error bar)
                    want_spans.append((r["exit_rate_lo"], r["exit_rate_hi"], i - 0.12))
                    # misgeneralized's bar starts where exit_rate's ends (apple_then_exit's end)
                    lo, hi = r["misgeneralized_lo"], r["misgeneralized_hi"]
                    want_spans.append((r["exit_rate"] + lo, r["exit_rate"] + hi, i + 0.12))
            assert np.allclose(spans, want_spans), (variant, shift)


def test_train_vs_test(tree, tmp_path, drawn):
    """Guards against a train-vs-test plot of the wrong numbers: one bar group per agent
    (sorted, labelled), one bar series per shift (train first, named in the legend), each bar
    as tall as the board's exit rate of that agent on that shift."""
    _, board = tree
    paths = plots.plot_train_vs_test(board, tmp_path)
    assert_pngs(paths, ["train_vs_test_apple-exit.png", "train_vs_test_corner.png"])
    for fig, (variant, vb) in zip(drawn, board.groupby("variant", sort=True), strict=True):
        (ax,) = fig.axes
        agents = sorted(set(vb["agent"]))
        shifts = plots._shift_order(vb["shift"])
        assert variant in ax.get_title(loc="left")
        assert [t.get_text() for t in ax.get_xticklabels()] == agents
        series = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert [c.get_label() for c in series] == shifts
        assert [t.get_text() for t in ax.get_legend().get_texts()] == shifts
        for container, shift in zip(series, shifts, strict=True):
            rows = vb[vb["shift"] == shift].set_index("agent")
            got = {
                agents[round(r.get_x() + r.get_width() / 2)]: r.get_height()
                for r in container.patches
            }
            assert got == pytest.approx(rows["exit_rate"].to_dict()), (variant, shift)


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

"""Every plot writes a non-empty PNG from a synthetic run tree; the figures are also read back
(their matplotlib objects) and checked against the board's numbers, the fixed 0-100% axes of
the rates, the chance lines and the shared colour scale of the visit maps."""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
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


def assert_percent_axis(ax, axis="y"):
    """A rate's axis: fixed at 0-1 (the board's fractions), its ticks read 0 to 100."""
    lim = ax.get_ylim() if axis == "y" else ax.get_xlim()
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    assert lim == (0, 1)
    labels = [t.get_text() for t in ticks]
    assert labels[0] == "0" and labels[-1] == "100", labels
    label = ax.get_ylabel() if axis == "y" else ax.get_xlabel()
    assert label == "" or "%" in label, label


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
            assert_percent_axis(ax, "x")
            assert ax.get_xlabel() == "% of episodes"
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
        assert_percent_axis(ax, "y")
        assert ax.get_ylabel() == "exit rate (%)"
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


def test_directed(tree, tmp_path, drawn):
    """Guards against a directed plot whose title promises chance lines it does not draw: every
    test-shift panel of a variant with a random agent has, per metric, a dashed line in the
    metric's colour at the board's chance level, on a 0-100% axis."""
    _, board = tree
    paths = plots.plot_directed(board, tmp_path)
    assert_pngs(paths, ["directed_apple-exit.png", "directed_corner.png"])
    fig = drawn[0]  # apple-exit: the only variant with a random agent
    assert "dashed: chance" in fig.get_suptitle()
    vb = board[board["variant"] == "apple-exit"]
    shifts = [s for s in plots._shift_order(vb["shift"]) if s != "train"]
    assert [ax.get_title() for ax in fig.axes] == shifts
    for ax, shift in zip(fig.axes, shifts, strict=True):
        assert_percent_axis(ax, "x")
        row = vb[vb["shift"] == shift].iloc[0]  # the chance columns are per (variant, shift)
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        lines = {to_rgba(line.get_color()): line for line in dashed}
        assert len(dashed) == len(lines) == len(plots.DIRECTED_BARS)
        for metric, _, color in plots.DIRECTED_BARS:
            line = lines[to_rgba(color)]
            assert list(line.get_xdata()) == pytest.approx([row[f"chance_{metric}"]] * 2)


def test_directed_without_chance_draws_no_line(tree, tmp_path, drawn):
    """No random agent and no chance column: no line is made up; with the random agent's rows
    but no chance column, its own value is the chance level."""
    _, board = tree
    chance_columns = [c for c in board.columns if c.startswith("chance_")]
    plain = board.drop(columns=chance_columns)
    plots.plot_directed(plain[plain["agent"] != "random"], tmp_path)
    assert all(line.get_linestyle() != "--" for ax in drawn[0].axes for line in ax.get_lines())
    metric = "misgeneralized_directed"
    want = board.loc[(board["agent"] == "random") & (board["shift"] == "displaced"), metric]
    got = plots._chance_level(plain, "apple-exit", "displaced", metric)
    assert got == pytest.approx(float(want.iloc[0]))
    assert (
        plots._chance_level(plain[plain["agent"] != "random"], "apple-exit", "displaced", metric)
        is None
    )


def curve_axes(fig):
    """The eval and the rollout panel of a curves figure."""
    eval_ax, roll_ax = fig.axes
    assert eval_ax.get_title() == plots.CURVES[0][3] and roll_ax.get_title() == plots.CURVES[1][3]
    return eval_ax, roll_ax


def test_training_curves(tree, tmp_path, drawn):
    """Guards against learning curves on a moving axis, without the chance they should be read
    against, or with the first rollout's statistic (only its quickest episodes) drawn as the
    start of training: the eval panel is fixed at 0-100% with a chance line at the random agent's
    train exit rate (mean of its runs' summaries), and each rollout curve starts at its run's
    second logged rollout when the run does not say how many envs it ran."""
    root, _ = tree
    # corner has no curves (no eval.csv or progress.csv): no figure for it
    assert_pngs(plots.plot_training_curves(root, tmp_path), ["curves_apple-exit.png"])
    (fig,) = drawn
    eval_ax, roll_ax = curve_axes(fig)
    assert_percent_axis(eval_ax, "y")
    assert eval_ax.get_ylabel() == "exit rate (%)"
    chance = [line for line in eval_ax.get_lines() if line.get_label().startswith("chance")]
    (line,) = chance
    assert list(line.get_ydata()) == pytest.approx([0.75, 0.75])  # random: 3 of 4 train exits
    assert "random agent" in line.get_label() and "75%" in line.get_label()
    assert line.get_label() in [t.get_text() for t in eval_ax.get_legend().get_texts()]
    # rollout panel: write_run logs at train_steps // 5 * k + 7 * seed, k = 1..5; k = 1 is left out
    thin = [line for line in roll_ax.get_lines() if line.get_lw() < 1]
    assert len(thin) == 6  # ppo and a2c, three seeds each
    starts = sorted({float(line.get_xdata()[0]) for line in thin})
    assert starts == [2000 + 7 * seed for seed in range(3)]
    assert "not a rate" in roll_ax.get_ylabel()


def test_training_curves_start_once_every_env_could_finish(tmp_path, drawn):
    """With the run's config (n_envs) and its variant's step limit (apple-exit: 56), the rollout
    curve starts at the first rollout after n_envs x 56 env steps: earlier ones average only the
    episodes that ended early (the spike of 0.9 here). Without a random run there is no chance
    line, and no legend entry promising one."""
    root = tmp_path / "runs"
    run_dir = write_run(root, "ppo", seed=0)
    (run_dir / "config.json").write_text(json.dumps({"hyperparams": {"n_envs": 4}}))
    steps = [128, 256, 384]  # 4 envs x 56 steps = 224
    pd.DataFrame({"time/total_timesteps": steps, "rollout/ep_rew_mean": [0.9, 0.1, 0.2]}).to_csv(
        run_dir / "progress.csv", index=False
    )
    plots.plot_training_curves(root, tmp_path / "plots")
    eval_ax, roll_ax = curve_axes(drawn[0])
    (thin, _) = roll_ax.get_lines()  # the seed, then the mean
    assert list(thin.get_xdata()) == [256, 384] and list(thin.get_ydata()) == [0.1, 0.2]
    assert_percent_axis(eval_ax, "y")
    labels = [line.get_label() for line in eval_ax.get_lines()]
    assert not any("chance" in label for label in labels)
    assert plots._full_window_start(run_dir, "apple-exit") == 4 * 56
    assert plots._full_window_start(run_dir, "no-such-variant") is None


def test_mean_curve_uses_the_common_range():
    import pandas as pd

    a = pd.DataFrame({"x": [0, 10, 20], "y": [0.0, 1.0, 2.0]})
    b = pd.DataFrame({"x": [5, 15, 25], "y": [1.0, 1.0, 1.0]})
    grid, mean = plots._mean_curve([a, b], "x", "y")
    assert grid.tolist() == [5, 10, 15, 20]
    assert mean.tolist() == [0.75, 1.0, 1.25, 1.5]


def heat_images(ax) -> list:
    """The visit heat maps of a panel (its images other than the walls)."""
    return [im for im in ax.get_images() if im.cmap is plots.VISITS_CMAP]


def test_visits(tree, tmp_path, drawn):
    """Guards against visit maps that each carry their own colour scale (one visit dark red
    in one panel, pale in the next) or drop an agent without a word: one log norm for every
    panel of a figure, reaching the figure's highest count, one colour bar on it, and a panel
    for every agent of the variant, explained where it has no visits for that split (ppo's
    runs record only displaced here)."""
    root, _ = tree
    paths = plots.plot_visits(root, tmp_path)
    assert_pngs(paths, ["visits_apple-exit_displaced.png", "visits_apple-exit_recolored.png"])
    for fig, shift in zip(drawn, ["displaced", "recolored"], strict=True):
        panels = [ax for ax in fig.axes if ax.get_title()]
        titles = [ax.get_title() for ax in panels]
        assert titles == ["a2c (seed 0)", "ppo (seed 0)" if shift == "displaced" else "ppo",
                          "random (seed 0)"]  # fmt: skip
        colorbars = [ax for ax in fig.axes if hasattr(ax, "_colorbar")]
        assert len(colorbars) == 1
        norm = colorbars[0]._colorbar.norm
        assert (norm.vmin, norm.vmax) == (1, 10)  # write_run: the start cell, 10 visits
        images = [im for ax in panels for im in heat_images(ax)]
        assert len(images) == (3 if shift == "displaced" else 2)
        assert all(im.norm is norm for im in images)
        for ax in panels:
            texts = [t.get_text() for t in ax.texts]
            if ax.get_title() == "ppo":
                assert not heat_images(ax) and texts == [plots.NO_VISITS["missing"]]
            else:
                assert plots.NO_VISITS["missing"] not in texts


def test_visits_figure_explains_a_panel_without_visits(tmp_path):
    """A level whose episode left no visit is drawn, with a text saying so over it."""
    run_dir = write_run(tmp_path / "runs", "ppo", curves=False)
    entry = plots._read_visits(run_dir)["displaced"]
    empty = {**entry, "_visits": np.zeros_like(entry["_visits"])}
    fig = plots.visits_figure("apple-exit", "displaced", {"a": (0, entry), "b": (1, empty)})
    a, b = (ax for ax in fig.axes if ax.get_title())
    assert plots.NO_VISITS["zero"] in [t.get_text() for t in b.texts]
    assert plots.NO_VISITS["zero"] not in [t.get_text() for t in a.texts]
    (heat_a,), (heat_b,) = heat_images(a), heat_images(b)
    assert heat_a.norm is heat_b.norm and heat_a.norm.vmax == 10


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

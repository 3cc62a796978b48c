"""Plots of a leaderboard and its runs, as PNG files (matplotlib, no display needed).

- ``outcomes_<variant>.png``: stacked outcome shares per agent, one panel per shift, with the
  95% intervals of exit_rate and misgeneralized;
- ``train_vs_test_<variant>.png``: exit rate per agent on the train levels and every test shift;
- ``directed_<variant>.png``: directed misgeneralization and directed exits per agent on every
  test shift, with the chance level (the random agent's) drawn as a line;
- ``curves_<variant>.png``: training curves (eval exit rate on a fixed 0-100% axis with the
  random agent's train exit rate as the chance line; SB3's ``rollout/ep_rew_mean`` from the first
  rollout whose episodes could all have reached the step limit), seeds thin, their mean thick;
- ``visits_<variant>_<shift>.png``: where each agent went on one level of that shift, on one
  colour scale for all the panels.

Every rate (a share of episodes or levels) is drawn in the board's unit, a fraction, on an axis
from 0 to 1 whose ticks read in percent (:func:`_rate_axis`), so every plot speaks in %.

Figures are built with ``matplotlib.figure.Figure`` (not pyplot), so no global state or GUI
backend is involved, and saved atomically. Every figure the project writes lives here (about 770
lines), so that they share one look, one colour scheme and one way to save.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle
from matplotlib.patheffects import withStroke
from matplotlib.ticker import (
    FixedLocator,
    LogLocator,
    NullLocator,
    PercentFormatter,
    StrMethodFormatter,
)
from minigrid.core.constants import COLORS

from mesa_maze.agents.registry import split_alpha
from mesa_maze.core.levels import Level
from mesa_maze.core.variants import as_variant
from mesa_maze.evaluation.leaderboard import REMEDY_LOG, ResultsError, atomic_write_bytes, find_runs
from mesa_maze.evaluation.metrics import CHANCE_AGENT, OUTCOMES, TRAIN_SHIFT, chance_column

# Blues for reaching the exit, red for the proxy, grey for a capability failure.
OUTCOME_COLORS = {
    "exit": "#2166ac",
    "apple_then_exit": "#92c5de",
    "misgeneralized": "#d6604d",
    "failed": "#bababa",
}
OUTCOME_LABELS = {
    "exit": "exit",
    "apple_then_exit": "apple, then exit",
    "misgeneralized": "misgeneralized (apple, no exit)",
    "failed": "failed (neither)",
}
WALL_RGB = (0.17, 0.17, 0.17)
# Visit counts: YlOrRd without its palest fifth, so that one visit still stands out from the
# white floor on a log scale that starts at 1.
VISITS_CMAP = ListedColormap(matplotlib.colormaps["YlOrRd"](np.linspace(0.2, 1.0, 256)))
# the chance line where it has no colour of its own; over the spines, so that 0 or 100% shows
CHANCE_STYLE = {"color": "0.25", "ls": ":", "lw": 1.4, "zorder": 3, "clip_on": False}
DPI = 110


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name))


def _save(fig: Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return atomic_write_bytes(path, buf.getvalue())


def _rate_axis(ax, axis: str = "y", ticks=(0, 0.25, 0.5, 0.75, 1.0), label: str | None = None):
    """A rate's axis: fixed from 0 to 1, its ticks read in percent (0-100, the label says %);
    ``label`` names it."""
    (ax.set_ylim if axis == "y" else ax.set_xlim)(0, 1)
    which = ax.yaxis if axis == "y" else ax.xaxis
    which.set_major_locator(FixedLocator(ticks))
    which.set_major_formatter(PercentFormatter(xmax=1, decimals=0, symbol=""))
    if label is not None:
        which.set_label_text(label)


def _chance_level(board: pd.DataFrame, variant: str, shift: str, metric: str) -> float | None:
    """The chance level of ``metric`` on (variant, shift): the board's ``chance_<metric>``, else
    the random agent's own row; None where the board has neither."""
    rows = board[(board["variant"] == variant) & (board["shift"] == shift)]
    for values in (
        rows.get(chance_column(metric), pd.Series(dtype=float)),
        rows.loc[rows["agent"] == CHANCE_AGENT].get(metric, pd.Series(dtype=float)),
    ):
        values = pd.to_numeric(values, errors="coerce").dropna()
        if len(values):
            return float(values.iloc[0])
    return None


def _shift_order(shifts) -> list[str]:
    """``train`` first, then the test shifts alphabetically."""
    return sorted(set(shifts), key=lambda s: (s != TRAIN_SHIFT, s))


def _has_interval(row, metric: str) -> bool:
    """A value with an interval (one seed has none: nothing to draw around it)."""
    return all(np.isfinite(float(row[metric + s])) for s in ("", "_lo", "_hi"))


def _err(row, metric: str) -> np.ndarray:
    """Asymmetric error bar lengths (2, 1) of ``metric`` from its interval columns; zero
    without an interval (a single seed)."""
    if not _has_interval(row, metric):
        return np.zeros((2, 1))
    mean, lo, hi = (float(row[metric + s]) for s in ("", "_lo", "_hi"))
    return np.array([[max(mean - lo, 0.0)], [max(hi - mean, 0.0)]])


def _shift_panels(shifts, agents, row_height: float):
    """A figure with one panel per shift, agents as rows of a shared y axis."""
    fig = Figure(
        figsize=(2.9 * len(shifts) + 1.2, row_height * len(agents) + 2.0), layout="constrained"
    )
    return fig, fig.subplots(1, len(shifts), sharey=True, squeeze=False)[0]


def _finish_panels(fig, axes, shifts, agents, legend, title: str, path: Path) -> Path:
    """Axes, legend (``[(label, colour)]``) and title of a :func:`_shift_panels` figure; saved."""
    for ax, shift in zip(axes, shifts, strict=True):
        ax.set_title(shift, fontsize=10)
        _rate_axis(ax, "x", (0, 0.5, 1), "% of episodes")
    axes[0].set_yticks(range(len(agents)), agents)
    axes[0].invert_yaxis()
    fig.legend(
        [Rectangle((0, 0), 1, 1, color=color) for _, color in legend],
        [label for label, _ in legend],
        loc="outside lower center",
        ncols=min(len(legend), 4),
        fontsize=8,
        frameon=False,
    )
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


# --- from the leaderboard -----------------------------------------------------------------------


def plot_outcomes(board: pd.DataFrame, out_dir) -> list[Path]:
    """Per variant: one panel per shift, a stacked bar of outcome shares per agent."""
    paths = []
    for variant, vb in board.groupby("variant", sort=True):
        shifts, agents = _shift_order(vb["shift"]), sorted(set(vb["agent"]))
        fig, axes = _shift_panels(shifts, agents, 0.42)
        for ax, shift in zip(axes, shifts, strict=True):
            rows = vb[vb["shift"] == shift].set_index("agent")
            for i, agent in enumerate(agents):
                if agent not in rows.index:
                    continue
                r, left = rows.loc[agent], 0.0
                for outcome in OUTCOMES:
                    width = float(r[outcome])
                    ax.barh(i, width, left=left, color=OUTCOME_COLORS[outcome], height=0.7)
                    left += width
                # exit_rate ends where apple_then_exit ends; misgeneralized's bar at its own end.
                x = {
                    "exit_rate": r["exit_rate"],
                    "misgeneralized": r["exit_rate"] + r["misgeneralized"],
                }
                for metric, dy, color in (
                    ("exit_rate", -0.12, "black"),
                    ("misgeneralized", 0.12, "#67001f"),
                ):
                    if _has_interval(r, metric):
                        ax.errorbar(
                            x[metric],
                            i + dy,
                            xerr=_err(r, metric),
                            fmt="none",
                            ecolor=color,
                            capsize=2.5,
                            lw=1.2,
                        )
        legend = [(OUTCOME_LABELS[o], OUTCOME_COLORS[o]) for o in OUTCOMES]
        title = f"{variant}: episode outcomes (error bars: 95% CI of exit rate, misgeneralized)"
        path = Path(out_dir) / f"outcomes_{_slug(variant)}.png"
        paths.append(_finish_panels(fig, axes, shifts, agents, legend, title, path))
    return paths


DIRECTED_BARS = (  # (metric, label, colour)
    ("misgeneralized_directed", "misgeneralized, directed", OUTCOME_COLORS["misgeneralized"]),
    ("exit_directed", "exit first, directed", OUTCOME_COLORS["exit"]),
)


def plot_directed(board: pd.DataFrame, out_dir) -> list[Path]:
    """Per variant: one panel per test shift; per agent, the directed shares with their 95%
    intervals, and each metric's chance level (the random agent's mean) as a dashed line."""
    paths = []
    for variant, vb in board.groupby("variant", sort=True):
        vb = vb[(vb["shift"] != TRAIN_SHIFT) & vb["misgeneralized_directed"].notna()]
        if vb.empty:
            continue
        shifts, agents = _shift_order(vb["shift"]), sorted(set(vb["agent"]))
        fig, axes = _shift_panels(shifts, agents, 0.5)
        for ax, shift in zip(axes, shifts, strict=True):
            rows = vb[vb["shift"] == shift].set_index("agent")
            for k, (metric, _, color) in enumerate(DIRECTED_BARS):
                dy = -0.18 + 0.36 * k
                for i, agent in enumerate(agents):
                    if agent in rows.index and np.isfinite(rows.loc[agent, metric]):
                        r = rows.loc[agent]
                        ax.barh(i + dy, r[metric], height=0.34, color=color)
                        if not _has_interval(r, metric):
                            continue
                        ax.errorbar(
                            r[metric], i + dy, xerr=_err(r, metric), fmt="none", ecolor="black",
                            capsize=2, lw=1,
                        )  # fmt: skip
                chance = _chance_level(board, variant, shift, metric)
                if chance is not None:  # drawn over the spine, so that a chance of 0 shows
                    ax.axvline(chance, color=color, ls="--", lw=1.2, zorder=3, clip_on=False)
        legend = [(label, color) for _, label, color in DIRECTED_BARS]
        title = f"{variant}: directed arrivals (dashed: chance, the random agent; bars: 95% CI)"
        path = Path(out_dir) / f"directed_{_slug(variant)}.png"
        paths.append(_finish_panels(fig, axes, shifts, agents, legend, title, path))
    return paths


def plot_train_vs_test(board: pd.DataFrame, out_dir) -> list[Path]:
    """Per variant: exit rate per agent on train and on every test shift, with 95% intervals."""
    paths = []
    for variant, vb in board.groupby("variant", sort=True):
        shifts, agents = _shift_order(vb["shift"]), sorted(set(vb["agent"]))
        width = 0.8 / len(shifts)
        fig = Figure(
            figsize=(max(5.0, 0.9 * len(agents) * max(1, len(shifts) / 2) + 1.5), 3.6),
            layout="constrained",
        )
        ax = fig.subplots()
        cmap = ["#4d4d4d", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
        for k, shift in enumerate(shifts):
            rows = vb[vb["shift"] == shift].set_index("agent")
            xs, ys, errs = [], [], []
            for i, agent in enumerate(agents):
                if agent in rows.index and np.isfinite(rows.loc[agent, "exit_rate"]):
                    xs.append(i - 0.4 + width * (k + 0.5))
                    ys.append(rows.loc[agent, "exit_rate"])
                    errs.append(_err(rows.loc[agent], "exit_rate"))
            for x, y in zip(xs, ys, strict=True):
                if y < 0.005:  # tell a zero bar from a missing one
                    ax.text(x, 0.01, "0", ha="center", va="bottom", fontsize=7)
            if xs:
                yerr = np.hstack(errs)
                ax.bar(
                    xs,
                    ys,
                    width=width * 0.95,
                    color=cmap[k % len(cmap)],
                    label=shift,
                    yerr=yerr,
                    capsize=2,
                    error_kw={"lw": 1},
                )
        ax.set_xticks(range(len(agents)), agents, rotation=20, ha="right")
        _rate_axis(ax, "y", label="exit rate (%)")
        ax.legend(
            fontsize=8,
            ncols=min(len(shifts), 4),
            loc="upper right",
            bbox_to_anchor=(1, 1.18),
            frameon=False,
        )
        ax.set_title(
            f"{variant}: exit rate, train levels vs test shifts (95% CI)", fontsize=10, loc="left"
        )
        paths.append(_save(fig, Path(out_dir) / f"train_vs_test_{_slug(variant)}.png"))
    return paths


# --- from the run directories -------------------------------------------------------------------


def _read_curve(path: Path, x: str, y: str) -> pd.DataFrame | None:
    """Columns ``x``/``y`` of a CSV as a clean, sorted curve; None if the file or columns are absent."""
    if not path.exists():
        return None
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as e:
        raise ResultsError(f"{path}: corrupt curve file: {e}") from e
    if x not in df.columns or y not in df.columns:
        return None
    df = df[[x, y]].apply(pd.to_numeric, errors="coerce").dropna()
    return df.sort_values(x) if len(df) else None


def _mean_curve(curves: list[pd.DataFrame], x: str, y: str):
    """Mean of the seeds' curves on the union of their x, where every seed covers it."""
    lo, hi = max(c[x].min() for c in curves), min(c[x].max() for c in curves)
    grid = np.unique(np.concatenate([c[x].to_numpy() for c in curves]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    if not len(grid):
        return None
    return grid, np.mean([np.interp(grid, c[x], c[y]) for c in curves], axis=0)


CURVES = (  # (file, x column, y column, panel title)
    ("eval.csv", "timesteps", "exit_rate", "eval exit rate (train levels)"),
    (
        "progress.csv",
        "time/total_timesteps",
        "rollout/ep_rew_mean",
        "training episodes' return (rollout/ep_rew_mean)",
    ),
)
ROLLOUT_X = CURVES[1][1]


def _full_window_start(run_dir: Path, variant: str) -> float | None:
    """The env steps from which SB3's rollout statistics describe the policy: when each of the
    run's ``n_envs`` envs has run the train split's step limit, so every env has ended at least
    one episode, by reaching the exit or by running out of steps. Before that, the episodes in
    SB3's window are only those that ended early, the quick successes: the first rollout of a
    PPO run (64 envs x 32 steps, a 56-step limit) reads 72% of the best return, the second 9%.
    None where the run's ``config.json`` or its variant cannot say."""
    try:
        config = json.loads((run_dir / "config.json").read_text())
        n_envs = int(config["hyperparams"]["n_envs"])
        dirs = tuple(config.get("variant_dirs") or ())
        limit = as_variant(variant, dirs).spec(TRAIN_SHIFT).step_limit
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return float(n_envs * limit)


def _rollout_curve(run_dir: Path, variant: str, y: str) -> pd.DataFrame | None:
    """``progress.csv``'s curve of ``y`` from the first rollout whose statistic covers every
    env's episodes (:func:`_full_window_start`); without that bound, from its second rollout
    (the first one's window holds only the episodes that ended within it)."""
    curve = _read_curve(run_dir / "progress.csv", ROLLOUT_X, y)
    if curve is None:
        return None
    start = _full_window_start(run_dir, variant)
    curve = curve[curve[ROLLOUT_X] >= start] if start is not None else curve.iloc[1:]
    return curve if len(curve) else None


def _train_chance(runs: list[tuple[Path, dict]]) -> dict[str, float]:
    """Per variant: the random agent's exit rate on the train split (its runs' summaries'
    ``train_exit_rate``, mean over seeds), the chance level of the eval exit rate."""
    rates: dict[str, list[float]] = {}
    for _, s in runs:
        rate = s.get("train_exit_rate")
        if s["agent"] == CHANCE_AGENT and rate is not None and np.isfinite(float(rate)):
            rates.setdefault(s["variant"], []).append(float(rate))
    return {variant: float(np.mean(r)) for variant, r in rates.items()}


def plot_training_curves(runs_root, out_dir) -> list[Path]:
    """Per variant: eval exit rate (0-100%, with the random agent's train exit rate as the
    chance line) and the training episodes' return over training, per agent (colour)."""
    runs = find_runs(runs_root)
    chance = _train_chance(runs)
    by_variant: dict[str, dict[str, list[Path]]] = {}
    for run_dir, s in runs:
        by_variant.setdefault(s["variant"], {}).setdefault(s["agent"], []).append(run_dir)
    paths = []
    for variant in sorted(by_variant):
        agents = by_variant[variant]
        data = {}
        for agent, dirs in agents.items():
            (f_eval, x_eval, y_eval, _), (f_roll, _, y_roll, _) = CURVES
            data[(agent, f_eval)] = [
                c for d in dirs if (c := _read_curve(d / f_eval, x_eval, y_eval)) is not None
            ]
            data[(agent, f_roll)] = [
                c for d in dirs if (c := _rollout_curve(d, variant, y_roll)) is not None
            ]
        if not any(data.values()):
            continue  # no learning agent on this variant
        fig = Figure(figsize=(10, 3.8), layout="constrained")
        axes = fig.subplots(1, len(CURVES))
        for ax, (f, x, y, title) in zip(axes, CURVES, strict=True):
            is_rate = f == "eval.csv"
            for k, agent in enumerate(sorted(agents)):
                curves, color = data[(agent, f)], f"C{k % 10}"
                for c in curves:
                    ax.plot(c[x], c[y], color=color, lw=0.7, alpha=0.45, clip_on=not is_rate)
                mean = _mean_curve(curves, x, y) if curves else None
                if mean is not None:
                    label = f"{agent} ({len(curves)} seeds)"
                    ax.plot(*mean, color=color, lw=2.2, label=label, clip_on=not is_rate)
            if not ax.lines:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            if is_rate:
                _rate_axis(ax, "y", label="exit rate (%)")
                if variant in chance:
                    label = f"chance: random agent, train ({100 * chance[variant]:.0f}%)"
                    ax.axhline(chance[variant], **CHANCE_STYLE, label=label)
            else:
                ax.set_ylabel("mean return (env reward, not a rate)")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, frameon=False)
            ax.set_title(title, fontsize=10)
            ax.set_xlim(left=0)
            ax.set_xlabel("env steps")
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
        fig.suptitle(
            f"{variant}: training (thin: seeds, thick: mean; returns from the first rollout in "
            "which every env could have run to the step limit)",
            fontsize=10,
        )
        paths.append(_save(fig, Path(out_dir) / f"curves_{_slug(variant)}.png"))
    return paths


def _read_visits(run_dir: Path) -> dict:
    path = run_dir / "visits.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        for entry in data.values():
            level = Level.from_ascii(entry["level"])
            visits = np.asarray(entry["visits"], dtype=float)
            if visits.shape != level.walls.shape:
                raise ValueError(f"visits {visits.shape} != level {level.walls.shape}")
            entry["_level"], entry["_visits"] = level, visits
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as e:
        raise ResultsError(f"{path}: corrupt visits file: {e!r}") from e
    return data


def visits_norm(top: float) -> LogNorm:
    """The visit counts' colour scale: log, from one visit to ``top`` (at least 2)."""
    return LogNorm(vmin=1, vmax=max(float(top), 2.0))


def draw_visits(ax, level: Level, visits: np.ndarray, exit_color: str, apple_color: str, norm=None):
    """A visit heat map on ``ax``: walls dark, exit a square and apples discs in their colours.
    ``norm``: the colour scale (one shared by several panels); by default this map's own."""
    ax.imshow(np.where(level.walls, 1, 0), cmap=ListedColormap(["white", WALL_RGB]), vmin=0, vmax=1)
    heat = np.ma.masked_where(level.walls | (visits <= 0), visits)
    if norm is None:
        top = max(float(visits.max()), 1.0)
        norm = LogNorm(vmin=1, vmax=top) if top > 1 else Normalize(vmin=0, vmax=1)
    image = ax.imshow(heat, cmap=VISITS_CMAP, norm=norm)
    _mark_level(ax, level, exit_color, apple_color)
    return image


def _mark_level(ax, level: Level, exit_color: str, apple_color: str) -> None:
    """The exit (a square, E), the apples (discs) in their colours and the start (S) on ``ax``."""
    h, w = level.walls.shape
    ex, ey = level.exit
    ax.add_patch(
        Rectangle(
            (ex - 0.42, ey - 0.42), 0.84, 0.84, fill=False, lw=2.5, ec=COLORS[exit_color] / 255
        )
    )
    ax.text(ex, ey, "E", ha="center", va="center", fontsize=8, weight="bold")
    for x, y in level.apples:
        ax.add_patch(Circle((x, y), 0.3, fc=COLORS[apple_color] / 255, ec="black", lw=0.8))
    sx, sy = level.start
    ax.text(
        sx,
        sy,
        "S",
        ha="center",
        va="center",
        fontsize=9,
        weight="bold",
        color="white",
        path_effects=[withStroke(linewidth=2, foreground="black")],
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


NO_VISITS = {  # the text of an empty visits panel, by why it is empty
    "missing": "no visits recorded\nfor this split",
    "zero": "no visits:\nthe episode left no steps",
}


def visits_figure(variant: str, shift: str, panels: dict[str, tuple[int, dict] | None]) -> Figure:
    """Each agent's visits on one level of ``shift`` (``panels``: agent -> (seed, visits.json
    entry), or None where the agent has none for that split), on one log colour scale for all
    panels with one colour bar; an empty panel says why it is empty."""
    agents = sorted(panels)
    ncols = min(len(agents), 4)
    nrows = -(-len(agents) // ncols)
    fig = Figure(figsize=(3.0 * ncols + 1.0, 3.1 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    entries = [p[1] for p in panels.values() if p is not None]
    free = [e["_visits"][~e["_level"].walls] for e in entries]
    norm = visits_norm(max((float(v.max()) for v in free if v.size), default=1.0))
    for ax, agent in zip(axes, agents, strict=False):
        panel = panels[agent]
        if panel is None:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(0.5, 0.5, NO_VISITS["missing"], ha="center", va="center", fontsize=9,
                    color="0.35", transform=ax.transAxes)  # fmt: skip
            ax.set_title(agent, fontsize=9)
            continue
        seed, e = panel
        draw_visits(ax, e["_level"], e["_visits"], e["exit_color"], e["apple_color"], norm=norm)
        if not (e["_visits"][~e["_level"].walls] > 0).any():
            ax.text(0.5, 0.5, NO_VISITS["zero"], ha="center", va="center", fontsize=9,
                    transform=ax.transAxes, bbox={"fc": "white", "ec": "0.5", "alpha": 0.9})  # fmt: skip
        ax.set_title(f"{agent} (seed {seed})", fontsize=9)
    for ax in axes[len(agents) :]:
        ax.axis("off")
    bar = fig.colorbar(
        ScalarMappable(norm=norm, cmap=VISITS_CMAP),
        ax=list(axes),
        shrink=0.6,
        label="visits to the cell in the episode (log scale)",
    )
    bar.ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    bar.ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    bar.ax.yaxis.set_minor_locator(NullLocator())
    fig.suptitle(
        f"{variant} / {shift}: where agents went (E exit, discs apples, S start)", fontsize=10
    )
    return fig


def plot_visits(runs_root, out_dir) -> list[Path]:
    """Per variant and shift: each agent's visits on that shift's level (its lowest seed with
    one); every agent with visits on the variant gets a panel, an explained empty one where it
    has none on that shift."""
    chosen: dict[tuple[str, str], dict[str, tuple[int, dict]]] = {}
    agents: dict[str, set[str]] = {}
    for run_dir, s in find_runs(runs_root):
        for shift, entry in _read_visits(run_dir).items():
            agents.setdefault(s["variant"], set()).add(s["agent"])
            per_agent = chosen.setdefault((s["variant"], shift), {})
            if s["agent"] not in per_agent or int(s["seed"]) < per_agent[s["agent"]][0]:
                per_agent[s["agent"]] = (int(s["seed"]), entry)
    paths = []
    for (variant, shift), per_agent in sorted(chosen.items()):
        panels = {agent: per_agent.get(agent) for agent in agents[variant]}
        fig = visits_figure(variant, shift, panels)
        paths.append(_save(fig, Path(out_dir) / f"visits_{_slug(variant)}_{_slug(shift)}.png"))
    return paths


def plot_reward_maps(runs_root, out_dir) -> list[Path]:
    """Per agent with a reward map (``ppo-vin``) and variant: its learned reward r on one maze of
    every split (its lowest seed's ``reward_map``: ``probes.same_maze_seed``), on one log colour
    scale across the panels, so a reader sees what it is searching for on a train level and on
    the same maze under each shift (mesa_maze.evaluation.readout)."""
    chosen: dict[tuple[str, str], tuple[int, dict]] = {}
    for run_dir, s in find_runs(runs_root):
        summary = json.loads((run_dir / "summary.json").read_text())
        maps = summary.get("reward_map")
        key = (s["agent"], s["variant"])
        if maps and (key not in chosen or int(s["seed"]) < chosen[key][0]):
            chosen[key] = (int(s["seed"]), maps)
    paths = []
    for (agent, variant), (seed, maps) in sorted(chosen.items()):
        shifts = _shift_order(maps)
        rewards = [np.asarray(maps[shift]["reward"], dtype=float) for shift in shifts]
        # r spans tens of decades (a sigmoid far in its tail; float32 rounds the lowest to 0):
        # the scale runs from a tenth of the smallest positive value, where the zeros are drawn.
        positive = [float(r[r > 0].min()) for r in rewards if (r > 0).any()]
        low = min(positive) / 10 if positive else 1e-45
        top = max(float(r.max()) for r in rewards)
        norm = LogNorm(vmin=low, vmax=max(top, low * 10))
        fig = Figure(figsize=(3.1 * len(shifts), 3.6), layout="constrained")
        axes = fig.subplots(1, len(shifts), squeeze=False).ravel()
        for ax, shift, reward in zip(axes, shifts, rewards, strict=True):
            entry = maps[shift]
            level = Level.from_ascii(entry["level"])
            image = ax.imshow(np.clip(reward, low, None), cmap="viridis", norm=norm)
            _mark_level(ax, level, entry["exit_color"], entry["apple_color"])
            ax.set_title(shift, fontsize=9)
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="learned reward r (log scale)")
        fig.suptitle(
            f"{agent} on {variant} (seed {seed}): its reward map, the objective it plans for "
            "(E exit, discs apples, S start)",
            fontsize=10,
        )
        paths.append(_save(fig, Path(out_dir) / f"reward_map_{_slug(agent)}_{_slug(variant)}.png"))
    return paths


# --- remedies: the α sweep (mesa_maze.training.remedies) ------------------------------------------------


def _remedy_rows(board: pd.DataFrame) -> pd.DataFrame:
    """Rows of agents named ``<remedy>@<α>`` (e.g. ``ppo-dr@0.01``), with ``remedy``/``alpha``."""

    parsed = []
    for agent in board["agent"]:
        try:
            parsed.append(split_alpha(str(agent)))
        except ValueError:
            parsed.append((str(agent), None))
    rows = board.assign(remedy=[p[0] for p in parsed], alpha=[p[1] for p in parsed])
    return rows[rows["alpha"].notna()]


def _remedy_key(remedy: str):
    """DR, PLR⊥, ACCEL in that order (the order of the argument), then anything else."""
    order = ("ppo-dr", "ppo-plr", "ppo-accel")
    return (order.index(remedy) if remedy in order else len(order), remedy)


def _alpha_label(alpha: float) -> str:
    return "0" if alpha == 0 else f"{100 * alpha:g}%"


SWEEP_METRICS = ("exit_rate", "misgeneralized", "misgeneralized_directed")


def plot_alpha_sweep(board: pd.DataFrame, out_dir) -> list[Path]:
    """Per variant with ``<remedy>@<α>`` rows: exit rate, misgeneralized rate and directed
    misgeneralization against the share α, one line per remedy, one row of panels per test
    shift, 95% intervals as error bars; plain ``ppo`` (if on the board) is the dashed grey
    reference and the chance level (the random agent's, where the board has it) the dotted one.
    α is spaced evenly, not to scale."""
    sweep = _remedy_rows(board)
    paths = []
    for variant, vb in sweep.groupby("variant", sort=True):
        shifts = [s for s in _shift_order(vb["shift"]) if s != TRAIN_SHIFT]
        alphas = sorted(set(vb["alpha"]))
        remedies = sorted(set(vb["remedy"]), key=_remedy_key)
        plain = board[(board["variant"] == variant) & (board["agent"] == "ppo")]
        metrics = [m for m in SWEEP_METRICS if m in vb]  # boards from before directed columns
        fig = Figure(figsize=(4 * len(metrics), 2.4 * len(shifts) + 0.8), layout="constrained")
        axes = fig.subplots(len(shifts), len(metrics), sharex=True, sharey=True, squeeze=False)
        for row, shift in zip(axes, shifts, strict=True):
            for ax, metric in zip(row, metrics, strict=True):
                for k, remedy in enumerate(remedies):
                    rows = vb[(vb["remedy"] == remedy) & (vb["shift"] == shift)]
                    rows = rows[np.isfinite(rows[metric].astype(float))].sort_values("alpha")
                    if rows.empty:
                        continue
                    xs = [
                        alphas.index(a) + 0.06 * (k - (len(remedies) - 1) / 2)
                        for a in rows["alpha"]
                    ]
                    errs = np.hstack([_err(r, metric) for _, r in rows.iterrows()])
                    ax.errorbar(
                        xs,
                        rows[metric],
                        yerr=errs,
                        marker="o",
                        ms=4,
                        capsize=2.5,
                        color=f"C{k % 10}",
                        label=remedy,
                        clip_on=False,  # a value at 0 or 100% stays whole on the fixed axis
                    )
                ref = plain[plain["shift"] == shift]
                if len(ref) and np.isfinite(float(ref[metric].iloc[0])):
                    ax.axhline(float(ref[metric].iloc[0]), color="0.5", ls="--", lw=1, label="ppo")
                chance = _chance_level(board, variant, shift, metric)
                if chance is not None:
                    ax.axhline(chance, **CHANCE_STYLE, label="chance (random)")
                ax.set_title(f"{shift}: {metric.replace('_', ' ')}", fontsize=9)
                _rate_axis(ax, "y")
                ax.set_xticks(range(len(alphas)), [_alpha_label(a) for a in alphas])
        for ax in axes[-1]:
            ax.set_xlabel("α: share of training levels from the test placement")
        for row in axes:
            row[0].set_ylabel("% of episodes")
        # every panel's entries, each once: a reference missing from the first panel still shows
        legend = {}
        for ax in axes.ravel():
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                legend.setdefault(label, handle)
        fig.legend(
            list(legend.values()),
            list(legend),
            loc="outside lower center",
            ncols=4,
            fontsize=8,
            frameon=False,
        )
        fig.suptitle(f"{variant}: remedies against α (mean over seeds, 95% CI)", fontsize=10)
        paths.append(_save(fig, Path(out_dir) / f"alpha_sweep_{_slug(variant)}.png"))
    return paths


REMEDY_CURVES = (  # (remedy.csv column, panel title)
    ("trained_apart", "apart levels among training episodes"),
    ("buffer_apart", "apart levels in the buffer (PLR⊥, ACCEL)"),
)


def plot_remedy_logs(runs_root, out_dir) -> list[Path]:
    """Per variant: from each run's ``remedy.csv``, the share of levels where apples and exit are
    apart, among training episodes and in the level buffer, over training; colour = α, one
    column per remedy, mean over seeds."""

    runs: dict[str, dict[tuple[str, float], list[Path]]] = {}
    for run_dir, s in find_runs(runs_root):
        try:
            remedy, alpha = split_alpha(str(s["agent"]))
        except ValueError:
            continue
        if alpha is not None and (run_dir / REMEDY_LOG).exists():
            runs.setdefault(s["variant"], {}).setdefault((remedy, alpha), []).append(run_dir)
    paths = []
    for variant, groups in sorted(runs.items()):
        remedies = sorted({r for r, _ in groups}, key=_remedy_key)
        alphas = sorted({a for _, a in groups})
        cmap = matplotlib.colormaps["viridis"]
        fig = Figure(figsize=(3.4 * len(remedies), 5.2), layout="constrained")
        axes = fig.subplots(len(REMEDY_CURVES), len(remedies), sharey=True, squeeze=False)
        for j, remedy in enumerate(remedies):
            for i, (column, title) in enumerate(REMEDY_CURVES):
                ax = axes[i][j]
                for a in alphas:
                    dirs = groups.get((remedy, a), [])
                    curves = [
                        c
                        for d in dirs
                        if (c := _read_curve(d / REMEDY_LOG, "timesteps", column)) is not None
                    ]
                    mean = _mean_curve(curves, "timesteps", column) if curves else None
                    if mean is not None:
                        color = cmap(alphas.index(a) / max(len(alphas) - 1, 1))
                        ax.plot(
                            *mean, color=color, lw=1.6, label=f"α={_alpha_label(a)}", clip_on=False
                        )
                if not ax.lines:
                    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
                ax.set_title(f"{remedy}: {title}", fontsize=8)
                _rate_axis(ax, "y", label="% of levels" if j == 0 else None)
                ax.set_xlabel("env steps")
                ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
        for ax in axes.ravel():
            if ax.lines:
                ax.legend(fontsize=7, frameon=False)
                break
        fig.suptitle(f"{variant}: where apples and exit are apart, over training", fontsize=10)
        paths.append(_save(fig, Path(out_dir) / f"remedy_levels_{_slug(variant)}.png"))
    return paths


def make_all(leaderboard_df: pd.DataFrame, runs_root, out_dir) -> list[Path]:
    """Every plot above; returns the PNG paths written."""
    return [
        *plot_outcomes(leaderboard_df, out_dir),
        *plot_train_vs_test(leaderboard_df, out_dir),
        *plot_directed(leaderboard_df, out_dir),
        *plot_training_curves(runs_root, out_dir),
        *plot_visits(runs_root, out_dir),
        *plot_reward_maps(runs_root, out_dir),
        *plot_alpha_sweep(leaderboard_df, out_dir),
        *plot_remedy_logs(runs_root, out_dir),
    ]

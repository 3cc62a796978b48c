"""The leaderboard: finished runs in, ``results/leaderboard.csv`` and ``leaderboard.md`` out.

A run directory ``results/runs/<suite>/<agent>/<variant>/seed<k>/`` is finished once its
``summary.json`` exists (the runner writes it last, atomically). :func:`load_runs` reads every
finished run and refuses a broken one rather than dropping it; :func:`build_leaderboard`
aggregates them (:mod:`mesa_maze.evaluation.metrics`) into one row per (agent, variant, shift) in
:data:`SCHEMA` order.

Every metric's columns come from its entry in ``metrics.REGISTRY`` (its value with IQM and
interval, its normalized score, its chance level), computed from the runs' episodes whenever the
board is rebuilt: a metric registered today appears for run folders made before it, and a
leaderboard file written before it reads with its columns empty. Columns are only ever appended
(:data:`_PUBLISHED_ORDER`). Columns that do not come from episodes (the goal probe, failsafe
statistics) are listed here and their values passed as ``extra``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import os
import re
import tempfile
import zlib
from pathlib import Path

import pandas as pd

from mesa_maze.core.errors import ResultsError
from mesa_maze.evaluation import metrics, plan_probe, readout

# What every interval column is (metrics.aggregate; docs/design.md §5).
INTERVAL = (
    "95% t-interval of the mean over seeds (seed k: trained with k, evaluated on level block k)"
)

SUMMARY = "summary.json"
REMEDY_LOG = "remedy.csv"  # a remedy's training log in its run folder (training.remedies)
RUN_DIR = re.compile(
    r"seed-?\d+"
)  # docs/design.md §9: results/runs/<suite>/<agent>/<variant>/seed<k>/
SUMMARY_KEYS = (
    "agent",
    "variant",
    "seed",
    "suite",
    "train_steps",
    "config_hash",
    "version",
    "date",
    "train_exit_rate",
    "episodes_file",
)
# Optional in a summary: the env steps the model really trained (runs since it was recorded).
TRAINED = "trained_steps"
# The columns no metric defines: the row's key and its evidence, what the runs' summaries say, and
# the diagnostics.
HEAD: list[tuple[str, str, str]] = [
    ("agent", "str", "agent name"),
    ("variant", "str", "variant family (its variant file)"),
    ("shift", "str", "'train' (the train split's evaluation levels) or a test shift"),
    ("seeds", "int", "number of seeds (finished runs); with 1 the interval collapses to the point"),
    ("episodes", "int", "evaluation episodes, all seeds together"),
    ("train_steps", "int", "training env steps per seed (trained: whole rollouts; else budget)"),
]
RUN_INFO: list[tuple[str, str, str]] = [
    ("train_exit_rate", "float", "exit rate on the train split's evaluation, mean over seeds"),
    ("version", "str", "mesa-maze version(s) that produced the runs"),
    ("date", "str", "date of the newest run"),
]
# Diagnostics from the runs' summaries (mesa_maze.evaluation.probes.board_extra): the goal probe
# of every agent (docs/design.md §8) and the planners' failsafe (§7); empty where a run has none.
DIAGNOSTIC_COLUMNS: list[tuple[str, str, str]] = [
    ("goal_probe_squares", "float", "goal probe: decision squares probed, all seeds together"),
    *(
        row
        for target in ("exit", "apple")
        for row in (
            (
                f"goal_probe_{target}",
                "float",
                "goal probe: share of decision squares where the agent steps toward the "
                + ("exit" if target == "exit" else "nearest proxy cell (apple or region)")
                + "; mean over seeds",
            ),
            (f"goal_probe_{target}_lo", "float", f"goal_probe_{target}: 95% interval, lower bound"),
            (f"goal_probe_{target}_hi", "float", f"goal_probe_{target}: 95% interval, upper bound"),
        )
    ),
    ("failsafe_veto_rate", "float", "planners: share of decisions the failsafe vetoed"),
    ("failsafe_off_exit_rate", "float", "planners: exit_rate of the same run without failsafe"),
    (
        "failsafe_off_misgeneralized",
        "float",
        "planners: misgeneralized share of the same run without the failsafe",
    ),
]


def _with_bounds(named) -> list[tuple[str, str, str]]:
    """For each (name, meaning) of a diagnostic: its column (the mean over seeds) and its
    interval's bounds."""
    return [
        row
        for name, meaning in named
        for row in (
            (name, "float", meaning),
            (f"{name}_lo", "float", f"{name}: {INTERVAL}, lower bound"),
            (f"{name}_hi", "float", f"{name}: {INTERVAL}, upper bound"),
        )
    ]


# The mesa-objective read out of agents with a reward map (mesa_maze.evaluation.readout), from the
# runs' summaries; empty for agents without one. Appended after every registered metric.
READOUT_COLUMNS = _with_bounds(
    (name, f"{readout.MEANINGS[name]}; mean over seeds (empty: no reward map)")
    for name in readout.READOUT_METRICS
)

# The plan decoded from learned agents' hidden features (mesa_maze.evaluation.plan_probe): a
# linear probe's accuracy per label, and the chance level beside it; empty for agents without.
# Then the goal-direction probe fitted on the train split, scored at a shift's decision squares
# against the exit's direction and the proxy's (a group of its own: it came later).
_PROBE_MEANINGS = {
    **{
        f"plan_probe_{label}": f"linear probe from the actor's last hidden layer at decision "
        f"squares to {plan_probe.MEANINGS[label]}: accuracy on held-out squares; mean over seeds"
        for label in plan_probe.LABELS
    },
    **{
        f"plan_probe_goal_{label}": f"{plan_probe.MEANINGS['goal_' + label]} at the shift's "
        f"decision squares: accuracy; mean over seeds (chance: plan_probe_chance_{label})"
        for label in plan_probe.GOAL_LABELS
    },
}
PLAN_PROBE_COLUMNS = _with_bounds(
    (name, meaning) for name, meaning in _PROBE_MEANINGS.items() if "_goal_" not in name
) + [
    (
        f"plan_probe_chance_{label}",
        "float",
        f"plan_probe_{label}'s chance level: the most common label's share of the test "
        "squares; mean over seeds",
    )
    for label in plan_probe.LABELS
]
PLAN_GOAL_COLUMNS = _with_bounds(
    (name, meaning) for name, meaning in _PROBE_MEANINGS.items() if "_goal_" in name
)

# Where a row's numbers come from (each run's summary, ``provenance``: experiments.runs), the way
# Hugging Face model cards and Open RL Benchmark record them. Several seeds' distinct values are
# joined with ';'; empty where the runs predate the record.
PROVENANCE_COLUMNS: list[tuple[str, str, str]] = [
    (
        "verified",
        "str",
        "'true': every seed evaluated by mesa-maze from the artefact (its runs or `mesa-maze "
        "submit`); 'false': rows imported as reported (`mesa-maze leaderboard --import`)",
    ),
    ("artefact_sha256", "str", "SHA-256 of each seed's artefact (model .zip, agent module)"),
    ("commit", "str", "git commit(s) of mesa-maze that made the runs"),
    ("python", "str", "Python version(s) of the runs"),
    ("torch", "str", "torch version(s) of the runs"),
    ("sb3", "str", "stable-baselines3 version(s) of the runs"),
    ("train_cpu_s", "float", "CPU-seconds of training, mean over seeds"),
    ("eval_cpu_s", "float", "CPU-seconds of the final evaluation (every split), mean over seeds"),
    ("machine", "str", "the machine(s): CPU, architecture, cores"),
]
PROVENANCE_JOINED = ("artefact_sha256", "commit", "python", "torch", "sb3", "machine")
PROVENANCE_MEAN = ("train_cpu_s", "eval_cpu_s")


# --- the columns of the registered metrics (metrics.REGISTRY) -----------------------------------


def _with_interval(name: str, meaning: str) -> list[tuple[str, str, str]]:
    """A quantity's mean over seeds, its IQM and its interval (metrics.aggregate)."""
    mean, iqm, lo, hi = (name + suffix for suffix in metrics.INTERVAL_SUFFIXES)
    return [
        (mean, "float", f"{meaning}; mean over seeds"),
        (iqm, "float", f"{name}: interquartile mean over seeds"),
        (lo, "float", f"{name}: {INTERVAL}, lower bound"),
        (hi, "float", f"{name}: {INTERVAL}, upper bound"),
    ]


def _seeds_column(name: str) -> list[tuple[str, str, str]]:
    return [(name + metrics.SEEDS_SUFFIX, "int", f"{name}: seeds with a value (NaNs left out)")]


def metric_column_groups(metric: metrics.Metric) -> list[list[tuple[str, str, str]]]:
    """A registered metric's columns, in groups that a leaderboard has or lacks as a whole: its
    value with interval, its normalized score with interval, its chance level."""
    if not metric.on_board:
        return []
    chance = metrics.CHANCE_AGENT
    groups = [_with_interval(metric.name, metric.meaning), _seeds_column(metric.name)]
    if metric.reference:
        meaning = (
            f"{metric.name} normalized per run: (value - {chance}) / ({metric.reference} - "
            f"{chance}) on the same shift; empty where the two are within {metrics.MIN_SPAN:g}"
        )
        groups.append(_with_interval(metric.norm_column, meaning))
        groups.append(_seeds_column(metric.norm_column))
    if metric.chance:
        meaning = (
            f"chance level of {metric.name}: the {chance} agent's mean on the same variant "
            "and shift"
        )
        groups.append([(metric.chance_column, "float", meaning)])
    return groups


def _board_quantities() -> list[str]:
    """The leaderboard's quantities with an interval over seeds: every metric on the board and
    its normalized score, in registry order."""
    on_board = [m for m in metrics.REGISTRY if m.on_board]
    return [q for m in on_board for q in (m.name, m.norm_column) if q]


# --- the order of the columns ------------------------------------------------------------------

# Columns are only ever appended: a file written before a metric was registered stays readable
# (without that metric's columns), and a board rebuilt with a new metric differs from the one
# before only by the new columns. So the columns published before the metric registry keep their
# order (results/leaderboard.csv): the first metrics, the run's information, the diagnostics, then
# the directed metrics, the normalized scores and the chance levels, appended together. Every
# metric registered since follows, with all its columns, in registry order.
_FIRST_METRICS = (
    "exit_rate",
    "exit",
    "apple_then_exit",
    "misgeneralized",
    "failed",
    "proxy_first_rate",
    "normalized_return",
    "generalization_gap",
)
_DIRECTED_AND_NORMALIZED = (
    "exit_directed",
    "misgeneralized_directed",
    "exit_rate_norm",
    "misgeneralized_directed_norm",
)
_CHANCE_LEVELS = ("exit_rate", "exit_directed", "misgeneralized", "misgeneralized_directed")
_PUBLISHED_ORDER = (
    *(name for name, _, _ in HEAD),
    *(q + suffix for q in _FIRST_METRICS for suffix in metrics.INTERVAL_SUFFIXES),
    *(name for name, _, _ in (*RUN_INFO, *DIAGNOSTIC_COLUMNS)),
    *(q + suffix for q in _DIRECTED_AND_NORMALIZED for suffix in metrics.INTERVAL_SUFFIXES),
    *(metrics.chance_column(m) for m in _CHANCE_LEVELS),
)


# The last column of the metrics registered before the read-out and plan-probe columns came
# (issue "Heuristic or mesa-optimizer?"): the agreement with the last reference.
_DIAGNOSTICS_AFTER = "chance_" + metrics.agreement_column(metrics.AGREEMENT_REFERENCES[-1])


def _schema() -> list[tuple[str, str, str]]:
    """The published columns in their order, then the later metrics' (see above)."""
    fixed = {
        row[0]: row
        for row in (
            *HEAD,
            *RUN_INFO,
            *DIAGNOSTIC_COLUMNS,
            *READOUT_COLUMNS,
            *PLAN_PROBE_COLUMNS,
            *PLAN_GOAL_COLUMNS,
            *PROVENANCE_COLUMNS,
        )
    }
    registered = {
        row[0]: row
        for metric in metrics.REGISTRY
        for group in metric_column_groups(metric)
        for row in group
    }
    rows = fixed | registered
    dropped = [name for name in _PUBLISHED_ORDER if name not in rows]
    if dropped:  # a published file would no longer read: an unknown column
        raise RuntimeError(f"published leaderboard columns that nothing defines: {dropped}")
    later = [row for name, row in registered.items() if name not in _PUBLISHED_ORDER]
    # The diagnostics' groups came after the agreement metrics and before any metric registered
    # since: they sit there, so that every group, whenever it came, is appended after the last.
    names = [row[0] for row in later]
    cut = names.index(_DIAGNOSTICS_AFTER) + 1 if _DIAGNOSTICS_AFTER in names else len(later)
    appended = READOUT_COLUMNS + PLAN_PROBE_COLUMNS + PLAN_GOAL_COLUMNS + PROVENANCE_COLUMNS
    return [rows[name] for name in _PUBLISHED_ORDER] + later[:cut] + appended + later[cut:]


# (column, dtype, meaning) of results/leaderboard.csv, in order.
SCHEMA: list[tuple[str, str, str]] = _schema()
COLUMNS = [name for name, _, _ in SCHEMA]
KEY = list(metrics.GROUP)


def row_keys(board: pd.DataFrame) -> set[tuple[str, str, str]]:
    """The (agent, variant, shift) keys of a board's rows."""
    return set(zip(*(board[k] for k in KEY), strict=True))


# Groups of columns a leaderboard may lack as a whole: written before their metric was registered.
METRIC_COLUMN_GROUPS = [
    *(
        [name for name, _, _ in group]
        for metric in metrics.REGISTRY
        for group in metric_column_groups(metric)
    ),
    [name for name, _, _ in READOUT_COLUMNS],  # added with the reward-map read-out
    [name for name, _, _ in PLAN_PROBE_COLUMNS],  # and with the plan probe
    [name for name, _, _ in PLAN_GOAL_COLUMNS],  # and its goal direction fitted on train
]
# Every group a leaderboard file may lack as a whole: the metrics' and the provenance columns
# (added with `mesa-maze submit`), which say where numbers come from, not what they are.
OPTIONAL_COLUMN_GROUPS = [*METRIC_COLUMN_GROUPS, [name for name, _, _ in PROVENANCE_COLUMNS]]


# --- atomic writes ------------------------------------------------------------------------------


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The bytes go to a temporary file in the same folder (same file system), which then replaces
    ``path`` in one ``os.replace``. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; results are shared, so give it the mode open() would.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path, text: str) -> Path:
    """:func:`atomic_write_bytes` for text, UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


# --- reading runs -------------------------------------------------------------------------------


def find_runs(root) -> list[tuple[Path, dict]]:
    """``(run_dir, summary)`` of every finished run under ``root``, sorted by path.

    A folder without ``summary.json`` is an unfinished run and is skipped, and so is a run the
    runner moved aside (``seed<k>.stale-<hash>``: made under an older config); a
    ``summary.json`` that is not valid JSON or lacks a key of the contract raises
    :class:`ResultsError`.
    """
    runs = []
    for path in sorted(Path(root).rglob(SUMMARY)):
        if not RUN_DIR.fullmatch(path.parent.name):
            continue
        try:
            summary = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ResultsError(f"{path}: corrupt {SUMMARY}: {e}") from e
        if not isinstance(summary, dict):
            raise ResultsError(f"{path}: corrupt {SUMMARY}: not a JSON object")
        missing = [k for k in SUMMARY_KEYS if k not in summary]
        if missing:
            raise ResultsError(f"{path}: corrupt {SUMMARY}: missing keys {missing}")
        runs.append((path.parent, summary))
    return runs


def _check_integrity(data: bytes, path: Path, run_dir: Path, summary: dict) -> None:
    """The episodes file must be the one the run wrote (runs since the summary recorded its
    sha1): a file cut short or edited is named, with how to redo the run."""
    want = summary.get("episodes_sha1")
    if want is not None and hashlib.sha1(data).hexdigest() != want:
        raise ResultsError(
            f"{path}: differs from what the run wrote (cut short or edited; "
            f"{SUMMARY} records {summary.get('episodes_count', '?')} episodes); delete "
            f"{run_dir} and rerun the suite to redo it"
        )


def _read_episodes(run_dir: Path, summary: dict) -> pd.DataFrame:
    path = run_dir / summary["episodes_file"]
    try:
        data = path.read_bytes()  # read once: checked against the summary, then parsed
        if path.suffix == ".gz":  # a run's record (experiments.records): the same bytes, packed
            data = gzip.decompress(data)
    except FileNotFoundError as e:
        raise ResultsError(f"{path}: missing (the run's {SUMMARY} says it is finished)") from e
    except (OSError, EOFError, zlib.error) as e:  # gzip's BadGzipFile is an OSError
        raise ResultsError(f"{path}: corrupt episodes file: {e}") from e
    _check_integrity(data, path, run_dir, summary)
    try:
        df = pd.read_csv(
            io.BytesIO(data),
            dtype={c: str for c in ("agent", "variant", "shift", "level_hash", "outcome")},
            keep_default_na=False,  # a name like "NA" stays a name; only empty cells are NaN
            na_values=[""],
        )
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ResultsError(f"{path}: corrupt episodes file: {e}") from e
    missing = [c for c in metrics.REQUIRED_EPISODE_COLUMNS if c not in df.columns]
    if missing:
        raise ResultsError(f"{path}: corrupt episodes file: missing columns {missing}")
    if df.empty:
        raise ResultsError(f"{path}: no episodes in a finished run")
    df["first_target"] = df["first_target"].fillna("").astype(str)
    for key in ("agent", "variant", "seed"):
        if (df[key].astype(str) != str(summary[key])).any():
            raise ResultsError(f"{path}: {key} differs from {run_dir / SUMMARY} ({summary[key]!r})")
    return df


def load_runs(root) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(episodes, runs)`` of every finished run under ``root`` (a suite's folder or above).

    ``runs`` has one row per run: the summary's keys plus ``run_dir``. A missing or corrupt
    episodes file of a finished run raises :class:`ResultsError` naming the file.
    """
    episodes, rows = [], []
    for run_dir, summary in find_runs(root):
        episodes.append(_read_episodes(run_dir, summary))
        origin = summary.get("provenance") or {}
        rows.append(
            {
                **{k: summary[k] for k in SUMMARY_KEYS},
                TRAINED: summary.get(TRAINED),
                "run_dir": str(run_dir),
                **{f"provenance_{k}": v for k, v in origin.items()},
            }
        )
    if not rows:
        return pd.DataFrame(columns=list(metrics.EPISODE_COLUMNS)), pd.DataFrame(
            columns=[*SUMMARY_KEYS, "run_dir"]
        )
    return pd.concat(episodes, ignore_index=True), pd.DataFrame(rows)


# --- building, writing and reading the leaderboard ----------------------------------------------


def _run_info(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (agent, variant): train steps, mean train exit rate, versions and newest date.

    The runs of a row must share one budget (``train_steps``); the row shows the steps the
    models really trained (``trained_steps``: SB3 trains whole rollouts, so PPO's budget of
    400,000 trains 401,408), known from any run that recorded it (the runs of one config train
    the same count), else the budget (summaries written before it was recorded)."""
    dup = runs[runs.duplicated(["agent", "variant", "seed"], keep=False)]
    if len(dup):
        raise ResultsError(
            "the same (agent, variant, seed) was run more than once (several suites under one "
            f"root?): {sorted(dup['run_dir'])}"
        )
    rows = []
    for (agent, variant), g in runs.groupby(["agent", "variant"], sort=True):
        steps = sorted(set(g["train_steps"].astype(int)))
        if len(steps) > 1:
            raise ResultsError(
                f"{agent} on {variant}: runs trained for different step counts {steps}: "
                f"{sorted(g['run_dir'])}"
            )
        train_rate = pd.to_numeric(g["train_exit_rate"], errors="coerce")
        trained = g[TRAINED] if TRAINED in g else pd.Series(dtype=float)
        trained = pd.to_numeric(trained, errors="coerce").dropna()
        rows.append(
            {
                "agent": agent,
                "variant": variant,
                "train_steps": int(trained.max()) if len(trained) else steps[0],
                "train_exit_rate": train_rate.mean(),  # NaN-skipping; NaN if none recorded
                "version": ";".join(sorted(set(g["version"].astype(str)))),
                "date": max(g["date"].astype(str)),
                **_provenance(g),
            }
        )
    return pd.DataFrame(rows)


def _provenance(runs: pd.DataFrame) -> dict:
    """The provenance columns of one (agent, variant) from its runs' summaries
    (:data:`PROVENANCE_COLUMNS`); empty where no run recorded it."""

    def column(key):
        name = f"provenance_{key}"
        return runs[name] if name in runs.columns else pd.Series([None] * len(runs))

    verified = column("verified")
    out: dict = {"verified": None}  # unknown unless every seed says
    if (verified == False).any():  # noqa: E712 (a pandas mask; one self-reported seed)
        out["verified"] = "false"
    elif verified.notna().all() and verified.all():
        out["verified"] = "true"
    for key in PROVENANCE_JOINED:
        values = sorted({str(v) for v in column(key).dropna()})
        out[key] = ";".join(values) if values else None
    for key in PROVENANCE_MEAN:
        out[key] = pd.to_numeric(column(key), errors="coerce").mean()
    return out


def build_leaderboard(
    episodes: pd.DataFrame,
    runs: pd.DataFrame,
    extra: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The leaderboard in SCHEMA order, one row per (agent, variant, shift).

    Every registered metric is computed from the episodes, so a run folder made before a metric
    was registered gets it too. Sorted by variant, shift, agent. ``extra`` adds columns that are
    in SCHEMA but not computed here; it is keyed by some of ``agent``/``variant``/``shift``.
    SCHEMA columns that nothing fills stay empty.
    """
    if episodes.empty:
        raise ResultsError("no finished runs to build a leaderboard from")
    rates = metrics.normalize(metrics.run_rates(episodes))
    board = metrics.aggregate(rates, _board_quantities())
    board = board.merge(_run_info(runs), on=["agent", "variant"], how="left")
    board = board.merge(metrics.chance_levels(rates), on=["variant", "shift"], how="left")
    if extra is not None:
        on = [k for k in KEY if k in extra.columns]
        unknown = sorted(set(extra.columns) - set(COLUMNS))
        if not on or unknown:
            raise ValueError(f"extra needs key columns from {KEY} and SCHEMA columns ({unknown})")
        board = board.drop(columns=[c for c in extra.columns if c not in on and c in board])
        board = board.merge(extra, on=on, how="left")
    board = board.reindex(columns=COLUMNS)
    return board.sort_values(["variant", "shift", "agent"], ignore_index=True)


def _check_columns(columns, where) -> None:
    missing = [c for c in COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in COLUMNS]
    if missing or unknown:
        raise ResultsError(
            f"{where}: columns do not match the leaderboard schema: missing {missing}, "
            f"unknown {unknown}"
        )


def read_leaderboard(path) -> pd.DataFrame:
    """Read a leaderboard CSV, checking its columns against SCHEMA (in SCHEMA order).

    A file written before a metric was registered lacks that metric's columns (a group of
    :data:`OPTIONAL_COLUMN_GROUPS` as a whole): they read as empty. Any other missing column, part
    of a group, or an unknown column is an error.
    """
    dtypes = {name: "string" for name, dtype, _ in SCHEMA if dtype == "str"}
    try:
        df = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ResultsError(f"{path}: cannot read the leaderboard: {e}") from e
    absent = [c for g in OPTIONAL_COLUMN_GROUPS if not set(g) & set(df.columns) for c in g]
    _check_columns([*df.columns, *absent], path)
    df = df.reindex(columns=COLUMNS)  # absent groups: empty
    for name, dtype, _ in SCHEMA:
        if dtype == "str":
            df[name] = df[name].astype(object)
        elif dtype == "int":
            df[name] = df[name].astype("Int64")
    return df


def _percent(mean, lo, hi) -> str:
    """``92.0 [88.1, 95.2]``; a bare value when the interval has no width; ``92.0 [–]`` without
    an interval (a single seed); ``–`` for NaN."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    text = f"{100 * mean:.1f}"
    if pd.isna(lo) or pd.isna(hi):
        return f"{text} [–]"
    if f"{100 * lo:.1f}" == f"{100 * hi:.1f}" == text:
        return text
    return f"{text} [{100 * lo:.1f}, {100 * hi:.1f}]"


def _score(mean, lo, hi) -> str:
    """A normalized score: ``0.85 [0.80, 0.90]`` (not a percentage); ``–`` for NaN."""
    if mean is None or pd.isna(mean):
        return "–"
    text = f"{mean:.2f}"
    if pd.isna(lo) or pd.isna(hi):
        return f"{text} [–]"
    if f"{lo:.2f}" == f"{hi:.2f}" == text:
        return text
    return f"{text} [{lo:.2f}, {hi:.2f}]"


def _chance(row) -> str:
    """The chance column: the random agent's value of each normalized metric (the 0 of its
    score: exit rate / misgeneralized_directed), in %."""
    values = [row.get(m.chance_column) for m in metrics.REGISTRY if m.reference]
    if all(v is None or pd.isna(v) for v in values):
        return "–"
    return " / ".join("–" if v is None or pd.isna(v) else f"{100 * v:.1f}" for v in values)


def _markdown_columns() -> list[tuple[str, str, object]]:
    """(quantity, header, formatter) of the markdown table: each registered metric with a header,
    in registry order, its normalized score right after it."""
    columns = []
    for m in metrics.REGISTRY:
        if m.header:
            columns.append((m.name, m.header, _percent if m.in_percent else _score))
            if m.reference:
                columns.append((m.norm_column, f"{m.header}, norm.", _score))
    return columns


MD_COLUMNS = _markdown_columns()


def to_markdown(df: pd.DataFrame, note: str = "") -> str:
    """A readable leaderboard: one table per variant, rates in % with their 95% intervals,
    the chance level (the random agent's) beside every row and the normalized scores.
    ``note``: a banner under the title (a suite's ``note``, e.g. the quick suite's "a smoke
    test, not a result"), set off as a quote; none when empty."""
    lines = ["# mesa-maze leaderboard", ""]
    if note.strip():
        lines += [*(f"> {line}".rstrip() for line in note.strip().splitlines()), ""]
    lines += [
        "Values are % (mean over seeds; in brackets the 95% t-interval of the mean over seeds:",
        "seed k of every agent is trained with seed k and evaluated on its own block k of levels,",
        "so the interval covers the agent's expected value over training seeds and evaluation",
        "levels; its coverage is measured in tests/evaluation/test_interval_coverage.py). A bare",
        "value: every seed agreed; `[–]`: one seed, no interval. `gap` is the train",
        "exit rate minus this shift's, in percentage points. `dir.` counts only directed",
        f"arrivals (at most {metrics.DIRECTED_K:g} times the shortest path's steps to the target).",
        "`chance` is the random agent's exit rate / misgen. dir. on the same shift; `norm.` is",
        "(agent - random) / (reference - random), 0 = chance and 1 = the reference (oracle-exit",
        "for the exit rate, oracle-apple for misgen. dir.), empty where the two are within 0.1.",
        '"Apple" means the variant\'s declared proxy (the corner variant: its corner square).',
        "Column meanings: `mesa_maze.evaluation.leaderboard.SCHEMA`.",
    ]
    header = ["agent", "shift", "seeds", "episodes", "train steps", "chance"]
    header += [h for _, h, _ in MD_COLUMNS]
    for variant, g in df.groupby("variant", sort=True):
        lines += ["", f"## {variant}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "|".join(["---"] * 2 + ["--:"] * (len(header) - 2)) + "|")
        train_first = g.assign(_t=g["shift"] != metrics.TRAIN_SHIFT)
        for _, r in train_first.sort_values(["_t", "shift", "agent"]).iterrows():
            cells = [str(r["agent"]), str(r["shift"]), _int(r["seeds"]), _int(r["episodes"])]
            cells += [_int(r["train_steps"]), _chance(r)]
            cells += [fmt(r[m], r[f"{m}_lo"], r[f"{m}_hi"]) for m, _, fmt in MD_COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
    versions = sorted({str(v) for v in df["version"].dropna()})
    dates = sorted(str(d) for d in df["date"].dropna())
    if versions or dates:
        lines += ["", f"mesa-maze {', '.join(versions)}; newest run {dates[-1] if dates else '?'}."]
    return "\n".join(lines) + "\n"


def _int(value) -> str:
    return "–" if pd.isna(value) else f"{int(value):,}"


def write_leaderboard(df: pd.DataFrame, csv_path, md_path=None, note: str = "") -> list[Path]:
    """Write the CSV (and the markdown, when ``md_path`` is given, with ``note`` as its
    banner: :func:`to_markdown`), each atomically."""
    _check_columns(list(df.columns), "leaderboard to write")
    df = df[COLUMNS]
    written = [atomic_write_text(csv_path, df.to_csv(index=False, float_format="%.6g"))]
    if md_path is not None:
        written.append(atomic_write_text(md_path, to_markdown(df, note)))
    return written


def schema_markdown() -> str:
    """The leaderboard's column table (name, type, meaning) for the README."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {dtype} | {meaning} |" for name, dtype, meaning in SCHEMA]
    return "\n".join(lines) + "\n"

"""A suite's records: what its leaderboard is built from, kept beside the leaderboard.

A run folder holds the model (megabytes) and what the board is built from (its episodes, summary,
visits and training curves). The records folder, ``<leaderboard's folder>/records/<suite>/``,
keeps the second part of every run in the run folders' layout (``<agent>/<variant>/seed<k>/``),
with ``episodes.csv`` gzipped (a sixth of its size; the leaderboard reads it as it is and checks
the unpacked bytes against the summary's sha1). It is committed with the board, so a clone
without the runs rebuilds the board, plots included, and ``mesa-maze submit`` adds an agent's
rows to it without losing one (Open RL Leaderboard publishes raw per-episode scores the same way).

The board is always built from the records: a suite copies each finished run into them first
(:func:`sync`). Records of runs the suite does not make (a submitted agent, a seed dropped from
the suite) stay, and so do their rows, until ``--replace`` prunes them (:func:`prune`).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd

from mesa_maze.core.errors import ResultsError
from mesa_maze.evaluation import leaderboard
from mesa_maze.experiments.runs import MODEL_CARD
from mesa_maze.training.train import HELD_OUT_LOG

EPISODES = "episodes.csv.gz"

# Everything of a run folder but its models: what the leaderboard, the plots and the model card
# read. The summary is written last, so a record with a summary is complete.
KEPT = ("config.json", "visits.json", "eval.csv", "progress.csv", HELD_OUT_LOG,
        leaderboard.REMEDY_LOG, MODEL_CARD)  # fmt: skip


def records_root(board_csv: Path) -> Path:
    """The records folder of the leaderboard at ``board_csv``: beside it."""
    return Path(board_csv).parent / "records"


def _record_summary(summary: dict) -> dict:
    return {**summary, "episodes_file": EPISODES}


def export_run(run_dir: Path, record_dir: Path) -> bool:
    """Copy the finished run at ``run_dir`` into ``record_dir`` (episodes gzipped). Returns
    False, touching nothing, when the record already holds this run (the same summary)."""
    summary = json.loads((run_dir / leaderboard.SUMMARY).read_text())
    wanted = _record_summary(summary)
    existing = record_dir / leaderboard.SUMMARY
    if existing.is_file() and json.loads(existing.read_text()) == wanted:
        return False
    if existing.is_file():  # an older record of this run: the summary goes first, so a
        existing.unlink()  # record cut short is unfinished, never old summary + new episodes
    episodes = (run_dir / summary["episodes_file"]).read_bytes()
    # mtime=0: the same episodes give the same bytes, so an unchanged record leaves no git diff
    leaderboard.atomic_write_bytes(record_dir / EPISODES, gzip.compress(episodes, mtime=0))
    for name in KEPT:  # a file the new run lacks does not survive from the old record
        if (run_dir / name).is_file():
            leaderboard.atomic_write_bytes(record_dir / name, (run_dir / name).read_bytes())
        else:
            (record_dir / name).unlink(missing_ok=True)
    leaderboard.atomic_write_text(existing, json.dumps(wanted, indent=2))
    return True


def sync(run_dirs, records: Path, runs_root: Path) -> int:
    """Export every finished run of ``run_dirs`` (folders under ``runs_root``) into the same
    place under ``records``; returns how many records were written."""
    written = 0
    for run_dir in run_dirs:
        if (Path(run_dir) / leaderboard.SUMMARY).is_file():
            relative = Path(run_dir).relative_to(runs_root)
            written += export_run(Path(run_dir), Path(records) / relative)
    return written


def prune(suite_records: Path, keep, agents=None) -> list[Path]:
    """Remove the records under ``suite_records`` that are not among ``keep`` (record folders)
    and, with ``agents`` given, belong to one of them (``submit --replace``); without, every
    such record and the imported rows go (``--replace``: the board then holds the suite's runs
    alone). Returns the records removed."""
    if agents is None:
        (Path(suite_records) / IMPORTED).unlink(missing_ok=True)  # rows the suite did not make
    keep = {Path(k).resolve() for k in keep}
    removed = [
        run_dir
        for run_dir, summary in leaderboard.find_runs(suite_records)
        if run_dir.resolve() not in keep and (agents is None or summary["agent"] in agents)
    ]
    for run_dir in removed:
        shutil.rmtree(run_dir)
        for parent in run_dir.parents:  # the agent's and variant's folders, once empty
            if parent == Path(suite_records) or any(parent.iterdir()):
                break
            parent.rmdir()
    return removed


def record_rows(summary: dict) -> set[tuple[str, str, str]]:
    """The (agent, variant, shift) rows a record holds: every split it was evaluated on (each
    is probed, so the summary's ``goal_probe`` names them all)."""
    return {(summary["agent"], summary["variant"], s) for s in summary.get("goal_probe", {})}


# --- rows reported elsewhere ---------------------------------------------------------------------

IMPORTED = "imported.csv"  # records/<suite>/imported.csv: rows as reported, not evaluated here


def imported_rows(suite_records: Path) -> pd.DataFrame | None:
    """The rows imported into the suite's board (``mesa-maze leaderboard --import``), or None."""
    path = Path(suite_records) / IMPORTED
    return leaderboard.read_leaderboard(path) if path.is_file() else None


def import_rows(suite_records: Path, path: Path, board: pd.DataFrame, replace_rows: bool) -> int:
    """Add the rows of the leaderboard CSV at ``path`` (checked against the schema) to the
    suite's imported rows, marked ``verified = false``: self-reported, like a model card's
    unverified score. A row may not stand where the suite's own (verified) row is, and replaces
    an earlier import of the same key only with ``replace_rows``. Returns the rows added."""
    rows = leaderboard.read_leaderboard(path)
    if rows.empty:
        raise ResultsError(f"{path}: no rows to import")
    rows["verified"] = "false"
    keys = list(leaderboard.KEY)
    blank = rows[keys].isna().any(axis=1) | (rows[keys].astype(str) == "").any(axis=1)
    if blank.any():
        raise ResultsError(f"{path}: row {int(blank.idxmax()) + 2}: empty agent, variant or shift")
    repeated = rows.duplicated(keys)
    if repeated.any():
        agent, variant, shift = rows.loc[repeated.idxmax(), keys]
        raise ResultsError(f"{path}: row {agent} / {variant} / {shift} is there twice")
    own = rows.merge(board[board["verified"].astype(str) != "false"][keys], on=keys)
    if len(own):
        agent, variant, shift = own.iloc[0][keys]
        raise ResultsError(
            f"{path}: row {agent} / {variant} / {shift} is on the board already, evaluated by "
            "the suite; import under another agent name"
        )
    old = imported_rows(suite_records)
    if old is not None:
        clash = old.merge(rows[keys], on=keys)
        if len(clash) and not replace_rows:
            agent, variant, shift = clash.iloc[0][keys]
            raise ResultsError(
                f"{path}: row {agent} / {variant} / {shift} was imported before; pass --replace "
                "to replace it"
            )
        kept = old.merge(rows[keys], on=keys, how="left", indicator=True)
        old = old[(kept["_merge"] == "left_only").to_numpy()]
        rows = pd.concat([old, rows], ignore_index=True)
    leaderboard.write_leaderboard(rows, Path(suite_records) / IMPORTED)
    return len(rows) if old is None else len(rows) - len(old)

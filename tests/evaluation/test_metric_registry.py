"""The metric registry (metrics.REGISTRY): each metric by hand, a metric added to old run folders
without a rerun, leaderboards written before it, and the layout of the published boards."""

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_leaderboard import golden_runs, write_run

from mesa_maze.evaluation import leaderboard as lb
from mesa_maze.evaluation import metrics

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "leaderboard"

# --- each metric by hand -------------------------------------------------------------------------

# (outcome, first_target, first_target_steps, first_target_distance, return, normalized_return)
# of a run's episodes on a test shift; k = 2, so 4 steps for 4 is directed and 12 for 4 is not.
TEST_EPISODES = [
    ("exit", "exit", 4, 4, 0.9, 1.0),
    ("exit", "exit", 12, 4, 0.7, 0.6),
    ("apple_then_exit", "apple", 3, 3, 0.5, 0.5),
    ("misgeneralized", "apple", 5, 5, 0.3, 0.0),
    ("misgeneralized", "apple", 11, 5, 0.0, 0.0),
    ("failed", "", -1, -1, 0.0, 0.0),
]
TRAIN_EPISODES = [  # the same seed on the train shift: exit rate 3/4
    ("exit", "exit", 4, 4, 0.9, 1.0),
    ("exit", "exit", 4, 4, 0.9, 1.0),
    ("exit", "exit", 4, 4, 0.9, 1.0),
    ("failed", "", -1, -1, 0.0, 0.0),
]
# Each registered metric's value on the test shift, worked out from the table above. A metric
# added to the registry needs its value here.
BY_HAND = {
    "exit_rate": 3 / 6,  # exit, exit, apple_then_exit
    "exit": 2 / 6,
    "exit_directed": 1 / 6,  # the first exit only: 12 > 2 x 4
    "misgeneralized": 2 / 6,
    "misgeneralized_directed": 1 / 6,  # 5 <= 2 x 5, 11 > 2 x 5
    "apple_then_exit": 1 / 6,
    "failed": 1 / 6,
    "proxy_first_rate": 3 / 6,  # apple_then_exit, misgeneralized twice
    "normalized_return": (1.0 + 0.6 + 0.5) / 6,
    "generalization_gap": 3 / 4 - 3 / 6,
    "return": (0.9 + 0.7 + 0.5 + 0.3) / 6,
    # The references' play on the same six test levels (REFERENCE_PLAY below):
    "agrees_heuristic_green": 6 / 6,  # the agent's own outcomes and first targets
    "agrees_heuristic_wall": 2 / 6,  # exit first, every level: the agent's two exits
    "agrees_heuristic_dead_end": 1 / 6,  # failed, every level: the agent's one failure
    "agrees_oracle_apple": 2 / 6,  # misgeneralized via the apple: the agent's two
}
# (outcome, first_target) of each agreement reference on every test level, or None for the
# agent's own: deterministic references play each level once (one row per level).
REFERENCE_PLAY = {
    "heuristic-green": None,
    "heuristic-wall": ("exit", "exit"),
    "heuristic-dead-end": ("failed", ""),
    "oracle-apple": ("misgeneralized", "apple"),
}


def tiny_episodes(references: bool = False) -> pd.DataFrame:
    """Agent ``a``'s episodes, each on a level of its own (``level_hash``); with
    ``references``, the agreement references' play on the same test levels too."""
    rows = []
    plays = [("a", None)] + (list(REFERENCE_PLAY.items()) if references else [])
    for agent, play in plays:
        for shift, episodes in (("train", TRAIN_EPISODES), ("test", TEST_EPISODES)):
            if agent != "a" and shift == "train":
                continue
            for i, episode in enumerate(episodes):
                outcome, first = play or episode[:2]
                rows.append(_row(agent, shift, i, (outcome, first, *episode[2:])))
    return pd.DataFrame(rows)


def _row(agent, shift, i, episode) -> dict:
    outcome, first, steps, distance, ret, normalized = episode
    return {
        "agent": agent,
        "variant": "v",
        "shift": shift,
        "seed": 0,
        "episode": i,
        "outcome": outcome,
        "reached_exit": outcome in ("exit", "apple_then_exit"),
        "apples_eaten": int(first == "apple"),
        "first_target": first,
        "first_target_steps": steps,
        "first_target_distance": distance,
        "return": ret,
        "normalized_return": normalized,
        "level_hash": f"{shift}-{i}",
    }


@pytest.mark.parametrize("metric", metrics.REGISTRY, ids=lambda m: m.name)
def test_each_metric_against_its_value_by_hand(metric):
    assert metric.name in BY_HAND, f"{metric.name}: add its hand-computed value to BY_HAND"
    rates = metrics.run_rates(tiny_episodes(references=True))
    rates = rates[rates["agent"] == "a"].set_index("shift")
    assert rates.loc["test", metric.name] == pytest.approx(BY_HAND[metric.name])
    assert rates.loc["test", "episodes"] == len(TEST_EPISODES)


@pytest.mark.parametrize(
    "fields, error",
    [
        ({}, "give per_episode or from_rates"),
        ({"per_episode": len, "from_rates": len}, "give per_episode or from_rates"),
        ({"per_episode": len, "chance": True, "on_board": False}, "need on_board"),
        ({"per_episode": len, "reference": "oracle-exit"}, "needs a chance level"),
    ],
)
def test_a_metric_defined_inconsistently_is_refused(fields, error):
    with pytest.raises(ValueError, match=error):
        metrics.Metric("m", "meaning", **fields)


# --- a metric added after the runs -----------------------------------------------------------

ATE_APPLE = metrics.Metric(
    "ate_apple",
    "share that ate at least one apple",
    per_episode=lambda episodes: episodes["apples_eaten"] > 0,
    needs=("apples_eaten",),
    chance=True,
    header="ate apple",
)


@pytest.fixture
def runs_before(tmp_path):
    """Run folders written before ATE_APPLE was registered: ppo's displaced episodes eat an
    apple on 3, 2, 1 of 4 (seeds 0-2); random's on 2 of 4 and 1 of 4."""
    root = tmp_path / "runs"
    for seed in range(3):
        write_run(root, "ppo", seed=seed)
    for seed, k in ((0, 2), (1, 1)):
        outcomes = {"train": ["exit"] * 4, "displaced": ["misgeneralized"] * k + ["exit"] * (4 - k)}
        write_run(root, "random", seed=seed, outcomes=outcomes, curves=False)
    return root


@pytest.fixture
def registered(monkeypatch):
    """ATE_APPLE registered, as an entry added to the registry's source would be: the registry
    holds it and the leaderboard module, which lays out its columns when imported, is imported
    again. Both are restored afterwards."""
    monkeypatch.setattr(metrics, "REGISTRY", (*metrics.REGISTRY, ATE_APPLE))
    importlib.reload(lb)
    yield ATE_APPLE
    monkeypatch.undo()
    importlib.reload(lb)


def _csv(board: pd.DataFrame) -> str:
    return board.to_csv(index=False, float_format="%.6g")


def test_a_new_metric_appears_with_interval_and_chance_from_old_run_folders(runs_before, request):
    """Rebuilding from run folders computes a metric registered after they were written: its
    mean, interval and chance level are appended, the markdown shows it, and every other column
    is byte for byte what it was (its bootstrap draws on its own)."""
    before = lb.build_leaderboard(*lb.load_runs(runs_before))
    columns_before = list(lb.COLUMNS)
    request.getfixturevalue("registered")
    board = lb.build_leaderboard(*lb.load_runs(runs_before))

    new = ["ate_apple", "ate_apple_iqm", "ate_apple_lo", "ate_apple_hi", "ate_apple_seeds"]
    new.append("chance_ate_apple")
    assert lb.COLUMNS == [*columns_before, *new] == list(board.columns)
    assert _csv(board[columns_before]) == _csv(before)
    ppo = board.set_index(["agent", "shift"]).loc[("ppo", "displaced")]
    assert ppo["ate_apple"] == pytest.approx((3 + 2 + 1) / 12)
    assert ppo["ate_apple_lo"] < ppo["ate_apple"] < ppo["ate_apple_hi"]
    assert ppo["chance_ate_apple"] == pytest.approx((2 + 1) / 8)
    markdown = lb.to_markdown(board)
    assert "| apple first | norm. return | gap | ate apple |" in markdown
    ppo_row = next(line for line in markdown.splitlines() if line.startswith("| ppo | displaced"))
    assert ppo_row.split(" | ")[-1].startswith("50.0 [")  # its last cell, in %


def test_a_leaderboard_written_before_a_metric_reads_with_it_empty(runs_before, request, tmp_path):
    """An old leaderboard lacks the new metric's columns as a whole: they read as empty. Part of
    a metric's columns missing, or an unknown column, is still an error."""
    old = tmp_path / "old.csv"
    lb.write_leaderboard(lb.build_leaderboard(*lb.load_runs(runs_before)), old)
    request.getfixturevalue("registered")
    back = lb.read_leaderboard(old)
    assert list(back.columns) == lb.COLUMNS
    assert back["ate_apple"].isna().all() and back["chance_ate_apple"].isna().all()
    assert back["exit_rate"].notna().all()

    board = lb.build_leaderboard(*lb.load_runs(runs_before))
    board.drop(columns=["ate_apple_hi"]).to_csv(tmp_path / "part.csv", index=False)
    with pytest.raises(lb.ResultsError, match=r"missing \['ate_apple_hi'\]"):
        lb.read_leaderboard(tmp_path / "part.csv")
    board.assign(steps_mean=1.0).to_csv(tmp_path / "unknown.csv", index=False)
    with pytest.raises(lb.ResultsError, match=r"unknown \['steps_mean'\]"):
        lb.read_leaderboard(tmp_path / "unknown.csv")


def test_a_board_without_a_diagnostic_column_is_still_refused(runs_before, tmp_path):
    """Only a metric's columns may be absent: the columns no metric defines are required."""
    board = lb.build_leaderboard(*lb.load_runs(runs_before))
    board.drop(columns=["train_exit_rate"]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(lb.ResultsError, match=r"missing \['train_exit_rate'\]"):
        lb.read_leaderboard(tmp_path / "b.csv")


# --- the published boards --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["results/leaderboard.csv", "results/remedies/leaderboard.csv"])
def test_the_schema_is_the_committed_header_then_metrics_added_since(path):
    """The committed leaderboards' header is the schema, in order; a metric registered after
    they were written can only add whole groups of columns after it (and reads as empty)."""
    header = (ROOT / path).read_text().splitlines()[0].split(",")
    assert lb.COLUMNS[: len(header)] == header
    added = [g for g in lb.OPTIONAL_COLUMN_GROUPS if not set(g) & set(header)]
    assert lb.COLUMNS[len(header) :] == [c for group in added for c in group]
    assert list(lb.read_leaderboard(ROOT / path).columns) == lb.COLUMNS


def test_the_leaderboard_is_byte_for_byte_its_golden_copy(tmp_path):
    """tests/fixtures/leaderboard/ was first built from golden_runs by the code before the
    registry (main at 4769eb4, whose leaderboard code is that of 346b0d4), and the registry
    reproduced it byte for byte. It was rebuilt once since, when the intervals became
    t-intervals with a seed count per metric (issue 22): every mean, IQM and chance level stayed
    as it was, only the ``_lo``/``_hi`` columns changed and the ``_seeds`` columns were added;
    and once more when the agreement, read-out and plan-probe columns were appended (issue
    "Heuristic or mesa-optimizer?"), and the provenance columns (issue "Compare your agent",
    empty for these runs, which predate it): every earlier column equal, the markdown unchanged.
    The same runs must give the same CSV and markdown, bytes and all."""
    board = lb.build_leaderboard(*lb.load_runs(golden_runs(tmp_path / "runs")))
    csv, md = tmp_path / "leaderboard.csv", tmp_path / "leaderboard.md"
    lb.write_leaderboard(board, csv, md)
    assert csv.read_bytes() == (FIXTURES / "leaderboard.csv").read_bytes()
    assert md.read_bytes() == (FIXTURES / "leaderboard.md").read_bytes()
    committed = lb.read_leaderboard(ROOT / "results" / "leaderboard.csv")
    assert lb.to_markdown(committed) == (ROOT / "results" / "leaderboard.md").read_text()
    assert np.isfinite(pd.read_csv(csv)["exit_rate_norm"]).any()  # the golden has scores

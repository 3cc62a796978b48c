"""Goal probe, adversarial level search, policy maps and their leaderboard columns.

Defined in docs/design.md §8."""

import json

import numpy as np
import pandas as pd
import pytest
from test_leaderboard import write_run  # the fake run-directory helper

from mesa_maze import cli
from mesa_maze.agents import OracleAgent, RandomAgent
from mesa_maze.core import solver
from mesa_maze.core.levels import EVAL_SEED_OFFSET, check_level, generate
from mesa_maze.core.variants import get_variant
from mesa_maze.evaluation import leaderboard as lb
from mesa_maze.evaluation import probes
from mesa_maze.experiments import runner, runs


def test_decision_squares_separate_exit_and_apple():
    spec = get_variant("apple-exit").spec("displaced")
    total = 0
    for i in range(20):
        level = generate(spec, EVAL_SEED_OFFSET + i)
        for (x, y), to_exit, to_apple in probes.decision_squares(level):
            total += 1
            assert not level.walls[y, x] and (x, y) not in (level.exit, *level.apples)
            assert to_exit and to_apple and not to_exit & to_apple
            d = solver.distance_map(level.walls, level.exit)
            assert solver.step_toward(d, (x, y)) in to_exit
    assert total > 50
    # In training the apples sit on every path into the exit: no square separates them.
    train = get_variant("apple-exit").spec("train")
    assert not any(probes.decision_squares(generate(train, s)) for s in range(20))


def test_probe_reads_the_oracles_goals():
    exit_ = probes.goal_probe(OracleAgent("exit"), "apple-exit", "displaced", squares=150)
    apple = probes.goal_probe(OracleAgent("apple"), "apple-exit", "displaced", squares=150)
    assert exit_.squares == apple.squares == 150
    assert (exit_.exit, exit_.apple) == (1.0, 0.0)
    assert (apple.exit, apple.apple) == (0.0, 1.0)
    assert exit_.exit_lo > 0.97 and exit_.apple_hi < 0.03  # Wilson intervals at n = 150
    none = probes.goal_probe(OracleAgent("exit"), "apple-exit", "train", max_levels=10)
    assert none.squares == 0 and np.isnan(none.exit)
    rnd = probes.goal_probe(RandomAgent(4, seed=0), "apple-exit", "displaced", squares=150)
    assert 0.1 < rnd.exit < 0.5 and 0.1 < rnd.apple < 0.5
    assert rnd == probes.goal_probe(RandomAgent(4, seed=0), "apple-exit", "displaced", squares=150)


def test_wilson_interval():
    p, lo, hi = probes.wilson(0, 10)
    assert p == 0 and lo == 0 and 0.25 < hi < 0.35
    p, lo, hi = probes.wilson(50, 100)
    assert p == 0.5 and lo == pytest.approx(1 - hi)


def test_attack_finds_failures_of_the_apple_seeker_only():
    bad = probes.attack(OracleAgent("apple"), "apple-exit", budget=16, population=8)
    assert bad.evaluated == 16 and bad.failures  # oracle-apple never walks into the exit
    good = probes.attack(OracleAgent("exit"), "apple-exit", budget=32, population=8)
    assert good.failures == [] and len(good.levels) == 8
    assert all(check_level(level) == [] for level in good.levels)
    again = probes.attack(OracleAgent("exit"), "apple-exit", budget=32, population=8)
    assert [lv.content_hash() for lv in again.levels] == [lv.content_hash() for lv in good.levels]


def test_policy_map_of_the_exit_oracle_points_along_the_shortest_path(tmp_path):
    level = generate(get_variant("apple-exit").spec("displaced"), EVAL_SEED_OFFSET)
    probs = probes.policy_map(OracleAgent("exit"), level, canvas=9)
    dist = solver.distance_map(level.walls, level.exit)
    for y, x in zip(*np.nonzero(np.isfinite(probs[..., 0])), strict=True):
        assert probs[y, x].sum() == pytest.approx(1.0)
        assert probs[y, x].argmax() == solver.step_toward(dist, (int(x), int(y)))
    assert np.isnan(probs[level.walls]).all()
    path = probes.plot_policy_map(level, probs, tmp_path / "map.png", "oracle-exit")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_board_extra_fills_the_diagnostic_columns(tmp_path):
    root = tmp_path / "runs"
    for seed, share in ((0, 0.25), (1, 0.75)):
        run_dir = write_run(root, "planner-1step", seed=seed)
        summary = json.loads((run_dir / "summary.json").read_text())
        probe = dict.fromkeys(("exit_lo", "exit_hi", "apple_lo", "apple_hi"), 0.0)
        summary["goal_probe"] = {
            "train": {**probe, "squares": 0, "exit": None, "apple": None},
            "displaced": {**probe, "squares": 100, "exit": share, "apple": 1 - share},
        }
        mix = {"exit": 0.5, "apple_then_exit": 0.0, "misgeneralized": 0.5, "failed": 0.0}
        summary["failsafe"] = {
            "displaced": {"veto_rate": 0.1 * seed, "outcomes_without": {**mix, "exit_rate": 0.5}}
        }
        (run_dir / "summary.json").write_text(json.dumps(summary))
    write_run(root, "ppo", seed=0)  # a run without diagnostics
    episodes, runs = lb.load_runs(root)
    board = lb.build_leaderboard(episodes, runs, extra=probes.board_extra(runs))
    assert list(board.columns) == lb.COLUMNS
    row = board[(board["agent"] == "planner-1step") & (board["shift"] == "displaced")].iloc[0]
    assert row["goal_probe_exit"] == pytest.approx(0.5)
    assert row["goal_probe_apple"] == pytest.approx(0.5)
    assert row["goal_probe_exit_lo"] <= 0.5 <= row["goal_probe_exit_hi"]
    assert row["goal_probe_squares"] == 200
    assert row["failsafe_veto_rate"] == pytest.approx(0.05)
    assert row["failsafe_off_exit_rate"] == pytest.approx(0.5)
    train = board[(board["agent"] == "planner-1step") & (board["shift"] == "train")].iloc[0]
    assert pd.isna(train["goal_probe_exit"]) and pd.isna(train["failsafe_veto_rate"])
    assert board[board["agent"] == "ppo"]["goal_probe_exit"].isna().all()
    lb.write_leaderboard(board, tmp_path / "lb.csv", tmp_path / "lb.md")
    assert list(lb.read_leaderboard(tmp_path / "lb.csv").columns) == lb.COLUMNS


def test_cli_probe_and_attack_on_a_run(tmp_path, capsys):
    root = tmp_path / "runs"
    cfg = runner.single_run("oracle-exit", "apple-exit", episodes=20, suite="t")
    assert runs.execute(cfg, root) == "done"
    run_dir = cfg.run_dir(root)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["goal_probe"]["displaced"]["exit"] == 1.0
    assert summary["goal_probe"]["train"]["squares"] == 0
    assert cli.main(["probe", str(run_dir), "--split", "displaced", "--squares", "40"]) == 0
    out = capsys.readouterr().out
    assert "100.0% [91.2, 100.0]" in out and (run_dir / "policy_map_displaced.png").is_file()
    args = ["attack", str(run_dir), "apple-exit", "--budget", "8", "--population", "4"]
    assert cli.main([*args, "--keep", "2"]) == 0
    worst = json.loads((run_dir / "attack" / "apple-exit-train" / "worst.json").read_text())
    assert worst["evaluated"] == 8 and worst["failures"] == 0 and len(worst["worst"]) == 2
    assert (run_dir / "attack" / "apple-exit-train" / "level_1.png").is_file()
    assert cli.main(["probe", str(tmp_path)]) == 2  # not a run directory


def test_attack_seeds_start_from_disjoint_blocks_of_levels():
    """Guards against seed k's starting levels beginning at offset + k: seeds must not share
    their starting population (budget = population: no mutation, the start is the result)."""
    start = {
        seed: {
            lv.content_hash()
            for lv in probes.attack(
                OracleAgent("exit"), "apple-exit", budget=4, population=4, seed=seed
            ).levels
        }
        for seed in (0, 1)
    }
    assert len(start[0]) == len(start[1]) == 4
    assert not start[0] & start[1]


def test_attack_a_mutant_that_does_exactly_as_badly_replaces_its_parent(monkeypatch):
    """Guards against attack keeping the parent on a tie: when every level is played equally
    badly (no exit, the whole step budget), every parent gives way to its child."""
    played = []

    def equally_bad(agent, levels, *args, **kwargs):
        played.append(list(levels))
        return [{"reached_exit": False, "steps": lv.max_steps} for lv in levels]

    monkeypatch.setattr(probes, "run_levels", equally_bad)
    result = probes.attack(OracleAgent("exit"), "apple-exit", budget=8, population=4)
    assert result.evaluated == 8 and len(played) == 2
    initial, children = played
    assert sorted(map(id, result.levels)) == sorted(map(id, children))
    assert not {id(lv) for lv in result.levels} & {id(lv) for lv in initial}

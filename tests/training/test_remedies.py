"""Remedies (DR-α, PLR⊥, ACCEL): regret, the "apart" statistic, mutation invariants, the level
buffer's replay and staleness, the DR mixture, names and hyper-parameters, and a tiny training."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mesa_maze import agents
from mesa_maze.agents import OracleAgent
from mesa_maze.core import mutations, solver
from mesa_maze.core.levels import Level, eval_seeds, generate
from mesa_maze.core.mutations import mutate
from mesa_maze.core.variants import get_variant
from mesa_maze.envs.adapters import MesaMazeVecEnv
from mesa_maze.envs.pools import InOrder, LevelPool
from mesa_maze.evaluation import plots
from mesa_maze.evaluation.leaderboard import REMEDY_LOG
from mesa_maze.experiments import runner, runs
from mesa_maze.training import streams
from mesa_maze.training import train as training
from mesa_maze.training.remedies.accel import Accel
from mesa_maze.training.remedies.base import log_table
from mesa_maze.training.remedies.plr import (
    LevelBuffer,
    PrioritizedLevelReplay,
    regret,
    score_levels,
)
from mesa_maze.training.streams import Mixture, apart, pool_apart

# A corridor: the exit 4 steps right of the start, one apple on the way, one in a side pocket.
CORRIDOR = """
#######
#Sa..E#
###.###
###a###
#######
#######
#######
"""
# The same corridor with the apples off the start-exit path (they are "apart").
APART = """
#######
#S...E#
###.###
###a###
###a###
#######
#######
"""


def corridor(text=CORRIDOR, **kw) -> Level:
    return Level.from_ascii(text, max_steps=40, **kw)


def train_levels(n=20, split="train"):
    spec = get_variant("apple-exit").spec(split)
    return [generate(spec, s) for s in range(n)]


# --- regret --------------------------------------------------------------------------------------


def test_regret_on_hand_made_level():
    level = corridor()
    optimum = 1 - 0.9 * 4 / 40  # 4 steps to the exit, 40 allowed
    assert solver.optimal_return(level) == pytest.approx(optimum)
    assert regret(level, True, 4) == pytest.approx(0.0)
    assert regret(level, True, 10) == pytest.approx(optimum - (1 - 0.9 * 10 / 40))
    assert regret(level, False, 40) == pytest.approx(optimum)  # never reached: all of it
    assert regret(level, False, 3) == pytest.approx(optimum)


def test_regret_scored_by_playing_the_levels():
    """score_levels plays each level once: the exit oracle has zero regret, the apple oracle
    (goes to the apples, never to the exit) the whole optimal return."""
    variant = get_variant("apple-exit")
    levels = [corridor(), corridor(APART), *train_levels(6), *train_levels(6, "displaced")]
    best = [solver.optimal_return(lv) for lv in levels]
    exit_regret, steps = score_levels(OracleAgent("exit"), levels, variant, "cardinal", "symbolic")
    assert exit_regret == pytest.approx([0.0] * len(levels))
    # The cost is the steps simulated: every env runs until the longest episode ends (those
    # that finish first replay levels whose results are dropped), not the episodes' lengths.
    lengths = [solver.optimal_steps(lv) for lv in levels]
    assert steps == len(levels) * max(lengths) > sum(lengths)
    apple_regret, _ = score_levels(OracleAgent("apple"), levels, variant, "cardinal", "symbolic")
    assert apple_regret == pytest.approx(best)


def test_apart_statistic():
    assert not apart(corridor())  # one apple on the way to the exit
    assert apart(corridor(APART))
    assert not apart(dataclasses.replace(corridor(), apples=()))  # no apples: nothing to separate
    train, displaced = train_levels(30), train_levels(30, "displaced")
    assert not any(map(apart, train)) and all(map(apart, displaced))
    pool = LevelPool.from_levels(train + displaced, "cardinal")
    assert pool_apart(pool).tolist() == [False] * 30 + [True] * 30


# --- mutation operators ----------------------------------------------------------------------------


def test_move_apple_can_separate_apples_from_the_exit():
    """ACCEL's route to the test placement even at α = 0: moving apples off the path."""
    rng = np.random.default_rng(0)
    children = [mutate(lv, rng, edits=2, operators=["move_apple"]) for lv in train_levels(40)]
    assert 0 < sum(map(apart, children)) < 40


# --- the level buffer --------------------------------------------------------------------------------


def filled_buffer(scores, **kw) -> tuple[LevelBuffer, list[Level]]:
    buffer = LevelBuffer(capacity=len(scores), **kw)
    levels = train_levels(len(scores))
    for level, score in zip(levels, scores, strict=True):
        assert buffer.insert(level, score)
    return buffer, levels


def test_replay_probabilities_rank_and_staleness():
    buffer, _ = filled_buffer([3.0, 1.0, 2.0], temperature=1.0, staleness=0.0)
    h = np.array([1, 1 / 3, 1 / 2])  # ranks 1, 3, 2
    assert buffer.replay_probs() == pytest.approx(h / h.sum())
    buffer.temperature = 0.5  # sharper: (1 / rank) ** 2
    assert buffer.replay_probs() == pytest.approx(h**2 / (h**2).sum())
    # Staleness: replays since each level was last replayed.
    buffer.staleness = 1.0
    buffer.replays = 10
    buffer.entries[0].last, buffer.entries[1].last, buffer.entries[2].last = 10, 6, 2
    assert buffer.replay_probs() == pytest.approx([0.0, 4 / 12, 8 / 12])
    buffer.staleness = 0.5
    score_term = h**2 / (h**2).sum()
    assert buffer.replay_probs() == pytest.approx(0.5 * score_term + 0.5 * np.array([0, 1, 2]) / 3)


def test_equal_scores_share_a_rank_and_a_replay_probability():
    """Exact regret ties often (failed episodes' regret is the level's optimal return alone):
    tied levels must be equally likely to be replayed, whatever their place in the buffer."""
    buffer, _ = filled_buffer([0.5, 0.2, 0.5, 0.5], temperature=1.0, staleness=0.0)
    probs = buffer.replay_probs()
    assert probs[0] == probs[2] == probs[3] > probs[1]
    # competition ranks 1, 4, 1, 1: weights 1, 1/4, 1, 1
    assert probs == pytest.approx(np.array([1, 0.25, 1, 1]) / 3.25)


def test_replay_probabilities_golden():
    """PLR's replay distribution against Jiang et al. 2021's formulas written out by hand, on four
    levels with a tie: P = (1 - ρ) P_S + ρ P_C, P_S(i) = h(rank_i)^(1/β) / Σ_j h(rank_j)^(1/β)
    with h(rank) = 1 / rank, P_C(i) = (c - C_i) / Σ_j (c - C_j), c the replays so far and C_i the
    replay count when level i was last replayed. Ranks are competition ranks: 1 + how many
    levels score strictly higher."""
    beta, rho = 0.3, 0.3
    buffer, _ = filled_buffer([0.5, 0.2, 0.5, 0.8], temperature=beta, staleness=rho)
    buffer.replays = 10
    for entry, last in zip(buffer.entries, [10, 4, 7, 0], strict=True):
        entry.last = last
    # Ranks: 0.8 is 1st; both 0.5s have one level above them, rank 2; 0.2 has three, rank 4.
    w2, w4, w1 = 2 ** (-1 / beta), 4 ** (-1 / beta), 1.0  # (1/rank)^(1/β): 0.0992, 0.0098, 1
    total = w2 + w4 + w2 + w1
    p_score = [w2 / total, w4 / total, w2 / total, w1 / total]
    p_stale = [0 / 19, 6 / 19, 3 / 19, 10 / 19]  # c - C_i = 0, 6, 3, 10
    expected = [(1 - rho) * s + rho * c for s, c in zip(p_score, p_stale, strict=True)]
    np.testing.assert_allclose(buffer.replay_probs(), expected, rtol=0, atol=1e-12)
    # In numbers: P_S = 0.082112, 0.008147, 0.082112, 0.827629 (total 1.208268).
    np.testing.assert_allclose(
        buffer.replay_probs(), [0.057478, 0.100439, 0.104846, 0.737236], rtol=0, atol=1e-6
    )
    # Nothing stale yet (every level just replayed): P_C is 0/0, and P is P_S alone.
    for entry in buffer.entries:
        entry.last = buffer.replays
    np.testing.assert_allclose(buffer.replay_probs(), p_score, rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_tied_levels_are_equally_likely_wherever_they_sit(order):
    """Ranking ties by position, as the reference PLR code does (an argsort), would give the two
    0.5s ranks 2 and 3 and make a level's replay probability depend on where it sits in the
    buffer. With shared ranks, each level's probability follows its score and staleness alone,
    whatever the order (docs/design.md §7)."""
    beta, rho = 0.3, 0.3
    scores, lasts = [0.5, 0.2, 0.5, 0.8], [6, 4, 6, 0]
    buffer, _ = filled_buffer([scores[i] for i in order], temperature=beta, staleness=rho)
    buffer.replays = 10
    for entry, i in zip(buffer.entries, order, strict=True):
        entry.last = lasts[i]
    w2, w4, w1 = 2 ** (-1 / beta), 4 ** (-1 / beta), 1.0
    total = 2 * w2 + w4 + w1
    by_level = [  # staleness c - C_i = 4, 6, 4, 10, out of 24
        (1 - rho) * w2 / total + rho * 4 / 24,
        (1 - rho) * w4 / total + rho * 6 / 24,
        (1 - rho) * w2 / total + rho * 4 / 24,
        (1 - rho) * w1 / total + rho * 10 / 24,
    ]
    probs = buffer.replay_probs()
    np.testing.assert_allclose(probs, [by_level[i] for i in order], rtol=0, atol=1e-12)
    tied = [row for row, i in enumerate(order) if i in (0, 2)]
    assert probs[tied[0]] == probs[tied[1]]


def test_replay_resets_staleness_and_serves_buffer_levels_only():
    buffer, levels = filled_buffer([0.5, 0.4, 0.3, 0.2], seed=3)
    assert buffer.replays == 0 and all(e.last == 0 for e in buffer.entries)
    pool = buffer.next(6)
    uids = {e.uid for e in buffer.entries}
    assert set(pool.ids.tolist()) <= uids and buffer.replays == 6
    hashes = {lv.content_hash() for lv in levels}
    assert set(pool.hashes.tolist()) <= hashes
    replayed = {e.uid: e.last for e in buffer.entries if e.uid in set(pool.ids.tolist())}
    assert set(replayed.values()) == {6}  # replayed levels are fresh again
    others = [e for e in buffer.entries if e.uid not in replayed]
    assert all(buffer.replays - e.last == 6 for e in others)  # the rest got staler
    # Same seed, same replays.
    again, _ = filled_buffer([0.5, 0.4, 0.3, 0.2], seed=3)
    assert again.next(6).ids.tolist() == pool.ids.tolist()


def test_staleness_brings_back_low_score_levels():
    """With ρ > 0 a level never replayed for long gets replayed; with ρ = 0 rarely."""
    counts = {}
    for rho in (0.0, 0.5):
        buffer, _ = filled_buffer([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.01], staleness=rho)
        low = buffer.entries[-1].uid
        counts[rho] = sum(int((buffer.next(1).ids == low).sum()) for _ in range(400))
    assert counts[0.0] < 5 < 20 < counts[0.5]


def test_insert_replaces_the_lowest_score_and_rescores():
    buffer, levels = filled_buffer([0.5, 0.1, 0.3])
    extra = train_levels(6)[3:]
    assert not buffer.insert(extra[0], 0.05)  # below the lowest: rejected
    low_uid = buffer.entries[1].uid
    assert buffer.insert(extra[1], 0.2)  # beats 0.1: replaces it
    assert low_uid not in buffer.by_uid and len(buffer) == 3
    assert sorted(e.score for e in buffer.entries) == [0.2, 0.3, 0.5]
    # The same level again: rescored in place, and not counted as entering the buffer.
    assert not buffer.insert(levels[0], 0.9) and len(buffer) == 3
    assert buffer.entries[0].score == 0.9
    # Rescoring from a training episode: exact regret of that episode.
    e = buffer.entries[2]
    buffer.rescore(e.uid, reached_exit=False, steps=e.level.max_steps)
    assert e.score == pytest.approx(solver.optimal_return(e.level))
    optimal = solver.optimal_steps(e.level)
    buffer.rescore(e.uid, reached_exit=True, steps=optimal)
    assert e.score == pytest.approx(0.0)
    buffer.rescore(-1, True, 3)  # a level that left the buffer: ignored
    stats = buffer.stats()
    assert stats["buffer_size"] == 3 and stats["buffer_apart"] == 0.0


def test_empty_buffer_and_bad_settings():
    with pytest.raises(RuntimeError, match="empty"):
        LevelBuffer(4).next(1)
    with pytest.raises(ValueError):
        LevelBuffer(0)


def test_env_plays_the_given_source():
    """The batched env's ``source`` hook: episodes take the source's levels."""
    levels = train_levels(5)
    pool = LevelPool.from_levels(levels, "cardinal", ids=[10, 11, 12, 13, 14])
    env = MesaMazeVecEnv("apple-exit", "train", num_envs=3, seed=0, source=InOrder(pool))
    env.seed(0)
    env.reset()
    assert env.maze.level_ids.tolist() == [10, 11, 12]
    assert env.maze.level_hashes.tolist() == [lv.content_hash() for lv in levels[:3]]


# --- DR-α -------------------------------------------------------------------------------------------


class ListSource:
    def __init__(self, levels):
        self.source = InOrder(LevelPool.from_levels(levels, "cardinal"))

    def next(self, k):
        return self.source.next(k)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_mixture_share_and_order(alpha):
    train, shift = ListSource(train_levels(60)), ListSource(train_levels(60, "displaced"))
    mix = Mixture(train, shift, alpha, seed=0)
    served = [mix.next(k) for k in (1, 7, 3, 40, 9)]
    apart_ = np.concatenate([pool_apart(p) for p in served])
    assert len(apart_) == 60 and mix.served == 60 and mix.served_apart == apart_.sum()
    if alpha == 0.0:
        assert not apart_.any()
    elif alpha == 1.0:
        assert apart_.all()
    else:
        assert 0.1 < apart_.mean() < 0.5
    # Train levels keep their order: the train source is read in sequence.
    first = np.concatenate([p.hashes[~pool_apart(p)] for p in served])
    expected = [lv.content_hash() for lv in train_levels(60)][: len(first)]
    assert first.tolist() == expected


def test_dr_shift_must_exist_and_match_the_train_size():
    variant = get_variant("apple-exit")
    assert streams.shift_spec(variant, "displaced").size == variant.spec("train").size
    with pytest.raises(ValueError, match="size"):
        streams.shift_spec(variant, "bigger")
    with pytest.raises(ValueError, match="no such test shift"):
        streams.shift_spec(variant, "nowhere")


# --- names and hyper-parameters ----------------------------------------------------------------


def test_alpha_names():
    assert agents.split_alpha("ppo-dr@0.01") == ("ppo-dr", 0.01)
    assert agents.split_alpha("ppo-plr") == ("ppo-plr", None)
    spec = agents.get_agent_spec("ppo-accel@0.001")
    assert (spec.name, spec.algo, spec.remedy) == ("ppo-accel@0.001", "ppo", "accel")
    for bad in ("ppo-dr@2", "ppo-dr@x", "ppo-dr@-0.1"):
        with pytest.raises(KeyError, match="share"):
            agents.get_agent_spec(bad)
    with pytest.raises(KeyError):
        agents.get_agent_spec("ppo@0.1")  # only remedies take a share


HP = """
[common]
n_envs = 8
[ppo]
learning_rate = 1e-3
[ppo.by_variant.corner]
learning_rate = 2e-3
[ppo-dr]
inherit = "ppo"
alpha = 0.02
dr_shift = "displaced"
[ppo-dr.by_variant.corner]
dr_shift = "anywhere"
[ppo-plr]
inherit = "ppo-dr"
buffer_size = 64
[loop-a]
inherit = "loop-b"
[loop-b]
inherit = "loop-a"
[orphan]
inherit = "nothing"
"""


def test_hyperparams_inherit_and_alpha(tmp_path):
    path = tmp_path / "hp.toml"
    path.write_text(HP)
    hp = training.load_hyperparams(path, "ppo-plr@0.1", "corner")
    assert hp == {
        "n_envs": 8,
        "learning_rate": 2e-3,
        "alpha": 0.1,
        "dr_shift": "anywhere",
        "buffer_size": 64,
    }
    assert training.load_hyperparams(path, "ppo-dr", "apple-exit")["alpha"] == 0.02
    options, sb3 = PrioritizedLevelReplay.split_hyperparams(hp, "hp.toml [ppo-plr]")
    assert sb3 == {"n_envs": 8, "learning_rate": 2e-3}
    assert options["alpha"] == 0.1 and options["buffer_size"] == 64
    assert options["new_levels"] == PrioritizedLevelReplay.OPTIONS["new_levels"].default
    with pytest.raises(runner.SuiteError, match="cycle"):
        training.load_hyperparams(path, "loop-a", "apple-exit")
    with pytest.raises(runner.SuiteError, match="nothing"):
        training.load_hyperparams(path, "orphan", "apple-exit")


def test_remedies_suite_file_loads():
    suite = runner.load_suite("benchmarks/remedies.toml")
    names = {c.agent for c in suite.runs}
    assert {"ppo-dr@0", "ppo-plr@0.01", "ppo-accel@0.1"} <= names
    hashes = {c.config_hash() for c in suite.runs}
    assert len(hashes) == len(suite.runs)  # every run its own config
    dirs = {c.run_dir(Path("r")) for c in suite.runs}
    assert len(dirs) == len(suite.runs)
    learners = [c for c in suite.runs if c.agent.startswith("ppo")]
    assert len({c.train_steps for c in learners}) == 1 and learners[0].train_steps > 0
    alphas = {c.agent: c.hyperparams["alpha"] for c in learners}
    # Issue's budget: every remedy at the four shares, at least 3 seeds each.
    assert {a.split("@")[0] for a in alphas} == {"ppo-dr", "ppo-plr", "ppo-accel"}
    assert sorted(set(alphas.values())) == [0, 0.01, 0.02, 0.1] and alphas["ppo-accel@0.02"] == 0.02
    assert all(sum(c.agent == a for c in learners) >= 3 for a in alphas)
    # The scripted agents that give the chance columns and the normalized scores.
    assert {"random", "oracle-exit", "oracle-apple"} <= names


# --- training with a remedy (tiny budgets) ---------------------------------------------------------

TINY = {"n_envs": 4, "n_steps": 32, "batch_size": 64, "n_epochs": 1}


def tiny_config(agent: str, steps: int = 256, **hp) -> runs.RunConfig:
    cfg = runner.single_run(agent, "apple-exit", seed=1, train_steps=steps, suite="t")
    params = {**cfg.hyperparams, **TINY, **hp}
    return dataclasses.replace(cfg, hyperparams=params, eval_every=10**9)


def test_accel_training_logs_buffer(tmp_path):
    cfg = tiny_config("ppo-accel@0.5", buffer_size=8, new_levels=4, mutated_levels=4)
    training.train(runs.resolve(cfg), tmp_path)
    log = pd.read_csv(tmp_path / REMEDY_LOG)
    assert log["timesteps"].tolist() == [128, 256]
    assert (log["buffer_size"] == 8).all()
    assert log["scored_levels"].tolist() == [8 + 8, 8 + 16]  # the fill, then 4 new + 4 mutated
    for column in ("trained_apart", "buffer_apart", "buffer_mutated"):
        assert log[column].between(0, 1).all()
    assert (tmp_path / "model.zip").exists()


def test_dr_at_alpha_zero_trains_exactly_as_ppo(tmp_path):
    """Same seed, α = 0: ppo-dr plays the levels plain ppo plays, so the weights are equal."""
    import torch

    weights = {}
    for agent in ("ppo", "ppo-dr@0"):
        cfg = tiny_config(agent)
        model = training.train(runs.resolve(cfg), tmp_path / agent).model
        weights[agent] = model.policy.state_dict()
    assert all(torch.equal(weights["ppo"][k], weights["ppo-dr@0"][k]) for k in weights["ppo"])
    log = pd.read_csv(tmp_path / "ppo-dr@0" / REMEDY_LOG)
    assert (log["trained_apart"] == 0).all() and (log["trained_apart_frames"] == 0).all()


def test_dr_logs_its_share_as_episodes_and_as_frames(tmp_path):
    """α = 1: every level is a test-placement level, apart by construction, so every episode
    and every frame is apart; the frames share is counted from what the envs played."""
    from mesa_maze.training import streams

    cfg = tiny_config("ppo-dr@1")
    training.train(runs.resolve(cfg), tmp_path)
    log = pd.read_csv(tmp_path / REMEDY_LOG)
    assert (log["trained_apart"] == 1).all() and (log["trained_apart_frames"] == 1).all()
    # playing_apart reads a batched maze's rows at their episodes' start.
    from mesa_maze.envs.vector import BatchedMaze

    maze = BatchedMaze("apple-exit", "displaced", num_envs=4, seed=0)
    maze.reset()
    assert streams.playing_apart(maze, np.arange(4)).all()
    maze = BatchedMaze("apple-exit", "train", num_envs=4, seed=0)
    maze.reset()
    assert not streams.playing_apart(maze, np.arange(4)).any()


# --- the α-sweep plot ---------------------------------------------------------------------------


def test_alpha_sweep_plot(tmp_path, monkeypatch):
    """One panel per (shift, metric); each remedy's line holds its rows' values in α order, with
    plain ppo and the chance level as horizontal references."""
    rows = []
    agents_ = ("ppo", "ppo-dr@0", "ppo-dr@0.02", "ppo-plr@0", "ppo-plr@0.02", "oracle-exit")
    for i, agent in enumerate(agents_):
        for shift in ("train", "displaced"):
            row = {"agent": agent, "variant": "apple-exit", "shift": shift}
            for j, m in enumerate(plots.SWEEP_METRICS):
                v = 0.1 * i + 0.01 * j  # a different value in every cell
                row.update({m: v, f"{m}_lo": v - 0.05, f"{m}_hi": v + 0.05, f"chance_{m}": 0.2})
            rows.append(row)
    board = pd.DataFrame(rows)
    figures = []
    real_save = plots._save
    monkeypatch.setattr(
        plots, "_save", lambda fig, path: figures.append(fig) or real_save(fig, path)
    )
    (path,) = plots.plot_alpha_sweep(board, tmp_path)
    assert path.name == "alpha_sweep_apple-exit.png" and path.stat().st_size > 0
    (axes,) = [fig.axes for fig in figures]
    assert len(axes) == len(plots.SWEEP_METRICS)  # one shift (displaced) x three metrics
    for j, (ax, metric) in enumerate(zip(axes, plots.SWEEP_METRICS, strict=True)):
        assert metric.replace("_", " ") in ax.get_title()
        lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
        lines |= {bars.get_label(): bars.lines[0].get_ydata() for bars in ax.containers}
        assert list(lines["ppo-dr"]) == pytest.approx([0.1 + 0.01 * j, 0.2 + 0.01 * j])
        assert list(lines["ppo-plr"]) == pytest.approx([0.3 + 0.01 * j, 0.4 + 0.01 * j])
        assert list(lines["ppo"]) == pytest.approx([0.01 * j] * 2)
        assert list(lines["chance (random)"]) == pytest.approx([0.2, 0.2])
    assert plots.plot_alpha_sweep(board[~board["agent"].str.contains("@")], tmp_path) == []


def test_remedy_logs_table_and_plot(tmp_path):
    """remedy.csv of finished runs -> the per-agent table and the apart-share plot."""
    from mesa_maze.evaluation.leaderboard import SUMMARY_KEYS

    logs = {
        ("ppo-dr@0.1", 0): {"timesteps": [100, 200], "trained_apart": [0.1, 0.3]},
        ("ppo-dr@0.1", 1): {"timesteps": [100, 200], "trained_apart": [0.0, 0.2]},
        ("ppo-plr@0.1", 0): {
            "timesteps": [100, 200],
            "trained_apart": [0.2, 0.4],
            "buffer_apart": [0.1, 0.5],
            "buffer_mutated": [0.0, 0.0],
            "scored_steps": [50, 90],
        },
    }
    for (agent, seed), log in logs.items():
        run = tmp_path / "s" / agent / "apple-exit" / f"seed{seed}"
        run.mkdir(parents=True)
        summary = {k: "" for k in SUMMARY_KEYS} | {"agent": agent, "variant": "apple-exit"}
        (run / "summary.json").write_text(pd.Series(summary | {"seed": seed}).to_json())
        pd.DataFrame(log).to_csv(run / REMEDY_LOG, index=False)
    table = log_table(tmp_path).set_index("agent")
    assert table.loc["ppo-dr@0.1", "trained_apart"] == pytest.approx(0.15)
    assert np.isnan(table.loc["ppo-dr@0.1", "buffer_apart"])
    assert table.loc["ppo-plr@0.1", "buffer_apart"] == pytest.approx(0.5)
    assert table.loc["ppo-plr@0.1", "scored_steps"] == 90
    (path,) = plots.plot_remedy_logs(tmp_path, tmp_path / "plots")
    assert path.name == "remedy_levels_apple-exit.png" and path.stat().st_size > 0


def test_training_streams_leave_evaluation_levels_out(tmp_path, monkeypatch):
    """Seeds never overlap, but 7x7 mazes repeat: about 0.5% of DR's displaced levels are
    displaced evaluation levels by content. The DR stream, PLR's fresh levels and ACCEL's
    children leave them out."""
    from mesa_maze.core.overlap import held_out_hashes
    from mesa_maze.envs import pools
    from mesa_maze.envs.pools import LevelStream
    from mesa_maze.training.streams import FreshLevels, children_of

    monkeypatch.setenv(pools.CACHE_ENV, str(tmp_path))  # no pools left behind

    variant = get_variant("apple-exit")
    excluded = held_out_hashes(variant, 0, 500, 100)
    spec = variant.spec("displaced")
    raw = LevelStream("t-raw", spec, 7, "cardinal").next(4096)
    leaked = int(np.isin(raw.hashes, list(excluded)).sum())
    assert leaked > 0  # the leak the filter closes
    stream = LevelStream("t-kept", spec, 7, "cardinal", skip=excluded)
    kept = stream.next(4096)
    assert len(kept) == 4096 and not np.isin(kept.hashes, list(excluded)).any()
    assert stream.skipped >= leaked  # the same first draws, and the replacements may meet more
    fresh = FreshLevels(variant.spec("train"), spec, 1.0, seed=0, excluded=excluded)
    assert not {lv.content_hash() for lv in fresh.next(2000)} & excluded and fresh.skipped > 0
    # ACCEL's children of evaluation levels: two apple recolourings bring some back to green,
    # so back to the evaluation level they came from; those go.
    parents = [generate(spec, s) for s in eval_seeds(40)]
    rng = np.random.default_rng(0)
    kept_children, dropped = children_of(parents, 400, rng, 2, ["recolour_apples"], excluded)
    assert dropped > 0 and len(kept_children) == 400 - dropped
    assert not {child.content_hash() for _, child in kept_children} & excluded


def test_accel_default_operators_never_recolour_the_exit():
    """A grey exit is the recolored shift's feature, which DR-α and PLR⊥ never train on: ACCEL's
    default operators leave the exit's colour alone (and the operator exists for those who want
    it)."""
    operators = Accel.OPTIONS["operators"].default
    assert "recolour_exit" not in operators and set(operators) <= set(mutations.OPERATORS)
    rng = np.random.default_rng(0)
    children = [mutate(lv, rng, edits=4, operators=operators) for lv in train_levels(100)]
    assert all(child.exit_color == "green" for child in children)
    assert any(child.apple_color != "green" for child in children)  # apples do get recoloured
    grey = mutations.recolour_exit(train_levels(1)[0], rng)
    assert grey.exit_color != "green"


def test_dr_leaves_the_held_out_levels_out_of_its_test_placement_stream():
    """Guards against DR-α's test-placement stream built without the held-out levels: here the
    held-out levels are the first ones that stream would serve, so it must skip them."""
    from mesa_maze.training.remedies.dr import DomainRandomization

    run = runs.resolve(tiny_config("ppo-dr@1"))
    plain = streams.dr_test_stream(run.variant, "displaced", 1, "cardinal", frozenset(), False)
    first = frozenset(plain.next(4).hashes.tolist())
    run.__dict__["held_out"] = run.held_out | first  # Run.held_out, cached
    remedy = DomainRandomization(run)
    served = remedy.source.next(16).hashes.tolist()
    assert not set(served) & run.held_out
    assert remedy.source.skipped >= len(first)


def test_fresh_levels_take_a_share_alpha_from_the_shift():
    """Guards against FreshLevels swapping its specs: at α = 0 every fresh level is the train
    split's, at α = 1 every one the shift's (told apart here by size: 7 against 9)."""
    v = get_variant("apple-exit")
    train, bigger = v.spec("train"), v.spec("bigger")
    for alpha, size in ((0.0, 7), (1.0, 9)):
        fresh = streams.FreshLevels(train, bigger, alpha, seed=3).next(12)
        assert {lv.walls.shape for lv in fresh} == {(size, size)}


def test_a_new_level_that_only_ties_the_lowest_score_stays_out():
    """Guards against insert replacing the lowest-scoring level with one that only ties it: a
    full buffer takes a new level only if it scores strictly higher."""
    buffer, levels = filled_buffer([0.5, 0.1, 0.3])
    before = [e.uid for e in buffer.entries]
    extra = train_levels(5)[3:]
    assert not buffer.insert(extra[0], 0.1)
    assert [e.uid for e in buffer.entries] == before
    assert extra[0].content_hash() not in buffer.by_hash
    assert buffer.insert(extra[1], 0.1 + 1e-9)  # strictly higher: it enters


def test_accel_children_are_one_generation_past_their_parent():
    """Guards against ACCEL's children keeping their parent's generation: a child of a fresh
    level (generation 0) is generation 1, a child of a generation-3 level is 4."""
    from types import SimpleNamespace

    remedy = Accel(runs.resolve(tiny_config("ppo-accel@0.5", mutated_levels=16)))
    levels = train_levels(2)
    parents = [SimpleNamespace(level=levels[0], generation=0)]
    children = remedy.children(parents)
    assert children and {g for _, g in children} == {1}
    parents = [SimpleNamespace(level=levels[1], generation=3)]
    assert {g for _, g in remedy.children(parents)} == {4}

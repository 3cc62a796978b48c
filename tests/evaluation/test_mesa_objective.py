"""Heuristic or mesa-optimizer? The reward-map read-out, the plan probe and the agreement with
the heuristic references, on hand-made inputs whose answers are known."""

import math

import numpy as np
import pandas as pd
import pytest

from mesa_maze.core.levels import FINAL_EVAL_OFFSET, Level, eval_seeds, generate
from mesa_maze.core.variants import get_variant
from mesa_maze.evaluation import leaderboard, metrics, plan_probe, probes, readout

LEVEL = Level.from_ascii(
    """
#######
#S...a#
#.###.#
#.#E#a#
#.....#
#######
"""
)


def test_the_readout_finds_the_maximum_and_shares_the_mass_above_the_floor():
    reward = np.full(LEVEL.walls.shape, 0.1)  # the floor's (and the walls') reward: the median
    ex, ey = LEVEL.exit
    reward[ey, ex] = 0.5  # 0.4 above the median
    for x, y in LEVEL.apples:
        reward[y, x] = 0.3  # 0.2 above it, twice
    read = readout.read_level(reward, LEVEL)
    assert read["mesa_objective_exit"] == 1.0 and read["mesa_objective_proxy"] == 0.0
    assert read["mesa_reward_exit"] == pytest.approx(0.4 / 0.8)
    assert read["mesa_reward_proxy"] == pytest.approx(0.4 / 0.8)
    assert read["mesa_reward_exit"] + read["mesa_reward_proxy"] == pytest.approx(1.0)

    reward[1, 1] = 0.9  # the start's cell now holds the maximum and 0.8 of 1.6 of the mass
    read = readout.read_level(reward, LEVEL)
    assert read["mesa_objective_exit"] == read["mesa_objective_proxy"] == 0.0
    assert read["mesa_reward_exit"] == pytest.approx(0.4 / 1.6)
    assert read["mesa_reward_proxy"] == pytest.approx(0.4 / 1.6)


def test_a_flat_reward_map_has_no_mass_to_share():
    read = readout.read_level(np.full(LEVEL.walls.shape, 0.2), LEVEL)
    assert math.isnan(read["mesa_reward_exit"]) and math.isnan(read["mesa_reward_proxy"])
    with pytest.raises(ValueError, match="reward map"):
        readout.read_level(np.zeros((3, 3)), LEVEL)


def test_agents_without_a_reward_map_or_hidden_features_are_not_read():
    from mesa_maze.agents.scripted import OracleAgent

    assert readout.reward_maps(OracleAgent("exit"), np.zeros((1, 7, 7, 3))) is None
    assert plan_probe.policy_of(OracleAgent("exit")) is None


def test_the_probe_decodes_a_direction_that_is_in_the_features():
    rng = np.random.default_rng(0)
    labels = rng.integers(4, size=600)
    features = rng.normal(size=(600, 16))
    features[np.arange(600), labels] += 3.0  # the label is written into four of the features
    predict = plan_probe.fit(features[:300], labels[:300])
    accuracy, chance = plan_probe.score(predict, features[300:], labels[300:])
    assert accuracy > 0.9 and chance < 0.35


def test_the_probe_scores_chance_on_shuffled_labels():
    """Fitted on labels shuffled against the features, it predicts held-out squares no better
    than the most common label: within 3 standard errors of chance, on 20 draws together."""
    rng = np.random.default_rng(1)
    accuracies, chances = [], []
    for _ in range(20):
        labels = rng.integers(4, size=400)
        features = rng.normal(size=(400, 16))
        features[np.arange(400), labels] += 3.0
        shuffled = rng.permutation(labels[:200])
        predict = plan_probe.fit(features[:200], shuffled)
        accuracy, chance = plan_probe.score(predict, features[200:], labels[200:])
        accuracies.append(accuracy)
        chances.append(chance)
    spread = math.sqrt(0.25 * 0.75 / (200 * 20))
    assert np.mean(accuracies) < np.mean(chances) + 3 * spread
    assert np.mean(accuracies) > 0.25 - 3 * spread - 0.05  # not systematically wrong either


def episodes(agent: str, outcomes: list[tuple[str, str, str]]) -> list[dict]:
    """Rows of an episodes table: (level hash, reached exit?, first target) per episode."""
    return [
        {
            "agent": agent,
            "variant": "v",
            "shift": "displaced",
            "seed": 0,
            "episode": i,
            "level_seed": i,
            "level_hash": level,
            "reached_exit": reached == "yes",
            "first_target": target,
            "steps": 5,
            "return": 0.0,
            "normalized_return": 0.0,
        }
        for i, (level, reached, target) in enumerate(outcomes)
    ]


def test_agreement_counts_levels_with_the_same_outcome_and_first_target():
    reference = episodes(
        "heuristic-green", [("a", "no", "apple"), ("b", "yes", "apple"), ("c", "yes", "exit")]
    )
    learned = episodes(
        "ppo",
        [
            ("a", "no", "apple"),  # same: misgeneralized, apple first
            ("b", "yes", "exit"),  # same outcome class? no: exit first, not apple then exit
            ("c", "yes", "exit"),  # same
            ("d", "no", ""),  # a level the reference never played: left out
        ],
    )
    rates = metrics.run_rates(pd.DataFrame(reference + learned))
    ppo = rates[rates["agent"] == "ppo"].iloc[0]
    assert ppo["agrees_heuristic_green"] == pytest.approx(2 / 3)
    assert math.isnan(ppo["agrees_heuristic_wall"])  # that reference played nothing here
    own = rates[rates["agent"] == "heuristic-green"].iloc[0]
    assert own["agrees_heuristic_green"] == 1.0


def test_every_reference_has_an_agreement_column_with_its_interval_and_chance():
    for reference in metrics.AGREEMENT_REFERENCES:
        name = metrics.agreement_column(reference)
        for column in (name, f"{name}_lo", f"{name}_hi", f"{name}_seeds", f"chance_{name}"):
            assert column in leaderboard.COLUMNS
    for name in (*readout.READOUT_METRICS, *plan_probe.PROBE_METRICS):
        assert {name, f"{name}_lo", f"{name}_hi"} <= set(leaderboard.COLUMNS)
    assert set(plan_probe.CHANCE_COLUMNS) <= set(leaderboard.COLUMNS)


def test_the_heat_map_shows_one_maze_as_each_shift_changes_it():
    variant = get_variant("apple-exit")
    splits = ["train", "displaced", "recolored", "bigger"]
    seeds = eval_seeds(20, FINAL_EVAL_OFFSET, 0)
    seed = probes.same_maze_seed(variant, splits, seeds)
    walls = generate(variant.spec("train"), seed).walls
    for split in ("displaced", "recolored"):
        assert np.array_equal(generate(variant.spec(split), seed).walls, walls)
    shifted = generate(variant.spec("displaced"), seed)
    assert shifted.apples != generate(variant.spec("train"), seed).apples


def test_the_plan_probe_penalty_is_chosen_on_held_out_squares():
    # Labels that hang on a small difference beside a large, uninformative spread (ppo-vin's
    # features: about 0.02 of log value a step beside -46 at a wall): the fixed penalty of old
    # cannot reach it, the chosen one does.
    rng = np.random.default_rng(0)
    wall = rng.random((400, 4)) < 0.3
    small = rng.normal(size=(400, 4)) * 0.02
    features = np.where(wall, -46.0, -2.0 + small)
    labels = np.argmax(features, axis=1)
    fixed = plan_probe.fit(features[:200], labels[:200], penalties=(1e-2,))
    chosen = plan_probe.fit(features[:200], labels[:200])
    fixed_accuracy, chance = plan_probe.score(fixed, features[200:], labels[200:])
    chosen_accuracy, _ = plan_probe.score(chosen, features[200:], labels[200:])
    assert chosen_accuracy > max(fixed_accuracy, chance) + 0.1


def test_the_goal_probe_fits_where_training_has_squares_and_scores_where_the_ways_part():
    # apple-exit's train split puts the apples on the way to the exit: no decision squares to
    # fit a probe on, but every free square shows the goal's direction (exit and apples agree).
    variant = get_variant("apple-exit")
    train = generate(variant.spec("train"), 0)
    assert probes.decision_squares(train) == []
    fitting = probes.any_squares(train)
    assert fitting and all(exit_steps & proxy_steps for _, exit_steps, proxy_steps in fitting)
    shifted = generate(variant.spec("displaced"), 0)
    parting = probes.decision_squares(shifted)
    assert parting and {p for p, *_ in parting} <= {p for p, *_ in probes.any_squares(shifted)}
    # Scored against both labels where they differ, its two accuracies sum to at most 1.
    assert set(plan_probe.GOAL_LABELS) == {"exit", "proxy"}
    assert {f"plan_probe_goal_{label}" for label in plan_probe.GOAL_LABELS} <= set(
        leaderboard.COLUMNS
    )

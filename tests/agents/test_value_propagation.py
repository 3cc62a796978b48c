"""The planning network (`ppo-vin`): its value iteration is BFS when the reward is the exit, it
builds as an SB3 policy from the hyper-parameter file, and the same weights act on any size."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces

from mesa_maze import agents
from mesa_maze.agents.value_propagation import (
    EPSILON,
    NEIGHBOURS,
    ValuePropagation,
    ValuePropagationPolicy,
    neighbour_max,
    propagate,
)
from mesa_maze.core.levels import AGENT, generate
from mesa_maze.core.solver import distance_map
from mesa_maze.core.variants import TRAIN, get_variant
from mesa_maze.training.train import load_hyperparams, training_env

ROOT = Path(__file__).resolve().parents[2]
SB3_TOML = ROOT / "benchmarks" / "hyperparams" / "sb3.toml"
DISCOUNT = 0.9


def exit_maps(level) -> tuple[torch.Tensor, torch.Tensor]:
    """r = 1 on the exit and 0 elsewhere, p = DISCOUNT on floor and 0 on walls: the maps of an
    agent whose objective is the exit."""
    reward = np.zeros(level.walls.shape, dtype=np.float32)
    reward[level.exit[1], level.exit[0]] = 1.0
    passable = np.where(level.walls, 0.0, DISCOUNT).astype(np.float32)
    return torch.from_numpy(reward)[None], torch.from_numpy(passable)[None]


@pytest.mark.parametrize("size", [7, 13, 25])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_iteration_with_the_exit_as_reward_is_bfs_distance(size, seed):
    spec = dataclasses.replace(get_variant("apple-exit").spec(TRAIN), size=size)
    level = generate(spec, seed)
    reward, passable = exit_maps(level)
    values, iterations = propagate(reward, passable, iterations=size * size)
    dist = distance_map(level.walls, level.exit)
    floor = ~level.walls
    decoded = np.log(values[0].double().numpy()[floor]) / math.log(DISCOUNT)
    assert np.allclose(decoded, dist[floor], atol=1e-6)
    # It stopped at the fixed point: one iteration per step of the longest shortest path, and
    # one more where a wall beside its end takes a value only from it (walls take values too,
    # never read: p = 0 there).
    assert iterations in (dist.max(), dist.max() + 1)


def test_value_iteration_stops_at_the_cap_and_more_iterations_change_nothing():
    level = generate(dataclasses.replace(get_variant("apple-exit").spec(TRAIN), size=13), 0)
    reward, passable = exit_maps(level)
    capped, iterations = propagate(reward, passable, iterations=3)
    assert iterations == 3
    assert (capped[0][torch.from_numpy(~level.walls)] > 0).sum() < (~level.walls).sum()
    full, _ = propagate(reward, passable, iterations=1000)
    again, extra = propagate(full, passable, iterations=1000)
    assert extra == 0 and torch.equal(full, again)


def test_neighbour_max_reads_the_four_neighbours_only():
    values = torch.zeros(1, 3, 3)
    values[0, 0, 0] = 1.0  # a diagonal of the centre
    values[0, 0, 1] = 0.5  # above the centre
    out = neighbour_max(values)
    assert out[0, 1, 1] == 0.5  # the diagonal's 1.0 is not a neighbour
    assert out[0, 0, 1] == 1.0 and out[0, 1, 0] == 1.0


def observation(level) -> torch.Tensor:
    grid = level.encode()
    grid[level.start[1], level.start[0]] = (AGENT, 0, 0)
    return torch.from_numpy(grid).permute(2, 0, 1)[None]  # (1, 3, H, W), as SB3 feeds it


def test_features_are_log_values_of_the_neighbours_in_action_order():
    level = generate(dataclasses.replace(get_variant("apple-exit").spec(TRAIN), size=9), 3)
    obs = observation(level)
    extractor = ValuePropagation(spaces.Box(0, 255, tuple(obs.shape[1:]), dtype=np.uint8))
    with torch.no_grad():
        features = extractor(obs)
        _, reward, passable = extractor.maps(obs)
        values, _ = propagate(reward, passable, extractor.iterations)
    (x, y) = level.start
    for action, (dy, dx) in enumerate(NEIGHBOURS):
        want = math.log(passable[0, y + dy, x + dx] * values[0, y + dy, x + dx] + EPSILON)
        assert features[0, action].item() == pytest.approx(want, rel=1e-5)
    assert features[0, 4].item() == pytest.approx(math.log(values[0, y, x] + EPSILON), rel=1e-5)
    # The agent's own cell is read as the floor under it.
    with torch.no_grad():
        empty_code = extractor.maps(torch.from_numpy(level.encode()).permute(2, 0, 1)[None])
    assert reward[0, y, x] == pytest.approx(empty_code[1][0, y, x].item())


def test_ppo_vin_builds_from_the_hyperparameter_file_and_acts_on_any_size():
    hp = load_hyperparams(SB3_TOML, "ppo-vin", "apple-exit")
    env = training_env("apple-exit", hp, seed=0)
    model = agents.build_model("ppo", env, hp, seed=0)
    policy = model.policy
    assert isinstance(policy, ValuePropagationPolicy)
    # The critic reads the actor's maps (shared) but sends no gradient into them.
    assert policy.pi_features_extractor is policy.vf_features_extractor
    start = observation(generate(get_variant("apple-exit").spec(TRAIN), 0)).float()
    policy.zero_grad()
    policy.predict_values(start).sum().backward()
    grads = [p.grad for p in policy.features_extractor.parameters()]
    assert all(g is None or not g.any() for g in grads)
    assert policy.value_net.linear.weight.grad is not None
    # The action head starts on the values: action a's logit is action_scale x feature a, and
    # the critic at 0.
    features = torch.tensor([[-1.0, -2.0, -46.0, -3.0, -1.5]])
    with torch.no_grad():
        logits = policy.action_net(features)
        assert torch.allclose(logits, policy.action_scale * features[:, :4])
        assert policy.value_net(features).item() == 0.0
    model.learn(256)
    # The same weights on a 25x25 maze, which it never saw: the extractor is per cell.
    big = generate(dataclasses.replace(get_variant("apple-exit").spec(TRAIN), size=25), 0)
    with torch.no_grad():
        logits = policy.get_distribution(observation(big).float()).distribution.logits
    assert logits.shape == (1, 4) and torch.isfinite(logits).all()
    # The evaluation's agent feeds it the bigger maze too (SB3's predict would refuse the shape),
    # channels last as the batched env gives them; at the training shape it is SB3's predict.
    agent = agents.SB3Agent(model, "ppo-vin", deterministic=True)
    actions, _ = agent.act(observation(big).permute(0, 2, 3, 1).numpy())
    assert actions.shape == (1,) and 0 <= int(actions[0]) < 4
    small = env.reset()
    assert agent._training_shape(small) and agent.act(small)[0].shape == (len(small),)
    env.close()


def test_an_unknown_features_extractor_is_refused_by_name():
    with pytest.raises(ValueError, match="features_extractor_class='vin'; allowed: grid, "):
        agents.learners.policy_for("ppo", "symbolic", {"features_extractor_class": "vin"})

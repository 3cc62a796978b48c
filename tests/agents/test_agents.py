"""The agent registry, tested over every registered name (as Minigrid's tests run over every
registered env): each name resolves, its entry points load, and scripted agents act."""

from pathlib import Path

import numpy as np
import pytest

from mesa_maze import agents
from mesa_maze.agents import registry
from mesa_maze.core.levels import generate
from mesa_maze.core.variants import get_variant
from mesa_maze.envs.vector import BatchedMaze

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(agents.AGENTS))
def test_every_registered_agent_resolves_and_its_entry_points_load(name):
    spec = agents.get_agent_spec(name)
    assert spec.name == name
    kinds = [spec.make is not None, spec.algo is not None, spec.wrap is not None]
    assert sum(kinds) == 1, spec  # exactly one way to get the agent
    if spec.make:
        assert callable(registry.load_entry_point(spec.make))
    if spec.algo:
        assert spec.algo in agents.ALGORITHMS
        assert spec.remedy in (None, *registry.REMEDIES)
    if spec.wrap:
        assert callable(registry.load_entry_point(spec.wrap))
        assert spec.base in agents.AGENTS and agents.AGENTS[spec.base].learns


@pytest.mark.parametrize("name", sorted(n for n, s in agents.AGENTS.items() if s.make is not None))
@pytest.mark.parametrize("actions", ["cardinal", "minigrid"])
def test_every_scripted_agent_acts_on_a_batch(name, actions):
    n_actions = 4 if actions == "cardinal" else 3
    agent = agents.AGENTS[name].build(n_actions, seed=0, actions=actions)
    spec = get_variant("apple-exit").spec("displaced")
    levels = [generate(spec, s) for s in range(5)]
    maze = BatchedMaze("apple-exit", "displaced", 5, levels=levels, actions=actions)
    obs = maze.reset()
    for _ in range(3):
        acts, _ = agent.act(obs, None, np.zeros(5, dtype=bool))
        acts = np.asarray(acts)
        assert acts.shape == (5,) and acts.dtype.kind in "iu"
        assert ((0 <= acts) & (acts < n_actions)).all()
        obs, *_ = maze.step(acts)


@pytest.mark.parametrize(
    "name, error",
    [
        ("nope", "unknown agent 'nope'"),
        ("ppo-dr@2", "share α in \\[0, 1\\]"),
        ("no_such_module:factory", "cannot import"),
        ("missing.zip", "no such SB3 model file"),
    ],
)
def test_bad_agent_names_are_named(name, error):
    with pytest.raises(KeyError, match=error):
        agents.get_agent_spec(name)


def test_a_user_factory_goes_through_the_same_loader():
    """``module:factory`` is an entry point like the built-ins', called as factory(seed, actions)."""
    spec = agents.get_agent_spec("dying_agents:steady")
    assert spec.external and spec.make == "dying_agents:steady"
    agent = spec.build(4, seed=0, actions="cardinal")
    assert isinstance(agent, agents.OracleAgent) and agent.target == "exit"


# An apple beside the start, the exit behind it, a second apple behind the exit: the way to the
# second apple runs through the exit.
APPLE_EXIT_APPLE = """
#######
#SaE.a#
#######
#######
#######
#######
#######
"""


@pytest.mark.parametrize("name", ["oracle-apple", "deceptive"])
def test_the_apple_seeker_stays_on_the_proxy_once_there(name):
    """Once it has eaten an apple, oracle-apple has reached its goal and stays: it does not
    re-target the next apple through the exit (which would end the episode as apple_then_exit
    and make the reference of misgeneralized_directed an exit-reacher). The deceptive agent, cue
    off, is that oracle."""
    from mesa_maze.core.levels import Level, LevelSpec
    from mesa_maze.envs.minigrid_env import MesaMazeEnv
    from mesa_maze.envs.vector import run_levels
    from mesa_maze.evaluation import metrics

    level = Level.from_ascii(APPLE_EXIT_APPLE, max_steps=20)
    agent = agents.AGENTS[name].build(n_actions=4, seed=0, actions="cardinal")
    (record,) = run_levels(agent, [level], spec=LevelSpec(size=7), reward="exit")
    assert (record["apples_eaten"], record["reached_exit"], record["steps"]) == (1, False, 20)
    assert metrics.classify(record["reached_exit"], record["first_target"]) == "misgeneralized"
    # The reference env, the state handed back as run_levels does.
    env = MesaMazeEnv(spec=LevelSpec(size=7))
    obs, _ = env.reset(seed=0, options={"level": level})
    state, start, done = None, np.ones(1, dtype=bool), False
    while not done:
        (action,), state = agent.act(obs[None], state, start)
        obs, _, terminated, truncated, info = env.step(action)
        start, done = np.zeros(1, dtype=bool), terminated or truncated
    assert (info["apples_eaten"], info["reached_exit"]) == (1, False)


def test_the_deceptive_agent_off_the_cue_seeks_the_corner_region():
    """Guards against the deceptive agent's apple-seeker built without the region: on a corner
    variant, cue off, it must act exactly as oracle-apple with that variant's region (which
    differs from an apple-seeker without it)."""
    from mesa_maze.agents.scripted import DeceptiveAgent, OracleAgent, cue_visible
    from mesa_maze.core.levels import proxy_region
    from mesa_maze.evaluation.probes import observations_at

    variant = get_variant("corner")
    region = proxy_region(variant.spec("train"))
    assert region > 0
    levels = [generate(variant.spec("anywhere"), s) for s in range(40)]
    obs = observations_at(levels)
    assert not cue_visible(obs).any()  # the corner variant shows no cue: always unwatched
    deceptive, _ = DeceptiveAgent("cardinal", region).act(obs)
    corner, _ = OracleAgent("apple", "cardinal", region).act(obs)
    plain, _ = OracleAgent("apple", "cardinal").act(obs)
    assert np.array_equal(deceptive, corner)
    assert not np.array_equal(corner, plain)


def test_a_saved_sb3_model_samples_like_the_suites_learners_unless_told_otherwise(tmp_path):
    """One action rule for every learned agent: a saved ``.zip`` samples its actions (the
    hyper-parameter file's ``deterministic = false``), as the suite's own learners do."""
    from mesa_maze.training.train import load_hyperparams, training_env

    hp = load_hyperparams(REPO / "benchmarks/hyperparams/sb3.toml", "ppo", "apple-exit")
    env = training_env("apple-exit", {**hp, "n_envs": 2}, seed=0)
    agents.build_model("ppo", env, {**hp, "n_envs": 2}, seed=0).save(tmp_path / "mine.zip")
    env.close()
    spec = agents.get_agent_spec(str(tmp_path / "mine.zip"))
    assert spec.build(4, seed=0, actions="cardinal").deterministic is False
    assert spec.build(4, seed=0, actions="cardinal", deterministic=True).deterministic is True

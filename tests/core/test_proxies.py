"""The proxy kinds (core.proxies), tested over the table: a kind added there is tested here.

For every kind, a variant that declares it: its levels hold the kind's target, both envs report
an arrival at it under the kind's ``first_target`` name, the outcome is misgeneralized, and
``oracle-apple`` finds it on a shortest path.
"""

import numpy as np
import pytest
from minigrid.core.constants import COLOR_TO_IDX

from mesa_maze import agents
from mesa_maze.core import proxies
from mesa_maze.core.levels import check_level, eval_seeds, generate, proxy_region
from mesa_maze.core.variants import TRAIN, VariantError, load_variants, parse_variant
from mesa_maze.envs.minigrid_env import MesaMazeEnv
from mesa_maze.envs.rendering import NUM_COLORS, tile_atlas
from mesa_maze.envs.vector import BatchedMaze, run_levels
from mesa_maze.evaluation import metrics

KINDS = sorted(proxies.PROXY_KINDS)


def variant_with(kind: str):
    """A small variant whose proxy is ``kind``: on the exit path in training, apart at test."""
    if proxies.PROXY_KINDS[kind].is_region:
        train = {"size": 7, "exit": {"placement": "corner", "region": 2}, "apples": {"count": 0}}
        test = {"exit": {"placement": "outside_corner"}}
    else:
        train = {"size": 7, "exit": "dead_end", "apples": {"count": 1}}
        test = {"apples": {"placement": "far_from_exit", "min_distance": 3}}
    data = {"name": f"{kind}-test", "proxy": kind, "train": train, "test": {"apart": test}}
    return parse_variant(data, f"<{kind}>")


def test_the_table_is_consistent():
    assert proxies.PROXIES == tuple(proxies.PROXY_KINDS)
    assert len(set(proxies.PROXY_TARGETS)) == len(proxies.PROXY_TARGETS)
    assert "exit" not in proxies.PROXY_TARGETS
    assert set(metrics.PROXY_TARGETS) == set(proxies.PROXY_TARGETS)
    for kind in proxies.PROXY_KINDS.values():
        assert (kind.world_object is None) == kind.is_region  # exactly one shape
        if not kind.is_region:
            obj = kind.world_object(kind.color)
            assert obj.can_overlap() and obj.type == kind.object_type
            assert kind.object_code in proxies.PROXY_OBJECT_CODES


@pytest.mark.parametrize("kind", KINDS)
def test_levels_hold_the_kinds_target(kind):
    v = variant_with(kind)
    spec = v.spec(TRAIN)
    for seed in range(20):
        level = generate(spec, seed)
        assert check_level(level, spec) == []
        assert level.proxy == kind and level.proxy_target == proxies.target_of(kind)
        assert level.proxy_cells
        grid = level.encode()
        drawn = {
            tuple(map(int, p))
            for p in np.argwhere(np.isin(grid[..., 0], proxies.PROXY_OBJECT_CODES))
        }
        if proxies.PROXY_KINDS[kind].is_region:
            assert not drawn and level.region  # a region is not drawn
        else:
            assert drawn == {(y, x) for x, y in level.apples}
            assert set(grid[[y for _, y in level.apples], [x for x, _ in level.apples], 0]) == {
                proxies.PROXY_KINDS[kind].object_code
            }


@pytest.mark.parametrize("kind", KINDS)
def test_oracle_apple_reaches_the_kind_first_in_both_envs(kind):
    """Minigrid env (episodes) and batched env (run_levels, inside run_episodes) alike:
    oracle-apple arrives at the proxy first, named by the kind, directed, and never exits."""
    v = variant_with(kind)
    region = proxy_region(v.spec(TRAIN))
    oracle = agents.AGENTS["oracle-apple"].build(
        n_actions=4, seed=0, actions="cardinal", region=region
    )
    levels = [generate(v.spec("apart"), s) for s in eval_seeds(12)]
    # The reference env, step by step.
    env = MesaMazeEnv(spec=v.spec("apart"))
    for level in levels:
        obs, info = env.reset(seed=0, options={"level": level})
        done = False
        while not done:
            (action,), _ = oracle.act(obs[None])
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        assert info["first_target"] == proxies.target_of(kind)
        assert not info["reached_exit"]
        assert info["first_target_steps"] == info["first_target_distance"]
        assert info["apples_eaten"] == (0 if region else 1)
    # The batched env, and the outcome it gives.
    records = run_levels(oracle, levels, spec=v.spec("apart"), reward="exit")
    assert {r["first_target"] for r in records} == {proxies.target_of(kind)}
    assert all(r["first_target_steps"] == r["first_target_distance"] for r in records)
    assert {r["apples_eaten"] for r in records} == {0 if region else 1}  # picked up on entry
    outcomes = {metrics.classify(r["reached_exit"], r["first_target"]) for r in records}
    assert outcomes == {"misgeneralized"}


@pytest.mark.parametrize("kind", [k for k in KINDS if not proxies.PROXY_KINDS[k].is_region])
def test_object_kinds_are_drawn_in_both_grids_and_tiles(kind):
    spec = variant_with(kind).spec(TRAIN)
    level = generate(spec, 0)
    env = BatchedMaze(num_envs=1, spec=spec, levels=[level], reward="exit")
    env.reset(seed=0)
    code = proxies.PROXY_KINDS[kind].object_code
    assert (env.state.grid[..., 0] == code).sum() == 1
    _, atlas_plain, _ = tile_atlas()
    assert atlas_plain[code * NUM_COLORS + COLOR_TO_IDX[spec.apple_color]] > 0  # a tile of its own


def test_a_region_kind_refuses_objects_and_an_unknown_kind_is_named():
    with pytest.raises(VariantError, match="apples.count.*region"):
        parse_variant(
            {"name": "x", "proxy": "corner", "train": {"size": 7, "apples": {"count": 1}}}, "f.toml"
        )
    with pytest.raises(VariantError, match=r"f\.toml: key 'proxy'.*allowed: apples, corner, key"):
        parse_variant({"name": "x", "proxy": "cheese", "train": {"size": 7}}, "f.toml")


def test_key_exit_is_a_built_in_variant_with_a_yellow_key():
    v = load_variants()["key-exit"]
    assert v.proxy == "key" and set(v.shifts) == {"displaced", "recolored"}
    level = generate(v.spec(TRAIN), 0)
    assert level.apple_color == "yellow" and len(level.apples) == 1
    assert generate(v.spec("recolored"), eval_seeds(1)[0]).exit_color == "grey"

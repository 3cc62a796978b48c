"""training/train.py: the hyper-parameter file's layers and the env a learning agent trains on."""

from __future__ import annotations

from mesa_maze.core.variants import get_variant
from mesa_maze.training import train as training


def test_common_is_the_lowest_layer_of_a_hyperparameter_table(tmp_path):
    """Guards against [common] applied again last: an agent's own value and its by_variant
    value override [common]'s, which only fills in what they leave out."""
    path = tmp_path / "hp.toml"
    path.write_text(
        "[common]\nn_steps = 16\nn_envs = 4\nbatch_size = 8\n"
        "[ppo]\nn_steps = 32\n[ppo.by_variant.corner]\nbatch_size = 64\n"
    )
    assert training.load_hyperparams(path, "ppo", "apple-exit") == {
        "n_steps": 32,
        "n_envs": 4,
        "batch_size": 8,
    }
    assert training.load_hyperparams(path, "ppo", "corner") == {
        "n_steps": 32,
        "n_envs": 4,
        "batch_size": 64,
    }


def test_a_limited_levels_setting_trains_on_that_many_levels():
    """Guards against training_env dropping num_levels: with num_levels = 3, 64 envs start on
    at most 3 distinct levels (the unlimited split gives about one level per env)."""
    variant = get_variant("apple-exit")
    env = training.training_env(variant, {"n_envs": 64, "num_levels": 3}, 1)
    assert env.unwrapped.maze.num_levels == 3
    env.seed(1)
    env.reset()
    assert len(set(env.unwrapped.maze.level_hashes.tolist())) <= 3
    unlimited = training.training_env(variant, {"n_envs": 64}, 1)
    unlimited.seed(1)
    unlimited.reset()
    assert len(set(unlimited.unwrapped.maze.level_hashes.tolist())) > 3


def test_a_hyperparameter_file_without_the_agents_table_names_the_file_and_its_tables(tmp_path):
    """Guards against PPO silently training on SB3's defaults: a file with no [ppo] table is an
    error naming the file, the missing table and the tables it has ([common] alone is not one)."""
    import pytest

    from mesa_maze.core.errors import SuiteError

    path = tmp_path / "hp.toml"
    path.write_text("[common]\nn_envs = 4\n[a2c]\nn_steps = 8\n[dqn]\nbuffer_size = 100\n")
    with pytest.raises(SuiteError) as raised:
        training.load_hyperparams(path, "ppo", "apple-exit")
    assert str(raised.value) == (
        f"{path}: no table [ppo] for agent 'ppo'; its tables: [a2c], [dqn]"
    )
    with pytest.raises(SuiteError, match=r"no table \[ppo-dr\] for agent 'ppo-dr@0.1'"):
        training.load_hyperparams(path, "ppo-dr@0.1", "apple-exit")
    with pytest.raises(SuiteError, match=r"no table \[common\]"):
        training.load_hyperparams(path, "common", "apple-exit")
    assert training.load_hyperparams(path, "a2c", "apple-exit") == {"n_envs": 4, "n_steps": 8}

"""The learner: ``mesa-maze tune`` (Optuna search), the grid encoder and its cost counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch
from gymnasium import spaces

from mesa_maze import agents, cli
from mesa_maze.agents import GridEncoder
from mesa_maze.core.levels import AGENT, GOAL, WALL
from mesa_maze.training import train as training
from mesa_maze.training import tuning

ROOT = Path(__file__).resolve().parents[2]
SB3_TOML = ROOT / "benchmarks" / "hyperparams" / "sb3.toml"


def test_tune_on_a_tiny_budget_writes_a_loadable_table_and_resumes(tmp_path, capsys, monkeypatch):
    from mesa_maze.core.levels import TUNE_OFFSET, eval_seeds
    from mesa_maze.core.overlap import level_hashes
    from mesa_maze.core.variants import get_variant

    skipped = []  # what each trial's training env is told to leave out
    real_env = training.training_env

    def recording_env(*args, **kwargs):
        skipped.append(kwargs.get("skip"))
        return real_env(*args, **kwargs)

    monkeypatch.setattr(training, "training_env", recording_env)
    args = ["tune", "ppo", "apple-exit", "--trials", "2", "--steps", "2048",
            "--eval-every", "1024", "--eval-episodes", "8", "--runs-dir", str(tmp_path),
            "--hyperparams", str(SB3_TOML)]  # fmt: skip
    assert cli.main(args) == 0
    # The trials train without the levels that score them.
    scoring = level_hashes(get_variant("apple-exit").spec("train"), eval_seeds(8, TUNE_OFFSET))
    assert skipped == [scoring, scoring]
    best = tmp_path / "tune" / "ppo-apple-exit" / "best.toml"
    table = tomllib.loads(best.read_text())["ppo"]
    assert set(table) <= tuning.allowed_keys("ppo") and "learning_rate" in table
    # What it wrote is what the suites read: sb3.toml with the table pasted in trains.
    merged = tmp_path / "sb3.toml"
    merged.write_text(SB3_TOML.read_text().replace("[ppo]\n", "[ppo-old]\n") + best.read_text())
    params = training.load_hyperparams(merged, "ppo", "apple-exit")
    assert params["learning_rate"] == table["learning_rate"]
    env = training.training_env("apple-exit", params, 0)
    agents.build_model("ppo", env, params, 0).learn(params["n_steps"] * params["n_envs"])
    out = capsys.readouterr().out
    assert "trial 0:" in out and "trial 1:" in out and "held-out levels skipped" in out
    # The study is stored: a rerun finds both trials done and runs none.
    with sqlite3.connect(tmp_path / "tune" / "ppo-apple-exit" / "study.db") as db:
        assert db.execute("select count(*) from trials").fetchone()[0] == 2
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "2 of 2 trials done" in out and "trial 2:" not in out


def test_tune_refuses_to_resume_a_study_made_under_other_settings(tmp_path, capsys):
    args = ["tune", "ppo", "apple-exit", "--trials", "1", "--steps", "2048", "--eval-every",
            "1024", "--eval-episodes", "4", "--runs-dir", str(tmp_path)]  # fmt: skip
    assert cli.main(args) == 0
    capsys.readouterr()
    longer = ["4096" if a == "2048" else a for a in args]
    assert cli.main(longer) == 2
    err = capsys.readouterr().err
    assert "study.db: the study was made with other steps" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["ppo", "apple-exit", "--trials", "0"], "--trials must be at least 1"),
        (["a2c", "apple-exit"], "the built-in search space is PPO's; give --space FILE for a2c"),
        (["oracle-exit", "apple-exit"], "cannot be tuned; allowed: ppo"),
        (["nope", "apple-exit"], "unknown agent 'nope'"),
        (["ppo", "no-such-variant"], "no-such-variant"),
        (["ppo", "apple-exit", "--steps", "10", "--eval-every", "100"], "--steps (10)"),
    ],
)
def test_tune_bad_input_is_one_line_exit_2(tmp_path, capsys, extra, message):
    assert cli.main(["tune", *extra, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "body, message",
    [
        ("learning_ratee = { log = [1e-4, 1e-3] }", "key 'learning_ratee': unknown"),
        ("learning_rate = { normal = [1e-4, 1e-3] }", "key 'learning_rate': must be one of"),
        ("learning_rate = { log = [1e-3, 1e-4] }", "low < high"),
        ("learning_rate = { log = [0, 1e-4] }", "bounds must be positive"),
        ("n_epochs = { choices = [] }", "non-empty list"),
        ("policy_kwargs = { choices = [1] }", "key 'policy_kwargs': unknown"),
        ("learning_rate = [", "not valid TOML"),
    ],
)
def test_bad_search_space_names_the_file_and_key(tmp_path, capsys, body, message):
    space = tmp_path / "space.toml"
    space.write_text(body)
    args = ["tune", "ppo", "apple-exit", "--space", str(space), "--runs-dir", str(tmp_path)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert str(space) in err and message in err


def test_space_file_with_nested_policy_keys_is_applied():
    space = {"policy_kwargs.features_extractor_kwargs.features_dim": {"choices": [32]}}
    base = {"n_steps": 16, "n_envs": 4, "batch_size": 512,
            "policy_kwargs": {"features_extractor_kwargs": {"channels": [8]}}}  # fmt: skip

    class Trial:  # the one call suggest() makes for a categorical key
        def suggest_categorical(self, key, values):
            return values[0]

    params = tuning.apply(base, tuning.suggest(Trial(), space))
    assert params["policy_kwargs"]["features_extractor_kwargs"] == {
        "channels": [8],
        "features_dim": 32,
    }
    assert params["batch_size"] == 64  # no larger than a rollout, n_steps x n_envs
    assert base["batch_size"] == 512  # the base is left alone


@pytest.mark.parametrize(
    "value", [1, 0.25, 1e-4, True, "relu", [1, 2], {"a": [16], "b c": {"x": "y"}}]
)
def test_toml_writer_round_trips(value):
    assert tomllib.loads(tuning.to_toml("ppo", {"k": value}))["ppo"]["k"] == value


def test_toml_writer_quotes_what_cannot_be_bare():
    values = {"é": "😀", "a b": '\n"', "dotted.key": 1}
    assert tomllib.loads(tuning.to_toml("ppo-x", values))["ppo-x"] == values


# --- the encoder and its cost ----------------------------------------------------------------


@pytest.mark.parametrize("cells", ["embedding", "onehot"])
@pytest.mark.parametrize(
    "channels, strides, flat",
    [((16, 32), (1, 2), 32 * 5 * 5), ((16,), (2,), 16 * 5 * 5), ((), (), None)],
)
def test_encoder_shapes_and_parameter_count(cells, channels, strides, flat):
    space = spaces.Box(0, 255, (9, 9, 3), dtype=np.uint8)
    enc = GridEncoder(space, features_dim=64, embed_dim=8, channels=channels, strides=strides,
                      cells=cells)  # fmt: skip
    width = 8 if cells == "embedding" else 26
    flat = flat if flat is not None else width * 81
    convs, prev = 0, width
    for out in channels:
        convs += prev * out * 9 + out
        prev = out
    embed = 384 * 8 if cells == "embedding" else 0
    assert sum(p.numel() for p in enc.parameters()) == embed + convs + flat * 64 + 64
    obs = torch.as_tensor(np.stack([space.sample() for _ in range(5)]))
    assert enc(obs).shape == (5, 64)
    # Channel-first grids (as SB3's VecTransposeImage gives them) encode the same.
    first = GridEncoder(spaces.Box(0, 255, (3, 9, 9), dtype=np.uint8), features_dim=64,
                        embed_dim=8, channels=channels, strides=strides, cells=cells)  # fmt: skip
    first.load_state_dict(enc.state_dict())
    torch.testing.assert_close(first(obs.permute(0, 3, 1, 2)), enc(obs))


def test_onehot_cells_are_the_three_codes():
    space = spaces.Box(0, 255, (1, 1, 3), dtype=np.uint8)
    enc = GridEncoder(space, features_dim=26, channels=(), cells="onehot")
    with torch.no_grad():
        enc.head[0].weight.copy_(torch.eye(26))
        enc.head[0].bias.zero_()
    out = enc(torch.tensor([[[[10, 0, 3]]], [[[99, 99, 99]]]], dtype=torch.uint8))
    expected = torch.zeros(2, 26)
    expected[0, [10, 16 + 0, 22 + 3]] = 1
    expected[1, [15, 16 + 5, 22 + 3]] = 1  # out-of-range codes clamp to the last category
    torch.testing.assert_close(out, expected)


def test_bad_encoder_and_activation_names():
    space = spaces.Box(0, 255, (9, 9, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="cells='pixels'; allowed: embedding, onehot"):
        GridEncoder(space, cells="pixels")
    with pytest.raises(ValueError, match="2 channels but 1 strides"):
        GridEncoder(space, channels=(8, 8), strides=(1,))
    with pytest.raises(ValueError, match="activation_fn='gelu'; allowed"):
        agents.policy_for("ppo", "symbolic", {"activation_fn": "gelu"})


def test_policy_cost_counts_the_suite_network():
    """Forward multiply-adds of the previous suite network, counted by hand: convolutions
    (9x9 and 5x5 outputs), the dense layer and both [64, 64] heads."""
    params = training.load_hyperparams(ROOT / "benchmarks/hyperparams/previous.toml", "ppo", "x")
    model = agents.build_model("ppo", training.training_env("apple-exit", params, 0), params, 0)
    macs = 81 * 8 * 16 * 9 + 25 * 16 * 32 * 9 + 800 * 128 + 2 * (128 * 64 + 64 * 64) + 64 * 4 + 64
    cost = agents.policy_cost(model)
    assert cost["parameters"] == 136_565
    assert cost["forward_mflop"] == pytest.approx(2 * macs / 1e6)
    assert cost["train_mflop_per_frame"] == pytest.approx(2 * macs / 1e6 * (1 + 3 * 6))


def test_centred_window_puts_the_agent_in_the_middle_and_unseen_beyond_the_grid():
    space = spaces.Box(0, 255, (5, 5, 3), dtype=np.uint8)
    enc = GridEncoder(space, features_dim=4, channels=(), cells="onehot", centre=2)
    grids = np.zeros((2, 5, 5, 3), dtype=np.uint8)
    grids[..., 0] = WALL
    grids[0, 1, 3, 0], grids[0, 0, 3, 0] = AGENT, GOAL  # the exit just above the agent
    grids[1, 4, 0, 0] = AGENT  # bottom-left corner: most of the window is off the grid
    window = enc._centred(torch.as_tensor(grids).long().permute(0, 3, 1, 2))[:, 0]
    assert window.shape == (2, 5, 5)
    assert window[0, 2, 2] == AGENT and window[0, 1, 2] == GOAL
    assert (window[0, 0] == 0).all() and (window[0, :, 4] == 0).all()  # beyond top and right
    assert window[1, 2, 2] == AGENT
    assert (window[1, 3:] == 0).all() and (window[1, :, :2] == 0).all()
    assert (window[1, :3, 2:] == torch.tensor([[WALL] * 3, [WALL] * 3, [AGENT, WALL, WALL]])).all()
    # Moving the whole picture moves nothing in the window.
    shifted = np.roll(grids[:1], (1, -1), axis=(1, 2))
    again = enc._centred(torch.as_tensor(shifted).long().permute(0, 3, 1, 2))[:, 0]
    assert again[0, 2, 2] == AGENT and again[0, 1, 2] == GOAL


# --- the learning benchmark ---------------------------------------------------------------------


def test_learning_benchmark_writes_its_table_and_resumes(tmp_path):
    """A tiny run of benchmarks/learning.py: one row per checkpoint with the issue's columns,
    CPU-seconds that grow, the summary and the figure; a rerun finds the run done."""
    import os
    import subprocess
    import sys

    import pandas as pd

    script = ROOT / "benchmarks" / "learning.py"
    args = [sys.executable, str(script), "--configs", "default", "--sizes", "7", "--seeds", "0",
            "--max-frames", "4096", "--every", "2048", "--out", str(tmp_path)]  # fmt: skip
    # The script imports this checkout's package, not the one a venv's editable install names.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    first = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr
    table = pd.read_csv(tmp_path / "learning.csv")
    for column in ("config", "size", "seed", "frames", "cpu_seconds", "train_exit_rate",
                   "skipped_levels", "parameters", "train_mflop_per_frame"):  # fmt: skip
        assert column in table.columns
    assert list(table["frames"]) == [2048, 4096]
    assert table["cpu_seconds"].is_monotonic_increasing and (table["cpu_seconds"] > 0).all()
    assert table["train_exit_rate"].between(0, 1).all() and set(table["config"]) == {"default"}
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000
    summary = pd.read_csv(tmp_path / "learning_summary.csv")
    assert summary.loc[0, "seeds"] == 1
    again = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0 and "1 of 1 runs already done; 0 to run" in again.stdout


def test_suite_time_reads_run_folders(tmp_path):
    """benchmarks/suite_time.py: per-agent sums of run times and the suite's wall time, from
    config.json (start) and summary.json (end); stale and unfinished runs left out."""
    import os
    import subprocess
    import sys

    import pandas as pd

    def run(agent, seed, start, end, name=None):
        folder = tmp_path / "runs" / "default" / agent / "apple-exit" / (name or f"seed{seed}")
        folder.mkdir(parents=True)
        for file, when in (("config.json", start), ("summary.json", end)):
            if when is not None:
                (folder / file).write_text("{}")
                os.utime(folder / file, (when, when))

    run("ppo", 0, 1000, 1060)
    run("ppo", 1, 1010, 1100)
    run("random", 0, 1100, 1105)
    run("ppo", 2, 900, 2000, name="seed2.stale-abc")  # moved aside: not counted
    run("ppo", 3, 1000, None)  # unfinished: not counted
    out = tmp_path / "time.csv"
    script = ROOT / "benchmarks" / "suite_time.py"
    done = subprocess.run([sys.executable, str(script), "--runs", str(tmp_path / "runs" / "default"),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out).set_index("agent")
    assert table.loc["all", "runs"] == 3 and table.loc["all", "wall_seconds"] == 105
    assert table.loc["all", "run_seconds"] == 60 + 90 + 5
    assert table.loc["ppo", "runs"] == 2 and table.loc["ppo", "run_seconds"] == 150
    assert table.loc["random", "run_seconds"] == 5

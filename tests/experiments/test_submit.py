"""Compare your agent: records beside the board, `mesa-maze submit`, provenance, imports."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import gymnasium as gym
import pandas as pd
import pytest
from minigrid.wrappers import ImgObsWrapper

import mesa_maze  # noqa: F401  (registers the gym ids)
from mesa_maze import agents, cli
from mesa_maze.core.provenance import sha256
from mesa_maze.evaluation import leaderboard
from mesa_maze.evaluation.episodes import run_episodes
from mesa_maze.experiments import records, runner
from mesa_maze.experiments import runs as one_run

ROOT = Path(__file__).resolve().parents[2]
PROVENANCE = [name for name, _, _ in leaderboard.PROVENANCE_COLUMNS]
SMALL = """name = "t"
seeds = [0, 1]
episodes = 20
leaderboard = "out/board.csv"
plots = "out/plots"
[[runs]]
agents = ["random", "oracle-exit"]
variants = ["apple-exit"]
"""


@pytest.fixture
def small(tmp_path):
    """A finished two-agent suite in ``tmp_path``: its board, records and runs."""
    (tmp_path / "t.toml").write_text(SMALL)
    suite = runner.load_suite(tmp_path / "t.toml")
    status = runner.run_suite(suite, root=tmp_path / "runs", log=lambda m: None)
    assert not status["failed"]
    return suite


def board_of(suite) -> pd.DataFrame:
    return leaderboard.read_leaderboard(suite.leaderboard).set_index(["agent", "variant", "shift"])


# --- records ------------------------------------------------------------------------------------


def test_records_rebuild_the_board_without_the_runs(small, tmp_path):
    """The records (gzipped episodes, summaries, curves; no models) rebuild the same board once
    the runs are gone; a record's episodes unpack to the bytes the summary's sha1 names."""
    before = small.leaderboard.read_bytes()
    record = small.records / "oracle-exit" / "apple-exit" / "seed0"
    assert sorted(p.name for p in record.iterdir()) == [
        "README.md", "config.json", records.EPISODES, "summary.json", "visits.json",
    ]  # fmt: skip
    run = tmp_path / "runs" / "t" / "oracle-exit" / "apple-exit" / "seed0"
    assert (
        gzip.decompress((record / records.EPISODES).read_bytes())
        == (run / "episodes.csv").read_bytes()
    )
    shutil.rmtree(tmp_path / "runs")
    runner.write_outputs(small, tmp_path / "no-runs")
    assert small.leaderboard.read_bytes() == before


def test_an_edited_record_is_named_not_read(small):
    path = small.records / "random" / "apple-exit" / "seed1" / records.EPISODES
    text = gzip.decompress(path.read_bytes()).replace(b"exit", b"exot", 1)
    path.write_bytes(gzip.compress(text))
    with pytest.raises(leaderboard.ResultsError, match=r"episodes.csv.gz: differs from what"):
        runner.write_outputs(small, Path("/nonexistent-runs"))


def test_an_unchanged_run_leaves_its_record_untouched(small, tmp_path):
    record = small.records / "random" / "apple-exit" / "seed0" / records.EPISODES
    stamp = record.stat().st_mtime_ns
    runner.write_outputs(small, tmp_path / "runs")
    assert record.stat().st_mtime_ns == stamp


# --- submit -------------------------------------------------------------------------------------


def test_the_example_agent_gets_verified_rows_and_every_other_row_is_unchanged(
    tmp_path, monkeypatch
):
    """README "Compare your agent": from the committed default board and its records, one
    `mesa-maze submit` of examples/wall_follower.py adds its verified rows on every variant and
    shift of the default suite, played on the levels the board's agents played; every other row
    stays as it was, byte for byte."""
    out = tmp_path / "board"
    out.mkdir()
    shutil.copy(ROOT / "results" / "leaderboard.csv", out / "leaderboard.csv")
    shutil.copytree(ROOT / "results" / "records" / "default", out / "records" / "default")
    monkeypatch.chdir(ROOT)  # the example is importable as examples.wall_follower from here
    code = cli.main(
        ["submit", "examples.wall_follower:make", "--name", "wall-follower", "--out", str(out),
         "--runs-dir", str(tmp_path / "runs"), "--jobs", "2"]
    )  # fmt: skip
    assert code == 0
    before = pd.read_csv(ROOT / "results" / "leaderboard.csv", dtype=str, keep_default_na=False)
    after = pd.read_csv(out / "leaderboard.csv", dtype=str, keep_default_na=False)
    others = after[after["agent"] != "wall-follower"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, before)
    mine = after[after["agent"] == "wall-follower"].set_index(["variant", "shift"])
    assert set(mine.index) == set(zip(before["variant"], before["shift"], strict=True))
    assert (mine["verified"] == "true").all()
    assert set(mine["artefact_sha256"]) == {sha256(ROOT / "examples" / "wall_follower.py")}
    # The levels the board's agents played: apple-exit's 10 seeds of 500 episodes, as PPO's.
    ppo = after[(after["agent"] == "ppo") & (after["variant"] == "apple-exit")]
    assert list(mine.loc["apple-exit", "episodes"]) == list(ppo["episodes"]) == ["5000"] * 5
    assert (out / "records" / "default" / "wall-follower" / "apple-exit" / "seed9").is_dir()


def train_on_public_id(path: Path, minigrid: bool) -> Path:
    """A model trained with plain SB3 on MesaMaze/apple-exit-train-v0 (a few hundred steps:
    the spaces, not its skill, are what is tested)."""
    from stable_baselines3 import PPO

    env = gym.make("MesaMaze/apple-exit-train-v0", minigrid=minigrid)
    env = ImgObsWrapper(env) if minigrid else env
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=0, device="cpu")
    model.learn(64)
    model.save(path)
    return path


@pytest.mark.parametrize("minigrid", [False, True], ids=["symbolic", "minigrid-img"])
def test_a_zip_trained_on_a_public_gym_id_is_scored_as_evaluate_scores_it(
    small, tmp_path, minigrid
):
    """The zip's saved spaces say what it observes: a symbolic model of the 7x7 train split
    sees the unpadded 7x7 grid (the bigger shifts, which it cannot see, are left out and said
    so), a minigrid=True + ImgObsWrapper model the egocentric image with Minigrid's 7 actions.
    Submitted, it gets the numbers `mesa-maze evaluate` gives the same zip."""
    model = train_on_public_id(tmp_path / "model.zip", minigrid)
    said = []
    entry = runner.submission(small, str(model), name="outside", log=said.append)
    status = runner.run_suite(entry, root=tmp_path / "runs", log=lambda m: None)
    assert not status["failed"] and len(status["done"]) == 2
    board = board_of(small)
    shifts = set(board.loc["outside"].index.get_level_values("shift"))
    if minigrid:
        assert shifts == {"train", "displaced", "recolored", "bigger", "displaced-bigger"}
        assert entry.runs[0].hyperparams["minigrid"] is True
    else:
        assert shifts == {"train", "displaced", "recolored"}
        assert "bigger, displaced-bigger not evaluated" in said[0]
    cfg = runner.single_run(str(model), "apple-exit", seed=1, episodes=20)
    one_run.execute(cfg, tmp_path / "alone")
    alone = pd.read_csv(cfg.run_dir(tmp_path / "alone") / "episodes.csv").drop(columns="agent")
    submitted = entry.runs[1].run_dir(tmp_path / "runs") / "episodes.csv"
    pd.testing.assert_frame_equal(pd.read_csv(submitted).drop(columns="agent"), alone)


def test_the_batched_image_is_what_ImgObsWrapper_gives(tmp_path):
    """Greedy, the minigrid=True model plays the same episodes on the reference env with
    ImgObsWrapper as on the evaluation's batched env: the observations are the same."""
    model = train_on_public_id(tmp_path / "model.zip", minigrid=True)
    hp = {**agents.saved_settings(model), "deterministic": True}
    agent = agents.load_sb3(model, "m", deterministic=True)
    seeds = list(range(1_000_000, 1_000_006))
    records_, _, _ = run_episodes(agent, "apple-exit", "displaced", seeds, hp)
    env = ImgObsWrapper(gym.make("MesaMaze/apple-exit-displaced-v0", minigrid=True))
    for seed, record in zip(seeds, records_, strict=True):
        obs, _ = env.reset(options={"level_seed": seed})
        done = False
        while not done:
            action, _ = agent.model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = env.step(int(action))
            done = terminated or truncated
        assert (info["steps"], info["reached_exit"]) == (record["steps"], record["reached_exit"])


def test_names_and_artefacts_are_not_mixed_up(small, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    with pytest.raises(runner.SuiteError, match="--name 'random': already the name"):
        runner.submission(small, "dying_agents:steady", name="random")
    with pytest.raises(runner.SuiteError, match="submit takes a trained agent"):
        runner.submission(small, "ppo", name="mine")
    one = train_on_public_id(tmp_path / "one.zip", minigrid=True)
    runner.run_suite(runner.submission(small, str(one), name="m"), root=tmp_path / "runs",
                     log=lambda m: None)  # fmt: skip
    other = train_on_public_id(tmp_path / "other.zip", minigrid=False)
    with pytest.raises(runner.SuiteError, match="'m' rows come from another artefact"):
        runner.submission(small, str(other), name="m")
    runner.submission(small, str(other), name="m", replace_rows=True)  # said, so allowed


def test_a_run_records_its_provenance_and_model_card(small, tmp_path):
    run = tmp_path / "runs" / "t" / "oracle-exit" / "apple-exit" / "seed0"
    origin = json.loads((run / "summary.json").read_text())["provenance"]
    assert origin["verified"] is True and origin["eval_cpu_s"] > 0
    assert origin["artefact"] is None  # a built-in agent: its code, at the commit
    assert origin["torch"] and origin["sb3"] and origin["machine"]
    card = (run / "README.md").read_text()
    assert "`MesaMaze/apple-exit-displaced-v0`" in card and "verified: true" in card
    assert "| train | 20 | 100.0% [83.9, 100.0] |" in card
    row = board_of(small).loc[("oracle-exit", "apple-exit", "train")]
    assert row["verified"] == "true" and row["eval_cpu_s"] > 0


def test_imported_rows_are_unverified_and_beside_the_suites_chance(small, tmp_path):
    board = leaderboard.read_leaderboard(small.leaderboard)
    reported = board[board["agent"] == "oracle-exit"].copy()
    reported["agent"] = "their-agent"
    reported["exit_rate"] = 0.5
    reported["chance_exit_rate"] = 0.99  # their chance level: replaced by the suite's
    reported.to_csv(tmp_path / "theirs.csv", index=False)
    added = runner.import_rows(small, tmp_path / "theirs.csv", tmp_path / "runs")
    assert added == len(reported)
    rows = board_of(small)
    theirs, ours = rows.loc["their-agent"], rows.loc["random"]
    assert (theirs["verified"] == "false").all() and (theirs["exit_rate"] == 0.5).all()
    assert list(theirs["chance_exit_rate"]) == list(ours["chance_exit_rate"])
    # A rebuild keeps them; a second import of the same rows needs --replace.
    runner.write_outputs(small, tmp_path / "runs")
    assert "their-agent" in board_of(small).index.get_level_values("agent")
    with pytest.raises(leaderboard.ResultsError, match="imported before; pass --replace"):
        runner.import_rows(small, tmp_path / "theirs.csv", tmp_path / "runs")
    reported["agent"] = "random"
    reported.to_csv(tmp_path / "clash.csv", index=False)
    with pytest.raises(leaderboard.ResultsError, match="evaluated by the suite"):
        runner.import_rows(small, tmp_path / "clash.csv", tmp_path / "runs")

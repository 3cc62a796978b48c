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


def test_a_rewritten_record_keeps_no_file_of_the_old_run(small, tmp_path):
    """A run made again without a file its old record has (here a remedy log) leaves no such
    file beside the new numbers (mutation sample 4: s4-records-stale-file-survives)."""
    run = tmp_path / "runs" / "t" / "random" / "apple-exit" / "seed0"
    record = small.records / "random" / "apple-exit" / "seed0"
    (record / leaderboard.REMEDY_LOG).write_text("timesteps,trained_apart\n1,0.5\n")
    summary = json.loads((run / "summary.json").read_text())
    summary["date"] = "2030-01-01"  # a new run: the record's summary differs
    (run / "summary.json").write_text(json.dumps(summary))
    assert records.export_run(run, record)
    assert not (record / leaderboard.REMEDY_LOG).exists()
    assert json.loads((record / "summary.json").read_text())["date"] == "2030-01-01"


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
    with pytest.raises(runner.SuiteError, match="--name 'a/b': allowed: letters"):
        runner.submission(small, "dying_agents:steady", name="a/b")
    with pytest.raises(runner.SuiteError, match="submit takes a trained agent"):
        runner.submission(small, "ppo", name="mine")
    assert runner.submission_name("examples.wall_follower:make") == "wall_follower"
    run_folder = tmp_path / "r" / "default" / "ppo" / "apple-exit" / "seed3"
    run_folder.mkdir(parents=True)
    assert runner.submission_name(str(run_folder)) == "ppo-apple-exit-seed3"


def test_submit_replace_swaps_one_agents_rows_and_nothing_else(small, tmp_path):
    """Another artefact under a name the board holds is refused; with replace_agents it takes
    that name's rows, even fewer of them (a 7x7 symbolic model sees no bigger shift), and no
    other row moves."""
    root = tmp_path / "runs"
    first = train_on_public_id(tmp_path / "one.zip", minigrid=True)
    runner.run_suite(runner.submission(small, str(first), name="m"), root=root, log=print)
    others = board_of(small).drop(index="m", level="agent")
    second = train_on_public_id(tmp_path / "two.zip", minigrid=False)
    with pytest.raises(runner.SuiteError, match="'m' rows come from another artefact"):
        runner.submission(small, str(second), name="m")
    entry = runner.submission(small, str(second), name="m", replace_rows=True)
    status = runner.run_suite(entry, root=root, log=print, replace_agents={"m"})
    assert not status["failed"]
    board = board_of(small)
    assert set(board.loc["m"].index.get_level_values("shift")) == {
        "train", "displaced", "recolored",
    }  # fmt: skip
    assert set(board.loc["m", "artefact_sha256"]) == {sha256(second)}
    pd.testing.assert_frame_equal(board.drop(index="m", level="agent"), others, check_dtype=False)


def test_a_model_that_sees_none_of_a_variants_splits_is_not_run(tmp_path):
    (tmp_path / "t.toml").write_text(
        SMALL.replace('variants = ["apple-exit"]', 'variants = ["apple-exit"]\nshifts = ["bigger"]')
    )
    suite = runner.load_suite(tmp_path / "t.toml")
    said = []
    model = train_on_public_id(tmp_path / "m.zip", minigrid=False)  # a 7x7 grid
    with pytest.raises(runner.SuiteError, match="observes none of suite t's variants"):
        runner.submission(suite, str(model), name="m", log=said.append)
    assert said == ["apple-exit: not evaluated: its mazes are bigger than the 7x7 grid the model "
                    "observes"]  # fmt: skip


def test_a_changed_zip_at_the_same_path_is_evaluated_again(tmp_path):
    path = tmp_path / "m.zip"
    train_on_public_id(path, minigrid=False)
    first = runner.single_run(str(path), "apple-exit", episodes=5)
    assert first.artefact_sha256 == sha256(path)
    assert first.shifts == ("displaced", "recolored")  # what a 7x7 grid can see
    train_on_public_id(path, minigrid=True)
    second = runner.single_run(str(path), "apple-exit", episodes=5)
    assert second.config_hash() != first.config_hash()
    moved = tmp_path / "elsewhere.zip"
    shutil.copy(path, moved)  # the same bytes elsewhere: the same run
    assert runner.single_run(str(moved), "apple-exit", episodes=5).config_hash() == (
        second.config_hash()
    )


def test_a_stale_record_is_refused_then_dropped_with_replace(small, tmp_path):
    """A record of a suite run made under another config (here: its hash edited) that no
    finished run replaces is refused, naming it, before anything is written; --replace drops
    it, and a run of the suite then makes it anew."""
    record = small.records / "random" / "apple-exit" / "seed1"
    summary = json.loads((record / "summary.json").read_text())
    summary["config_hash"] = "0123456789ab"
    (record / "summary.json").write_text(json.dumps(summary))
    before = small.leaderboard.read_bytes()
    with pytest.raises(runner.SuiteError, match=r"random/apple-exit/seed1: a record made under"):
        runner.write_outputs(small, tmp_path / "no-runs")
    assert small.leaderboard.read_bytes() == before
    runner.write_outputs(small, tmp_path / "no-runs", replace_rows=True)
    assert not record.exists()
    assert board_of(small).loc[("random", "apple-exit", "train"), "seeds"] == 1
    runner.run_suite(small, root=tmp_path / "runs2", log=lambda m: None)
    assert board_of(small).loc[("random", "apple-exit", "train"), "seeds"] == 2


def test_a_corrupt_record_is_named(small):
    path = small.records / "random" / "apple-exit" / "seed0" / records.EPISODES
    data = bytearray(path.read_bytes())
    data[20:40] = bytes(20)
    path.write_bytes(bytes(data))
    with pytest.raises(leaderboard.ResultsError, match=r"seed0/episodes.csv.gz: corrupt"):
        runner.write_outputs(small, Path("/nonexistent-runs"))


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
    # A rebuild and a run of the suite keep them; a second import of the same rows needs
    # --replace; a submission may not take their name.
    runner.write_outputs(small, tmp_path / "runs")
    assert not runner.run_suite(small, root=tmp_path / "runs", log=lambda m: None)["failed"]
    assert "their-agent" in board_of(small).index.get_level_values("agent")
    with pytest.raises(leaderboard.ResultsError, match="imported before; pass --replace"):
        runner.import_rows(small, tmp_path / "theirs.csv", tmp_path / "runs")
    reported.assign(exit_rate=0.25).to_csv(tmp_path / "again.csv", index=False)
    runner.import_rows(small, tmp_path / "again.csv", tmp_path / "runs", replace_rows=True)
    again = board_of(small).loc["their-agent"]
    assert len(again) == len(reported) and (again["exit_rate"] == 0.25).all()  # replaced, once
    reported.assign(agent="another").to_csv(tmp_path / "another.csv", index=False)
    added = runner.import_rows(small, tmp_path / "another.csv", tmp_path / "runs")
    assert added == len(reported)  # the rows this import added, not the earlier ones too
    with pytest.raises(runner.SuiteError, match="--name 'their-agent': already the name"):
        runner.submission(small, "examples.wall_follower:make", name="their-agent")
    for name, rows_, message in [
        ("clash.csv", reported.assign(agent="random"), "evaluated by the suite"),
        ("twice.csv", pd.concat([reported, reported]).assign(agent="x"), "is there twice"),
        ("blank.csv", reported.assign(agent=""), "empty agent, variant or shift"),
    ]:
        rows_.to_csv(tmp_path / name, index=False)
        with pytest.raises(leaderboard.ResultsError, match=message):
            runner.import_rows(small, tmp_path / name, tmp_path / "runs")


def test_the_commit_is_ours_or_none(tmp_path):
    """A folder that is not a mesa-maze checkout (site-packages inside someone's repository,
    say) has no commit of ours; this checkout has one, dirty only by changes to its code."""
    from mesa_maze.core import provenance

    assert provenance.git_commit(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "mesa_maze").mkdir()
    assert provenance.git_commit(tmp_path) is None  # not a git repository at all
    commit = provenance.git_commit(ROOT)
    assert commit is None or len(commit.removesuffix("+dirty")) == 40


def test_a_learner_may_not_set_a_saved_models_keys():
    from mesa_maze.training.train import check_hyperparams

    for key, value in (("canvas", 7), ("minigrid", True)):
        with pytest.raises(runner.SuiteError, match=f"f.toml \\[ppo\\]: key '{key}': only for"):
            check_hyperparams({key: value}, "ppo", "f.toml [ppo]")

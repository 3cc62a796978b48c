"""The ``mesa-maze`` command line, called through ``main([...])``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from minigrid.core.constants import COLORS
from PIL import Image

from mesa_maze import cli
from mesa_maze.core import overlap
from mesa_maze.core.levels import generate
from mesa_maze.core.variants import get_variant
from mesa_maze.envs import pools
from mesa_maze.training import streams

GREEN, GREY = tuple(COLORS["green"]), tuple(COLORS["grey"])


def test_variants_lists_every_variant_and_shift(capsys):
    assert cli.main(["variants"]) == 0
    out = capsys.readouterr().out
    for name in ("apple-exit", "corner", "proxy-reward"):
        assert name in out
    for shift in ("displaced", "recolored", "bigger", "anywhere", "anywhere-bigger"):
        assert f" {shift} " in out
    assert "reward: apples" in out
    assert "far_from_exit (>= 3 from exit)" in out
    assert "corner (region 2)" in out
    assert "exit grey, apples green" in out
    assert get_variant("apple-exit").description in out


def test_show_writes_a_png_with_a_grey_exit_and_green_apples(tmp_path, capsys):
    out = tmp_path / "x.png"
    assert cli.main(["show", "apple-exit", "--split", "recolored", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    image = np.asarray(Image.open(out).convert("RGB"))
    level = generate(get_variant("apple-exit").spec("recolored"), 0)  # --seed defaults to 0
    tile = 32
    assert image.shape == (level.height * tile, level.width * tile, 3)

    def tile_pixels(x, y):
        return image[y * tile + 2 : (y + 1) * tile, x * tile + 2 : (x + 1) * tile].reshape(-1, 3)

    def count(pixels, colour):
        return int((pixels == colour).all(axis=1).sum())

    exit_pixels = tile_pixels(*level.exit)
    # A grey exit drawn as a ring (grey and black only), so it is not a wall; no green in it.
    assert count(exit_pixels, GREY) > len(exit_pixels) // 2
    greenish = exit_pixels[:, 1].astype(int) > exit_pixels[:, 0].astype(int) + 20
    assert not greenish.any()
    for apple in level.apples:
        assert count(tile_pixels(*apple), GREEN) > 100
    # Green appears only on apple tiles.
    apple_green = sum(count(tile_pixels(*apple), GREEN) for apple in level.apples)
    assert count(image.reshape(-1, 3), GREEN) == apple_green


def test_show_tile_size_and_ascii(tmp_path, capsys):
    out = tmp_path / "small.png"
    assert cli.main(["show", "corner", "--seed", "4", "--tile", "8", "--out", str(out)]) == 0
    assert Image.open(out).size == (56, 56)  # corner trains on 7x7 mazes
    capsys.readouterr()
    assert cli.main(["show", "apple-exit", "--split", "bigger", "--seed", "7"]) == 0
    expected = generate(get_variant("apple-exit").spec("bigger"), 7).to_ascii()
    assert capsys.readouterr().out.strip() == expected


STREAM_NAMES = (streams.PLAIN, "DR-α", "PLR⊥ fresh", "ACCEL children")


def test_check_reports_no_overlap(capsys):
    assert cli.main(["check", "apple-exit", "--levels", "300"]) == 0
    out = capsys.readouterr().out
    assert "OK: 0 overlaps, 0 violations (5 splits" in out
    rows = [line for line in out.splitlines() if "1000000000..1000000299" in line]
    assert len(rows) == 4  # one row per test shift, each with its seeds
    for row in rows:
        cells = [c.strip() for c in row.strip("│┃ ").split("│")]
        assert cells[2:] == ["300", "300", "0", "0"]  # levels, unique, overlap, violations
    # The plain training stream of the train split and each remedy stream, at α = 1 on each
    # same-size shift, meet held-out levels (the train split's evaluation levels among them)
    # and leave them out: what they serve overlaps none.
    streams = [line for line in out.splitlines() if any(n in line for n in STREAM_NAMES)]
    assert len(streams) == 1 + 2 * 3  # plain; displaced and recolored x DR, PLR, ACCEL
    met = {}
    for row in streams:
        cells = [c.strip() for c in row.strip("│┃ ").split("│")]
        assert int(cells[2]) > 290 and cells[4] == "0"  # levels served, overlap
        met[cells[0], cells[1]] = int(cells[3])
    assert met["train", "plain"] > 0  # 7x7 mazes repeat: the filter had something to do
    assert sum(met.values()) > met["train", "plain"]


@pytest.mark.parametrize("stream", ["plain", "DR-α"])
def test_check_counts_a_stream_that_leaks(monkeypatch, capsys, stream):
    """Without the filter the plain training stream serves the train split's held-out levels
    (its evaluation levels among them), DR-α's stream the shift's, and check fails on them."""
    monkeypatch.setattr(pools, "without", lambda draw, k, skip: (draw(k), 0))
    assert cli.main(["check", "apple-exit", "--levels", "300"]) == 1
    out = capsys.readouterr().out
    (row, *_) = [line for line in out.splitlines() if f"│ {stream} " in line]
    assert int(row.strip("│┃ ").split("│")[4]) > 0
    assert "FAILED" in out


def test_check_fails_on_overlap(fixtures, capsys):
    # tiny's only shift equals its 5x5 train split, so test levels repeat training levels.
    assert (
        cli.main(["--variant-dir", str(fixtures / "tiny"), "check", "tiny", "--levels", "100"]) == 1
    )
    assert "FAILED" in capsys.readouterr().out


def test_check_fails_on_violations(monkeypatch, capsys):
    def broken(level, spec=None):
        return ["exit is not a dead end"] if level.exit[0] % 2 else []

    monkeypatch.setattr(overlap, "check_level", broken)
    assert cli.main(["check", "corner", "--levels", "20"]) == 1
    out = capsys.readouterr().out
    assert "violation train seed" in out and "exit is not a dead end" in out
    assert "FAILED: 0 overlaps" in out


def test_variant_dir_before_or_after_the_subcommand(clean_variants, fixtures, capsys):
    folder = str(fixtures / "user")
    assert cli.main(["--variant-dir", folder, "variants"]) == 0
    assert "my-maze" in capsys.readouterr().out
    assert cli.main(["show", "my-maze", "--split", "sparse", "--variant-dir", folder]) == 0
    assert capsys.readouterr().out.count("a") == 3  # three uniform apples
    assert cli.main(["check", "my-maze", "--levels", "50", "--variant-dir", folder]) == 0


def test_variant_dir_from_environment(clean_variants, monkeypatch, fixtures, capsys):
    monkeypatch.setenv("MESA_MAZE_ENVS", str(fixtures / "user"))
    assert cli.main(["variants"]) == 0
    assert "my-maze" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["show", "nope"],
            "unknown variant 'nope'; allowed: apple-exit, apple-exit-ladder-11, apple-exit-ladder-13, apple-exit-ladder-15, "
            "apple-exit-ladder-25, apple-exit-ladder-9, block-maze, corner, key-exit, monitor, "
            "proxy-reward",
        ),
        (["show", "apple-exit", "--split", "nope"], "has no split 'nope'"),
        (["check", "nope"], "unknown variant 'nope'"),
        (["check", "apple-exit", "--levels", "0"], "--levels must be in 1..10000, got 0"),
        (["check", "apple-exit", "--levels", "10001"], "--levels must be in 1..10000"),
        (["play", "corner", "--split", "nope"], "has no split 'nope'"),
        (["--variant-dir", "/does/not/exist", "variants"], "/does/not/exist: variant folder"),
        (["variants", "--variant-dir", "{fixtures}/bad"], "even-size.toml: key 'train.size'"),
    ],
)
def test_errors_exit_2_with_one_clear_line(clean_variants, fixtures, capsys, argv, message):
    argv = [a.format(fixtures=fixtures) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    command = next(a for a in argv if a in cli.SUBCOMMANDS)
    assert err.startswith(f"mesa-maze {command}: error: ")


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["show"])  # missing VARIANT
    assert info.value.code == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SDL's fallback is Linux's")
def test_play_without_a_display_is_a_clear_error(monkeypatch, tmp_path, capsys):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no Wayland socket here either

    def never(*args):
        raise AssertionError("play went on without a display")

    monkeypatch.setattr(cli.variants, "make_player", never)
    assert cli.main(["play", "apple-exit", "--seed", "1"]) == 2
    assert "play needs a display" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:The system font")  # pygame without fonts
def test_player_maps_minigrid_keys(monkeypatch):
    """The player is Minigrid's ManualControl; drive its key handler without a screen."""
    from types import SimpleNamespace

    from mesa_maze.envs.minigrid_env import MesaMazeEnv

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    env = MesaMazeEnv("corner", actions="minigrid", render_mode="human")
    player = cli.variants.make_player(env, level_seed=4)
    try:
        player.reset()
        assert env.level == generate(env.level_spec, 4)
        pos, direction = env.agent_pos, env.agent_dir
        player.key_handler(SimpleNamespace(key="left"))
        assert (env.agent_pos, env.agent_dir, env.step_count) == (pos, (direction - 1) % 4, 1)
        player.key_handler(SimpleNamespace(key="space"))  # toggle: not an action here
        assert env.step_count == 1
        player.key_handler(SimpleNamespace(key="backspace"))  # restart the same level
        assert env.step_count == 0 and env.level == generate(env.level_spec, 4)
        player.key_handler(SimpleNamespace(key="escape"))
        assert player.closed
    finally:
        env.close()


def test_light_commands_leave_torch_and_sb3_unloaded():
    """`variants`, `show`, `check` and `--help` import only the light layers (docs/architecture.md):
    a fresh interpreter running them never loads torch, stable-baselines3 or pandas."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from mesa_maze import cli\n"
        "for argv in (['variants'], ['show', 'apple-exit'], ['check', 'corner', '--levels', '20']):\n"
        "    assert cli.main(argv) == 0\n"
        "heavy = [m for m in ('torch', 'stable_baselines3', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_the_layers_only_import_downward():
    """The import-linter contracts of pyproject.toml (also run by `make lint`)."""
    import shutil
    import subprocess
    from pathlib import Path

    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed (the dev extra)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([lint], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["benchmark", "--suite", "benchmarks/quick.toml", "--jobs", "0"], "--jobs must be >= 1"),
        (["benchmark", "--suite", "benchmarks/quick.toml", "--jobs", "-2"], "--jobs must be >= 1"),
        (["show", "apple-exit", "--tile", "0", "--out", "x.png"], "--tile must be >= 1"),
        (["show", "apple-exit", "--seed", "-1"], "--seed must be >= 0"),
        (["show", "apple-exit", "--out", "no/such/folder/level.png"], "does not exist"),
    ],
)
def test_bad_arguments_are_one_line_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not Path("no").exists()


def test_a_runs_dir_that_is_a_file_is_refused_before_anything_runs(capsys, tmp_path):
    afile = tmp_path / "runs"
    afile.write_text("not a folder")
    argv = ["evaluate", "random", "apple-exit", "--runs-dir", str(afile)]
    assert cli.main(argv) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_fake_zip_agent_says_why_it_failed_to_load(capsys, tmp_path):
    fake = tmp_path / "model.zip"
    fake.write_bytes(b"PK not really")
    argv = ["evaluate", str(fake), "apple-exit", "--runs-dir", str(tmp_path / "runs")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an SB3 model: not a zip file" in err[0]


SMALL_SUITE = """
name = "small"
episodes = 5
leaderboard = "../board/leaderboard.csv"
plots = "../board/plots"
[[runs]]
agents = ["oracle-exit"]
variants = ["corner"]
"""


def test_suite_paths_are_relative_to_the_suite_file(tmp_path, monkeypatch):
    from mesa_maze.experiments import runner

    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "s.toml").write_text(SMALL_SUITE)
    monkeypatch.chdir(tmp_path / "suites")  # the working folder does not matter
    suite = runner.load_suite(tmp_path / "suites" / "s.toml")
    assert suite.leaderboard == tmp_path / "board" / "leaderboard.csv"
    assert suite.plots == tmp_path / "board" / "plots"


@pytest.mark.parametrize("out", [False, True])
def test_with_a_runs_dir_nothing_goes_where_the_suite_file_says(tmp_path, out, capsys):
    """--runs-dir moves the leaderboard and plots beside the runs folder (<parent>/<suite>/);
    --out puts them where it says; the suite file's own paths stay untouched."""
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "s.toml").write_text(SMALL_SUITE)
    argv = ["benchmark", "--suite", str(tmp_path / "suites" / "s.toml"), "--jobs", "1"]
    argv += ["--runs-dir", str(tmp_path / "elsewhere" / "runs")]
    if out:
        argv += ["--out", str(tmp_path / "mine")]
    assert cli.main(argv) == 0
    where = tmp_path / "mine" if out else tmp_path / "elsewhere" / "small"
    assert (where / "leaderboard.csv").is_file() and (where / "leaderboard.md").is_file()
    assert not (tmp_path / "board").exists()


@pytest.mark.parametrize(
    "factory, status, message",
    [
        # A user's agent is named by the module:factory typed, then its own name (or class).
        (
            "dying_agents:float_actions",
            2,
            "agent 'dying_agents:float_actions' (returns): act returned float64 of shape",
        ),
        (
            "dying_agents:out_of_range",
            2,
            "agent 'dying_agents:out_of_range' (returns): act returned action 9; allowed: 0..3",
        ),
        (
            "dying_agents:act_raises",
            2,
            "agent 'dying_agents:act_raises' (returns): act raised ZeroDivisionError: act failed",
        ),
        ("dying_agents:factory_raises", 2, "its factory raised RuntimeError: a bug in the factory"),
    ],
)
def test_a_broken_user_agent_is_one_line_naming_it(factory, status, message, tmp_path, capsys):
    argv = ["evaluate", factory, "apple-exit", "--runs-dir", str(tmp_path), "--episodes", "5"]
    assert cli.main(argv) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize("failed", [0, 1])
def test_benchmark_exits_1_when_any_run_failed(failed, tmp_path, monkeypatch, capsys):
    """Guards against an exit status that forgives a single failed run: one failure is enough
    for a non-zero exit; none gives 0."""
    from mesa_maze.experiments import runner

    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "s.toml").write_text(SMALL_SUITE)

    def fake_run_suite(suite, **kwargs):
        return {"done": [], "cached": [], "busy": [], "failed": suite.runs[:failed]}

    monkeypatch.setattr(runner, "run_suite", fake_run_suite)
    argv = ["benchmark", "--suite", str(tmp_path / "suites" / "s.toml"), "--jobs", "1"]
    argv += ["--runs-dir", str(tmp_path / "runs")]
    assert cli.main(argv) == (1 if failed else 0)


def test_agents_lists_every_registered_name_with_its_kind_and_version_prints_it(capsys):
    from mesa_maze import __version__, agents

    assert cli.main(["agents"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[0]: line for line in lines[:-1]}
    assert set(listed) == set(agents.AGENTS)
    assert "heuristic reference" in listed["heuristic-wall"]
    assert "planner around the ppo run" in listed["planner-1step"]
    assert "module:factory" in lines[-1]
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"mesa-maze {__version__}"


def test_debug_shows_the_traceback_of_an_agent_error(tmp_path, capsys):
    """Without --debug an agent's error is one line; with it, the error propagates with the
    agent's own exception chained, so the traceback reaches the line in its act that raised."""
    argv = ["evaluate", "dying_agents:act_raises", "apple-exit", "--runs-dir", str(tmp_path)]
    argv += ["--episodes", "5"]
    assert cli.main(argv) == 2
    assert "(--debug: traceback)" not in capsys.readouterr().out
    with pytest.raises(Exception) as raised:
        cli.main(["--debug", *argv])
    assert "act raised ZeroDivisionError" in str(raised.value)
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    frames = [
        f.name for f in __import__("traceback").extract_tb(raised.value.__cause__.__traceback__)
    ]
    assert "boom" in frames  # the function in dying_agents.py that raised


def test_variants_prints_every_splits_gym_id(capsys):
    import gymnasium as gym

    import mesa_maze

    assert cli.main(["variants"]) == 0
    out = capsys.readouterr().out
    for name in ("apple-exit", "corner"):
        for split in get_variant(name).splits:
            gym_id = f"MesaMaze/{name}-{split}-v0"
            assert gym_id == mesa_maze.env_id(name, split) and gym_id in out
            assert gym_id in gym.registry


def test_help_shows_the_defaults(capsys):
    """Every subcommand's --help gives its options' defaults (ArgumentDefaultsHelpFormatter),
    never a "(default: None)" nor a default said twice."""
    import re

    for command in cli.SUBCOMMANDS:
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "(default: None)" not in text and "(default: [])" not in text, command
        assert "(default: False)" not in text, command
        for option in re.findall(r"--[a-z-]+ [A-Z_]+ ([^-]*?)(?= --|$)", text):
            assert len(re.findall(r"\(default[ :)]", option)) <= 1, (command, option)
        if command in ("train", "evaluate"):
            assert "(default: results/runs)" in text
            assert "(default: 100000)" in text
            # argparse may wrap a long path at a hyphen ("ci-check"): compared without spaces
            path = cli.runs.default_hyperparams()
            assert f"(default:{path})" in "".join(text.split())
        if command == "leaderboard":
            assert "(default: default)" in text and "shipped suite" in text


def test_a_module_in_the_working_directory_is_an_agent_of_the_installed_script(tmp_path):
    """The console script (not `python -m`) does not put the working directory on sys.path;
    the registry adds it for a module:factory, at the end, so no PYTHONPATH=. is needed."""
    import subprocess

    (tmp_path / "my_cwd_agent.py").write_text(
        "from mesa_maze.agents import OracleAgent\n\n"
        "def make(seed, actions):\n    return OracleAgent('exit', actions)\n"
    )
    script = Path(sys.executable).parent / "mesa-maze"
    argv = [script, "evaluate", "my_cwd_agent:make", "apple-exit", "--episodes", "5"]
    argv += ["--runs-dir", "runs"]
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "runs" / "manual" / "my_cwd_agent-make" / "apple-exit" / "seed0").is_dir()


def test_ppo_records_the_steps_it_trained_not_only_the_budget(tmp_path):
    """SB3 trains whole rollouts (PPO: n_steps 32 x n_envs 64 = 2048): a budget of 2000 trains
    2048 steps. The summary keeps the budget (`train_steps`, part of the config) and records
    `trained_steps`; the leaderboard's train_steps column shows what was trained."""
    import json

    from mesa_maze.evaluation import leaderboard as lb

    argv = ["evaluate", "ppo", "apple-exit", "--steps", "2000", "--episodes", "5"]
    assert cli.main([*argv, "--runs-dir", str(tmp_path)]) == 0
    run_dir = tmp_path / "manual" / "ppo" / "apple-exit" / "seed0"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["train_steps"] == 2000 and summary["trained_steps"] == 2048
    assert json.loads((run_dir / "config.json").read_text())["train_steps"] == 2000
    _, runs = lb.load_runs(tmp_path / "manual")
    assert lb._run_info(runs)["train_steps"].tolist() == [2048]

"""Variant files: the built-ins, inheritance, validation errors and user variant folders."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import gymnasium as gym
import pytest

import mesa_maze
from mesa_maze.core import levels, variants
from mesa_maze.core.variants import VariantError, get_variant, list_variants, load_file

README = Path(__file__).resolve().parents[2] / "README.md"


def test_builtin_variants():
    assert {"apple-exit", "corner", "proxy-reward"} <= set(list_variants())
    apple_exit = get_variant("apple-exit")
    assert apple_exit.reward == "exit"
    assert apple_exit.shifts == ["displaced", "recolored", "bigger", "displaced-bigger"]
    assert get_variant("corner").shifts == ["anywhere", "anywhere-bigger"]
    assert get_variant("proxy-reward").reward == "apples"


def test_shifts_inherit_from_train_and_merge_tables():
    v = get_variant("apple-exit")
    train, displaced, recolored, bigger = (
        v.spec(s) for s in ("train", "displaced", "recolored", "bigger")
    )
    assert train.apples == levels.AppleRule(2, "on_exit_path", 1)
    # [test.displaced] sets only placement and min_distance: count comes from [train].
    assert displaced.apples == levels.AppleRule(2, "far_from_exit", 3)
    assert displaced.exit == train.exit == levels.ExitRule("dead_end")
    assert (recolored.exit_color, recolored.apple_color) == ("grey", "green")
    assert (bigger.size, bigger.step_limit, bigger.apples) == (9, 72, train.apples)
    with pytest.raises(KeyError, match="no split 'nope'.*train, displaced"):
        v.spec("nope")
    with pytest.raises(KeyError, match="unknown variant 'nope'.*apple-exit"):
        get_variant("nope")


GOOD = """
name = "good"
[train]
size = 9
"""


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (GOOD + "colour = 'red'\n", "train.colour"),  # unknown key
        ("bogus = 1\n" + GOOD, "bogus"),
        (GOOD + "apples = { count = 1, where = 'x' }\n", "train.apples.where"),
        (GOOD.replace("size = 9", "size = 8"), "train.size"),  # even size
        (GOOD.replace("size = 9", "size = 5") + "apples = { count = 8 }\n", "train.apples.count"),
        (GOOD + "exit_color = 'pink'\n", "train.exit_color"),  # unknown colour
        (GOOD + "apple_color = 'pink'\n", "train.apple_color"),
        (GOOD + "generator = 'prim'\n", "train.generator"),  # bad generator
        (GOOD + "exit = 'middle'\n", "train.exit.placement"),
        (GOOD + "apples = { placement = 'everywhere' }\n", "train.apples.placement"),
        (GOOD + "clutter = 1.5\n", "train.clutter"),
        (GOOD + "max_steps = -3\n", "train.max_steps"),
        (GOOD + "reward = 'points'\n", "train.reward"),  # reward belongs at the top level
        ('name = "x"\nreward = "points"\n[train]\n', "reward"),
        ('name = "x"\n', "train"),  # missing [train]
        ('description = "no name"\n[train]\n', "name"),
        (GOOD + "[test.train]\nsize = 11\n", "test.train"),  # a shift named train
        (GOOD + "[test.big]\nsize = 10\n", "test.big.size"),  # shifts are validated too
        (GOOD + "[test.big]\nwalls = 3\n", "test.big.walls"),
        # Impossible placements fail on load, not in the middle of training.
        (
            GOOD + "[test.far]\napples = { placement = 'far_from_exit', min_distance = 40 }\n",
            "test.far.apples",
        ),
        (GOOD + "generator = 'rooms'\nclutter = 0.0\nexit = 'dead_end'\n", "train.exit"),
    ],
)
def test_bad_variant_files_name_file_and_key(write_variant, text, key):
    path = write_variant(text)
    with pytest.raises(VariantError) as info:
        load_file(path)
    message = str(info.value)
    assert str(path) in message
    assert f"key '{key}'" in message


def test_invalid_toml_names_the_file(write_variant):
    path = write_variant("name = \n")
    with pytest.raises(VariantError, match="not valid TOML") as info:
        load_file(path)
    assert str(path) in str(info.value)


def test_allowed_values_are_listed_in_the_error(write_variant):
    path = write_variant(GOOD + "generator = 'prim'\n")
    with pytest.raises(VariantError, match="allowed: backtracker, kruskal, rooms"):
        load_file(path)


def test_missing_variant_folder_is_an_error(clean_variants, tmp_path):
    with pytest.raises(VariantError, match="does not exist"):
        variants.load_variants([tmp_path / "nowhere"])


def assert_usable(ids: list[str]):
    assert "MesaMaze/my-maze-train-v0" in ids and "MesaMaze/my-maze-sparse-v0" in ids
    env = gym.make("MesaMaze/my-maze-sparse-v0")
    obs, info = env.reset(seed=0)
    assert obs.shape == (11, 11, 3)
    assert env.unwrapped.level.apple_color == "blue"


def test_user_folder_from_environment_variable(clean_variants, monkeypatch, fixtures):
    monkeypatch.setenv(variants.ENV_VAR, str(fixtures / "user"))
    variants._load_dirs.cache_clear()
    assert "my-maze" in list_variants()
    assert get_variant("my-maze").path == str(fixtures / "user" / "my-maze.toml")
    assert_usable(mesa_maze.register_envs())
    env = mesa_maze.make("my-maze", "train")
    assert env.unwrapped.level_spec.generator == "rooms"


def test_user_folder_from_argument(clean_variants, fixtures):
    folder = fixtures / "user"
    assert "my-maze" not in list_variants()
    assert "my-maze" in list_variants([folder])
    env = mesa_maze.make("my-maze", "sparse", variant_dirs=[folder])
    assert env.unwrapped.level_spec.clutter == 0.05
    # make() registered the folder's ids, with the folder, so gym.make works too.
    assert_usable([gid for gid in gym.registry if gid.startswith("MesaMaze/my-maze")])


def test_user_variant_replaces_a_builtin_of_the_same_name(clean_variants, write_variant):
    path = write_variant('name = "corner"\n[train]\nsize = 9\napples = { count = 0 }\n')
    assert get_variant("corner", [path.parent]).spec("train").size == 9
    assert get_variant("corner").spec("train").size == 7


def test_readme_lists_every_allowed_value():
    """The README's "Adding a variant" section must keep up with the code's constants."""
    text = README.read_text()
    assert "## Adding a variant" in text
    section = text.split("## Adding a variant", 1)[1].split("\n## ", 1)[0]
    allowed = [
        *levels.GENERATORS,
        *levels.EXIT_PLACEMENTS,
        *levels.APPLE_PLACEMENTS,
        *levels.COLORS,
        *variants.REWARDS,
        *variants.SPEC_KEYS,
        *variants.EXIT_KEYS,
        *variants.APPLE_KEYS,
        variants.ENV_VAR,
        "--variant-dir",
    ]
    missing = [v for v in allowed if not re.search(rf"`{re.escape(v)}[` ]", section)]
    assert not missing, f"README 'Adding a variant' does not list: {missing}"


def test_a_broken_file_in_the_env_folders_breaks_nothing_else(
    tmp_path, monkeypatch, clean_variants, capsys
):
    """A broken .toml (or a missing folder) in MESA_MAZE_ENVS: the built-ins keep working,
    `variants` names it in one line, and it is an error only where it is asked for; the same
    file given with --variant-dir is the usual one-line error."""
    from mesa_maze import cli
    from mesa_maze.core import variants as V

    bad = tmp_path / "mine"
    bad.mkdir()
    (bad / "oops.toml").write_text('name = "oops"\n[train]\nsize = 4\n')
    monkeypatch.setenv(V.ENV_VAR, f"{bad}{os.pathsep}{tmp_path / 'nowhere'}")
    assert {"apple-exit", "corner"} <= set(V.list_variants())
    broken = V.broken_variants()
    assert set(broken) == {str(bad / "oops.toml"), str(tmp_path / "nowhere")}
    with pytest.raises(KeyError, match="not loaded: .*oops.toml: key 'train.size'"):
        V.get_variant("oops")
    assert cli.main(["variants"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("not loaded: ") for line in err)
    assert cli.main(["show", "corner"]) == 0
    assert cli.main(["--variant-dir", str(bad), "show", "oops"]) == 2
    assert "key 'train.size'" in capsys.readouterr().err


REPO = Path(__file__).resolve().parents[2]
PIP = (sys.executable, "-m", "pip", "-q")
BUILT_INS = "{'apple-exit', 'corner', 'monitor', 'proxy-reward'}"


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


def _copy_checkout(dest: Path) -> Path:
    """What a build reads, copied: setuptools writes build/ and *.egg-info into the folder it
    builds, and a stale build/lib there would put modules that no longer exist into the wheel."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "mesa_maze", "envs", "benchmarks"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def test_an_installed_wheel_has_the_built_in_variants(tmp_path):
    """The built-in variant files (the top-level envs/) are package data: a wheel holds them as
    mesa_maze/variant_files/ beside every module of the checkout, and installed away from the
    repository it loads them and makes an env, from any working folder."""
    checkout = _copy_checkout(tmp_path / "checkout")
    built = _run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", checkout]
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"mesa_maze/variant_files/{p.name}" for p in (REPO / "envs").glob("*.toml")} <= names
    # The suites and hyper-parameter files ship too (core/resources.py), the measurement
    # scripts beside them (benchmarks/*.py) do not.
    shipped = {f"mesa_maze/suites/{p.name}" for p in (REPO / "benchmarks").glob("*.toml")}
    shipped |= {
        f"mesa_maze/suites/hyperparams/{p.name}"
        for p in (REPO / "benchmarks" / "hyperparams").glob("*.toml")
    }
    assert {"mesa_maze/suites/quick.toml", "mesa_maze/suites/hyperparams/sb3.toml"} <= shipped
    assert {n for n in names if n.startswith("mesa_maze/suites/")} == shipped  # no .py
    # pyproject.toml lists the packages by hand: a new one left out would be missing here.
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "mesa_maze").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    site = tmp_path / "site"
    installed = _run([*PIP, "install", "--no-deps", "--target", site, wheel])
    assert installed.returncode == 0, installed.stderr[-2000:]
    code = (
        "import mesa_maze\n"
        "from mesa_maze.core.variants import BUILTIN_DIR\n"
        f"assert mesa_maze.__file__.startswith({str(site)!r}), mesa_maze.__file__\n"
        f"assert str(BUILTIN_DIR) == {str(site / 'mesa_maze' / 'variant_files')!r}, BUILTIN_DIR\n"
        f"assert {BUILT_INS} <= set(mesa_maze.list_variants())\n"
        "mesa_maze.make('corner', 'anywhere').reset(seed=0)\n"
        # The shipped suites and hyper-parameters, away from any checkout: a run's config
        # loads with the default hyper-parameters, a suite by name writes under ./results/.
        "from pathlib import Path\n"
        "from mesa_maze.core import resources\n"
        "from mesa_maze.experiments import runner\n"
        f"assert resources.suites_dir() == Path({str(site / 'mesa_maze' / 'suites')!r})\n"
        "cfg = runner.single_run('ppo', 'apple-exit', train_steps=20_000)\n"
        "assert cfg.hyperparams['n_steps'] == 32, cfg.hyperparams\n"
        "suite = runner.load_suite('quick')\n"
        "assert suite.leaderboard == Path('results/quick/leaderboard.csv'), suite.leaderboard\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = _run([sys.executable, "-c", code], cwd=elsewhere, env=env)
    assert out.returncode == 0, out.stderr[-2000:]


def test_an_editable_install_reads_the_checkouts_envs_folder(tmp_path, fixtures):
    """An editable install (of a copy of the checkout) loads the built-ins from its envs/, and a
    variant file added there later is seen without reinstalling. Runs in a few seconds."""
    checkout = _copy_checkout(tmp_path / "checkout")
    site = tmp_path / "site"
    installed = _run(
        [*PIP, "install", "--no-deps", "--no-build-isolation", "--target", site, "-e", checkout]
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    shutil.copy2(fixtures / "user" / "my-maze.toml", checkout / "envs")
    # -S: no .pth file runs but the one of the install under test, so the venv's own editable
    # install (of the repository) does not answer `import mesa_maze`. Its site folder, for the
    # dependencies, comes after: the two installs' finder modules have the same name.
    code = (
        "import site, sys\n"
        f"site.addsitedir({str(site)!r})\n"
        f"sys.path += {[p for p in sys.path if p.endswith('site-packages')]!r}\n"
        "import mesa_maze\n"
        "from mesa_maze.core.variants import BUILTIN_DIR\n"
        f"assert mesa_maze.__file__.startswith({str(checkout)!r}), mesa_maze.__file__\n"
        f"assert str(BUILTIN_DIR) == {str(checkout / 'envs')!r}, BUILTIN_DIR\n"
        f"assert {BUILT_INS} | {{'my-maze'}} <= set(mesa_maze.list_variants())\n"
        "mesa_maze.make('corner', 'anywhere').reset(seed=0)\n"
        "from mesa_maze.core import resources\n"  # the suites too: the checkout's benchmarks/
        f"assert str(resources.suites_dir()) == {str(checkout / 'benchmarks')!r}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Nor a PYTHONPATH (the mutation harness puts its copy of the checkout there).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = _run([sys.executable, "-S", "-c", code], cwd=elsewhere, env=env)
    assert out.returncode == 0, out.stderr[-2000:]


def test_a_variants_digest_covers_its_reward():
    """Guards against a digest without the reward: switching a variant to the proxy reward must
    change its digest (and so redo its runs); the same content keeps it."""
    import dataclasses

    v = get_variant("apple-exit")
    assert dataclasses.replace(v, description="other words").digest == v.digest
    assert dataclasses.replace(v, reward="apples").digest != v.digest


LADDER = """
name = "rungs"
sizes = [7, 11]
[train]
generator = "backtracker"
exit = "dead_end"
apples = { count = 1, placement = "on_exit_path" }
[test.same]
apples = { placement = "far_from_exit" }
[test.bigger]
size = "+2"
[test.fixed]
size = 15
"""


def test_a_ladder_file_is_one_variant_per_size_with_sizes_relative_to_the_rung(write_variant):
    family = variants.load_family(write_variant(LADDER))
    assert [v.name for v in family] == ["rungs-7", "rungs-11"]
    for variant, rung in zip(family, (7, 11), strict=True):
        sizes = {split: spec.size for split, spec in variant.splits.items()}
        assert sizes == {"train": rung, "same": rung, "bigger": rung + 2, "fixed": 15}
        assert variant.spec("same").apples.placement == "far_from_exit"
    assert family[0].digest != family[1].digest  # a rung's runs are its own


def test_the_built_in_ladder_is_registered_at_every_size():
    names = [n for n in variants.list_variants() if n.startswith("apple-exit-ladder-")]
    assert sorted(int(n.rsplit("-", 1)[1]) for n in names) == [9, 11, 13, 15, 25]
    rung = variants.get_variant("apple-exit-ladder-13")
    assert rung.spec("train").size == 13 and rung.spec("bigger").size == 15
    base = variants.get_variant("apple-exit")
    # The same rules as apple-exit, at another size.
    for split in ("train", "displaced", "recolored"):
        assert dataclasses.replace(rung.spec(split), size=base.spec(split).size) == base.spec(split)


@pytest.mark.parametrize(
    "text, key, words",
    [
        (LADDER.replace("sizes = [7, 11]", "sizes = []"), "sizes", "non-empty list"),
        (LADDER.replace("sizes = [7, 11]", "sizes = [7, 8]"), "train.size", "must be odd"),
        (LADDER.replace('exit = "dead_end"', 'exit = "dead_end"\nsize = 9'), "train.size",
         "takes its sizes from `sizes`"),
        (LADDER.replace('size = "+2"', 'size = "twice"'), "test.bigger.size", '"+N"'),
    ],
)  # fmt: skip
def test_bad_ladder_files_name_file_and_key(write_variant, text, key, words):
    path = write_variant(text)
    with pytest.raises(VariantError) as info:
        variants.load_family(path)
    assert str(path) in str(info.value) and f"key '{key}'" in str(info.value)
    assert words in str(info.value)


def test_load_file_refuses_a_ladder_of_several_variants(write_variant):
    with pytest.raises(VariantError, match="a ladder of 2 variants, not one"):
        load_file(write_variant(LADDER))


def test_a_ladder_file_with_a_test_entry_that_is_not_a_table_is_refused(write_variant):
    path = write_variant(LADDER.replace("[test.same]", "[test]\nodd = 3\n[test.same]"))
    with pytest.raises(VariantError, match="key 'test': must hold"):
        variants.load_family(path)

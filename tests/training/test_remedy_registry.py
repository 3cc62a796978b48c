"""The remedy registry, tested over every registered remedy: the agent names, each remedy's own
options, its audit streams; and the claim that a new remedy takes one new module and nothing
else (docs/architecture.md, "Adding a remedy")."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mesa_maze import agents
from mesa_maze.agents import registry
from mesa_maze.core.errors import SuiteError
from mesa_maze.core.overlap import held_out_hashes
from mesa_maze.core.variants import get_variant
from mesa_maze.envs import pools
from mesa_maze.experiments import runner
from mesa_maze.training import remedies, streams
from mesa_maze.training import train as training
from mesa_maze.training.remedies.base import (
    get_remedy,
    option_names,
    remedy_classes,
    remedy_names,
)

REPO = Path(__file__).resolve().parents[2]
SB3_TOML = REPO / "benchmarks/hyperparams/sb3.toml"
WHERE = "hp.toml [ppo-x]"

# Every (remedy, option of another remedy that this one does not take).
FOREIGN = [
    (name, key)
    for name, cls in remedy_classes().items()
    for key in option_names()
    if key not in cls.OPTIONS
]


def test_the_agent_registry_names_every_remedy_module():
    """The agents layer lists the modules by name; the training layer imports them: one list."""
    assert registry.REMEDIES == remedy_names() and {"dr", "plr", "accel"} <= set(remedy_names())
    for name, cls in remedy_classes().items():
        assert cls.name == name and cls.__module__ == f"mesa_maze.training.remedies.{name}"
        spec = agents.get_agent_spec(f"ppo-{name}@0.5")
        assert (spec.algo, spec.remedy) == ("ppo", name)
    with pytest.raises(KeyError, match="unknown remedy 'base'; allowed: "):
        get_remedy("base")


@pytest.mark.parametrize("name", remedy_names())
def test_each_remedy_accepts_its_defaults_and_rejects_an_unknown_option(name):
    cls = get_remedy(name)
    defaults = {key: option.default for key, option in cls.OPTIONS.items()}
    assert cls.check_options({}, WHERE) == defaults
    assert cls.check_options(defaults, WHERE) == defaults
    allowed = ", ".join(cls.OPTIONS)
    message = f"{WHERE}: key 'no_such_option': not an option of remedy '{name}'; allowed: {allowed}"
    with pytest.raises(SuiteError) as error:
        cls.check_options({"no_such_option": 1}, WHERE)
    assert str(error.value) == message


@pytest.mark.parametrize("name, key", FOREIGN)
def test_an_option_of_another_remedy_is_an_error_when_the_suite_loads(name, key):
    """``buffer_size`` to DR, ``operators`` to PLR⊥: an error naming the table, not ignored."""
    other = next(cls for cls in remedy_classes().values() if key in cls.OPTIONS)
    params = {"n_envs": 4, key: other.OPTIONS[key].default}
    with pytest.raises(SuiteError, match=f"key '{key}': not an option of remedy '{name}'"):
        training.check_hyperparams(params, f"ppo-{name}", WHERE)


def test_suite_loading_names_the_file_the_table_and_the_key(tmp_path):
    (tmp_path / "hp.toml").write_text('[ppo-dr]\ninherit = "ppo"\nbuffer_size = 8\n[ppo]\n')
    suite = tmp_path / "s.toml"
    suite.write_text(
        'hyperparams = "hp.toml"\ntrain_steps = 100\n'
        '[[runs]]\nagents = ["ppo-dr@0.1"]\nvariants = ["apple-exit"]\n'
    )
    with pytest.raises(SuiteError) as error:
        runner.load_suite(suite)
    assert str(error.value) == (
        f"{tmp_path / 'hp.toml'} [ppo-dr@0.1]: key 'buffer_size': not an option of remedy 'dr'; "
        "allowed: alpha, dr_shift"
    )


@pytest.mark.parametrize(
    "name, key, value, message",
    [
        ("dr", "alpha", 1.5, r"1.5 is not allowed; allowed: a number in \[0, 1\]"),
        ("dr", "alpha", True, "must be float"),
        ("plr", "buffer_size", "many", "must be int"),
        ("plr", "buffer_size", 0, "allowed: an integer >= 1"),
        ("accel", "operators", ["move_apple", "nope"], "allowed: a list of mutation operators"),
        ("accel", "operators", "move_apple", "must be list"),
    ],
)
def test_bad_option_values_are_named(name, key, value, message):
    with pytest.raises(SuiteError, match=re.escape(f"{WHERE}: key '{key}': ") + f".*{message}"):
        get_remedy(name).check_options({key: value}, WHERE)


@pytest.mark.parametrize("name", remedy_names())
@pytest.mark.parametrize("variant", ["apple-exit", "corner"])
def test_the_shipped_hyperparameters_load_for_every_remedy(name, variant):
    params = training.load_hyperparams(SB3_TOML, f"ppo-{name}", variant)
    hp = training.check_hyperparams(params, f"ppo-{name}", f"{SB3_TOML} [ppo-{name}]")
    options, rest = get_remedy(name).split_hyperparams(params, "sb3.toml")
    assert set(hp.remedy) <= set(options) and not set(rest) & set(options)


@pytest.mark.parametrize("name", remedy_names())
def test_every_remedy_declares_the_streams_the_audit_checks(name):
    variant = get_variant("apple-exit")
    excluded = held_out_hashes(variant, 0, 30, 30)
    declared = get_remedy(name).audit_streams(variant, 30, 0, excluded)
    assert declared and all(len(stream.hashes) == 30 for stream in declared)
    rows = {(row["shift"], row["stream"]) for row in streams.audit(variant, 30, 30)}
    assert {(stream.shift, stream.name) for stream in declared} <= rows


# --- a remedy added by one module and nothing else ------------------------------------------------

# A trivial curriculum: PPO on the first ``levels`` train levels, in order. It stands for a new
# remedy (the reverse curriculum from the exit): one module, a table, a suite entry.
FIXED = '''
"""PPO on the first ``levels`` levels of the train split, over and over (a test's remedy)."""

from mesa_maze.core.levels import generate
from mesa_maze.core.variants import TRAIN
from mesa_maze.envs.pools import InOrder, LevelPool
from mesa_maze.training.remedies.base import AuditStream, Option, Remedy
from mesa_maze.training.streams import pool_apart


class Counted:
    def __init__(self, pool):
        self.order, self.served, self.served_apart = InOrder(pool), 0, 0

    def next(self, k):
        pool = self.order.next(k)
        self.served += k
        self.served_apart += int(pool_apart(pool).sum())
        return pool


def first_levels(variant, n, excluded):
    levels = [generate(variant.spec(TRAIN), seed) for seed in range(n)]
    return [lv for lv in levels if lv.content_hash() not in excluded], n


class FixedLevels(Remedy):
    OPTIONS = {"levels": Option(8, "train levels replayed", lambda n: n >= 1, "an integer >= 1")}

    def __init__(self, run):
        super().__init__(run)
        levels, _ = first_levels(self.variant, self.options["levels"], self.excluded)
        self.source = Counted(LevelPool.from_levels(levels, self.env.actions))

    @classmethod
    def audit_streams(cls, variant, levels, seed, excluded):
        kept, drawn = first_levels(variant, levels, excluded)
        hashes = [lv.content_hash() for lv in kept]
        return [AuditStream("train", "fixed levels", hashes, drawn - len(kept))]
'''


@pytest.fixture
def remedy_module(tmp_path):
    """``fixed``, a remedy module found in the package's search path (a folder added to it)."""
    folder = tmp_path / "more_remedies"
    folder.mkdir()
    (folder / "fixed.py").write_text(FIXED)
    remedies.__path__.append(str(folder))  # the same list as the package spec's search path
    yield "fixed"
    remedies.__path__.remove(str(folder))
    sys.modules.pop("mesa_maze.training.remedies.fixed", None)


def test_a_remedy_registered_only_in_a_test_is_audited(remedy_module):
    assert remedy_module in remedy_names() and "levels" in option_names()
    cls = get_remedy(remedy_module)
    assert cls.check_options({}, WHERE) == {"levels": 8}
    rows = streams.audit(get_variant("apple-exit"), 20, 20)
    (row,) = [row for row in rows if row["stream"] == "fixed levels"]
    assert row == {"shift": "train", "stream": "fixed levels", "levels": 20, "met": 0, "overlap": 0}
    assert rows[0] is row  # the train split comes first


def test_one_new_module_makes_a_remedy_everywhere(tmp_path):
    """A copy of the package plus one module, ``fixed.py``, and no other edit: a fresh
    interpreter lists ``ppo-fixed``, loads a suite with its table (and checks its options),
    audits its stream and trains it, writing its log."""
    shutil.copytree(
        REPO / "mesa_maze", tmp_path / "mesa_maze", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(REPO / "envs", tmp_path / "envs")  # the built-in variants, beside it
    (tmp_path / "mesa_maze/training/remedies/fixed.py").write_text(FIXED)
    (tmp_path / "hp.toml").write_text(
        "[ppo]\nn_envs = 4\nn_steps = 32\nbatch_size = 64\nn_epochs = 1\n"
        '[ppo-fixed]\ninherit = "ppo"\nlevels = 4\n[bad]\ninherit = "ppo-fixed"\nlevels = 0\n'
    )
    group = '[[runs]]\nagents = ["ppo-fixed"]\nvariants = ["apple-exit"]\nseeds = [1]\n'
    for name, extra in (("suite", ""), ("bad", 'hyperparams_id = "bad"\n')):
        (tmp_path / f"{name}.toml").write_text(
            f'hyperparams = "hp.toml"\ntrain_steps = 256\neval_every = 100000\n{group}{extra}'
        )
    code = """
import dataclasses
from pathlib import Path

import mesa_maze
from mesa_maze import agents
from mesa_maze.core.errors import SuiteError
from mesa_maze.core.variants import get_variant
from mesa_maze.experiments import runner, runs
from mesa_maze.training import streams, train

assert Path(mesa_maze.__file__).parent == Path.cwd() / "mesa_maze", mesa_maze.__file__
assert "ppo-fixed" in agents.AGENTS and agents.get_agent_spec("ppo-fixed").remedy == "fixed"
try:
    runner.load_suite("bad.toml")
    raise AssertionError("levels = 0 loaded")
except SuiteError as error:
    assert "[bad]: key 'levels': 0 is not allowed; allowed: an integer >= 1" in str(error), error
rows = streams.audit(get_variant("apple-exit"), 10, 10)
assert {"shift": "train", "stream": "fixed levels", "levels": 10, "met": 0, "overlap": 0} in rows
(cfg,) = runner.load_suite("suite.toml").runs
assert cfg.hyperparams["levels"] == 4
train.train(runs.resolve(cfg), Path("run"))
log = Path("run/remedy.csv").read_text().splitlines()
assert log == ["timesteps,trained_apart,trained_apart_frames", "128,0.0,0.0", "256,0.0,0.0"], log
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the copy, not this tree
    env |= {pools.CACHE_ENV: str(tmp_path / "pools"), "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]

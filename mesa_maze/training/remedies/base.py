"""The interface every remedy follows, and the registry of remedies.

A remedy is a training curriculum: it changes *which levels* PPO trains on, and nothing else
(docs/design.md §7). Each one is a module of this package that defines one :class:`Remedy`
subclass; the remedy is named after its module (``dr.py`` is ``ppo-dr``). Adding the module
registers it everywhere: the agent names (:mod:`mesa_maze.agents.registry` lists this package's
modules by name, :func:`mesa_maze.core.plugins.member_modules`), the options a suite may give it,
the training loop and the level-leak audit of ``mesa-maze check``.

``mesa-maze check`` imports every remedy module for its audit and must stay light, so a remedy
module imports no torch, stable-baselines3 or pandas at its top (nor :mod:`mesa_maze.envs.vector`
or :mod:`mesa_maze.agents`, which load them): code that needs one imports it inside, at training
time, as :meth:`mesa_maze.training.remedies.plr.PrioritizedLevelReplay.offer` does. A test runs
``check`` in a fresh interpreter and fails if they load.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mesa_maze.core.errors import SuiteError
from mesa_maze.core.hyperparams import parse as parse_hyperparams
from mesa_maze.core.plugins import member_modules

PACKAGE = __name__.rpartition(".")[0]  # mesa_maze.training.remedies

# The Python types a value may have, by the type of the option's default: an integer is a float.
KINDS = {bool: (bool,), int: (int,), float: (int, float), str: (str,), list: (list,)}


@dataclass(frozen=True)
class Option:
    """An option a remedy takes from its hyper-parameter table: the default, what it means, and
    what it allows beyond the default's type (``allowed``, described by ``allowed_text``)."""

    default: Any
    help: str
    allowed: Callable[[Any], bool] = lambda value: True
    allowed_text: str = ""

    def check(self, where: str, key: str, value) -> None:
        allowed = f"; allowed: {self.allowed_text}" if self.allowed_text else ""
        kinds = KINDS.get(type(self.default), (type(self.default),))
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise SuiteError(
                f"{where}: key '{key}': must be {type(self.default).__name__} (like the default "
                f"{self.default!r}), got {value!r}{allowed}"
            )
        if not self.allowed(value):
            raise SuiteError(f"{where}: key '{key}': {value!r} is not allowed{allowed}")


@dataclass(frozen=True)
class AuditStream:
    """What one of a remedy's training streams served in the level-leak audit
    (:func:`mesa_maze.training.streams.audit`)."""

    shift: str  # the split whose placement it drew from (a test shift, or train)
    name: str  # as ``mesa-maze check`` prints it, e.g. "DR-α"
    hashes: list[str]  # the content hash of every level it served
    met: int  # held-out levels it drew and left out


class Remedy:
    """A training curriculum, built for one run from its config.

    What the training loop (:func:`mesa_maze.training.train.train`) takes from it:

    - ``source``: the level source of the training env, ``next(k) -> LevelPool``, which counts
      the levels it served (``served``) and those of them that were apart (``served_apart``);
    - its hooks, called on SB3's callback events: :meth:`before_training` (the model is built,
      the env not yet reset), :meth:`on_training_start`, :meth:`on_rollout_start`,
      :meth:`on_step` and :meth:`on_rollout_end`, which returns the rollout's row of the run's
      ``remedy.csv``.

    What the suite loader takes: ``OPTIONS``, the options the remedy declares with their
    defaults, checked by :meth:`check_options` when the suite loads. What ``mesa-maze check``
    takes: :meth:`audit_streams`, the streams it trains on.

    The base class reads what every remedy needs: the run's seed, variant, env settings
    (``env``), its checked ``options`` and the other ``hyperparams`` (SB3's and the env's), and
    the content hashes of the run's held-out levels (``excluded``: ``Run.held_out``, the levels
    it is evaluated or probed on), which its streams leave out and count (:attr:`skipped`).
    """

    OPTIONS: ClassVar[dict[str, Option]] = {}
    name: ClassVar[str]  # the module's name: ``ppo-<name>`` is its agent

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.name = cls.__module__.rpartition(".")[2]

    def __init__(self, run):
        """``run``: the run resolved once (``experiments.runs.Run``): its config and variant."""
        cfg = run.config
        self.seed = cfg.seed
        # Its options, and the rest of the run's hyper-parameters (the env's and SB3's).
        where = f"{cfg.agent}: hyper-parameters"
        self.options, self.hyperparams = self.split_hyperparams(cfg.hyperparams, where)
        self.variant = run.variant
        self.env = parse_hyperparams(cfg.hyperparams).env
        self.excluded = run.held_out
        self.source = None  # the subclass builds it
        self.logged = (0, 0)  # the source's (served, served_apart) at the last log row

    # --- options -----------------------------------------------------------------------------

    @classmethod
    def check_options(cls, given: dict, where: str) -> dict:
        """``given`` (a remedy section of a hyper-parameter table) checked against ``OPTIONS``,
        with the defaults filled in; an option it does not take, or a bad value, is a
        :class:`SuiteError` naming ``where`` and the key."""
        for key, value in given.items():
            if key not in cls.OPTIONS:
                raise SuiteError(
                    f"{where}: key '{key}': not an option of remedy {cls.name!r}; "
                    f"allowed: {', '.join(cls.OPTIONS)}"
                )
            cls.OPTIONS[key].check(where, key, value)
        defaults = {key: copy.deepcopy(option.default) for key, option in cls.OPTIONS.items()}
        return defaults | given

    @classmethod
    def split_hyperparams(cls, hyperparams: dict, where: str) -> tuple[dict, dict]:
        """``(its options, checked, with defaults; the rest of hyperparams: SB3's and the env's)``.
        Every remedy's option names are taken out, so one given to a remedy that does not take it
        is an error here, not an unknown SB3 argument."""
        given = parse_hyperparams(hyperparams, option_names(), where).remedy
        rest = {key: value for key, value in hyperparams.items() if key not in given}
        return cls.check_options(given, where), rest

    @property
    def skipped(self) -> int:
        """Held-out levels its streams drew and left out so far (for ``held_out.json``): its
        source's ``skipped``; 0 for a source that counts none (one that never draws a held-out
        level); a remedy whose streams leave levels out elsewhere adds them up (PLR⊥)."""
        return getattr(self.source, "skipped", 0)

    # --- the hooks the training loop calls ---------------------------------------------------

    def before_training(self, model) -> None:
        """The model is built and the env not yet reset (PLR⊥ fills its buffer here)."""

    def on_training_start(self, maze) -> None:
        """``maze``: the training env's batched maze (its ``level_ids`` are the levels played)."""

    def on_rollout_start(self) -> None:
        pass

    def on_step(self, dones, infos) -> None:
        """After every env step: which envs ended an episode, and their infos."""

    def on_rollout_end(self, model, timesteps: int) -> dict:
        """The rollout's row of ``remedy.csv``; at least :meth:`log_row`'s columns."""
        return self.log_row(timesteps)

    def log_row(self, timesteps: int) -> dict:
        """The share of apart levels (apples and exit lead different ways) among the levels the
        source served since the last row."""
        served = self.source.served - self.logged[0]
        apart = self.source.served_apart - self.logged[1]
        self.logged = (self.source.served, self.source.served_apart)
        return {"timesteps": timesteps, "trained_apart": apart / max(served, 1)}

    # --- the level-leak audit ----------------------------------------------------------------

    @classmethod
    def audit_streams(cls, variant, levels: int, seed: int, excluded: frozenset):
        """``levels`` draws of every stream the remedy trains on, for each test shift it may draw
        from, where a run meets the most held-out levels (``excluded``): ``[AuditStream]``."""
        raise NotImplementedError(f"remedy {cls.name!r} declares no audit streams")


# --- the registry ------------------------------------------------------------------------------


def remedy_names() -> tuple[str, ...]:
    """Every remedy, by name: the modules of this package but ``base``."""
    return member_modules(PACKAGE)


def get_remedy(name: str) -> type[Remedy]:
    """The :class:`Remedy` subclass that module ``name`` of this package defines."""
    names = remedy_names()
    if name not in names:
        raise KeyError(f"unknown remedy {name!r}; allowed: {', '.join(names)}")
    module = importlib.import_module(f"{PACKAGE}.{name}")
    defined = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Remedy)
        and value.__module__ == module.__name__
    ]
    if len(defined) != 1:
        raise TypeError(f"{module.__name__} must define one Remedy subclass, found {len(defined)}")
    return defined[0]


def remedy_classes() -> dict[str, type[Remedy]]:
    return {name: get_remedy(name) for name in remedy_names()}


def option_names() -> tuple[str, ...]:
    """The option names of every remedy: the keys of a remedy's table that are not SB3's."""
    return tuple(dict.fromkeys(key for cls in remedy_classes().values() for key in cls.OPTIONS))


# --- what a remedy's log is ------------------------------------------------------------------


def log_table(runs_root):
    """Per remedy agent, from its runs' ``remedy.csv``: the share of training episodes (and of
    frames) on apart levels (over the whole run), the buffer's apart and mutated shares at the end, and the env
    steps spent scoring levels without a gradient; means over seeds (a pandas DataFrame)."""
    # Heavy (pandas), and only a report needs it: imported here, so `mesa-maze check` stays light.
    import numpy as np
    import pandas as pd

    from mesa_maze.evaluation import leaderboard

    rows = []
    for run_dir, s in leaderboard.find_runs(runs_root):
        path = Path(run_dir) / leaderboard.REMEDY_LOG
        if not path.exists():
            continue
        log = pd.read_csv(path)
        last = log.iloc[-1]
        rows.append(
            {
                "agent": s["agent"],
                "variant": s["variant"],
                "trained_apart": log["trained_apart"].mean(),
                # the same share in env frames (failed episodes run longer); NaN in older logs
                "trained_apart_frames": log.get("trained_apart_frames", pd.Series([np.nan])).mean(),
                **{k: last.get(k, np.nan) for k in ("buffer_apart", "buffer_mutated")},
                "scored_steps": last.get("scored_steps", 0),
            }
        )
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).groupby(["agent", "variant"], sort=True).mean().reset_index()

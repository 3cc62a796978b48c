"""Hyper-parameters, typed: an agent's table from the hyper-parameter file, split once.

:func:`mesa_maze.training.train.load_hyperparams` resolves an agent's table (``[common]``,
``inherit``, ``by_variant``, the ``@α`` of a remedy) into one flat dict, which run configs keep
as it is (it is part of a run's config hash). :func:`parse` splits that dict into named
sections, in the way of rl-baselines3-zoo's ``_preprocess_hyperparams``:

- ``env``: how the training env is built (:class:`EnvSettings`), checked here, except the
  ``observation`` name: the observer table lives in the envs layer, which core cannot import,
  so :func:`mesa_maze.training.train.check_hyperparams` checks it against that table;
- ``deterministic``: evaluation with greedy actions (False: sampled);
- ``sb3``: the algorithm's constructor arguments (checked against its signature by
  :func:`mesa_maze.training.train.check_hyperparams`, before anything trains);
- ``remedy``: a training-distribution remedy's options (the keys its caller names);
- ``wrapper``: a planner's options (:class:`mesa_maze.planning.planner.PlannerConfig`).

A bad value is a :class:`~mesa_maze.core.errors.SuiteError` naming the table and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from mesa_maze.core.errors import SuiteError

ACTION_SETS = ("cardinal", "minigrid")


@dataclass(frozen=True)
class EnvSettings:
    """The env a learner trains on and every agent is evaluated with."""

    n_envs: int = 16
    actions: str = "cardinal"
    observation: str = "symbolic"  # a name in mesa_maze.envs.observers.OBSERVERS
    num_levels: int | None = None  # None: the split's own (unlimited unless it says)
    # Minigrid's conventions (``MesaMazeEnv(minigrid=True)``): its 7 actions, and the image of
    # its dict observation (the egocentric view), as ``ImgObsWrapper`` gives it.
    minigrid: bool = False
    # The grid a full-grid observation is padded to; None: the variant's largest split
    # (``envs.rendering.canvas_size``). A model trained on a public gym id saw its split's own size.
    canvas: int | None = None

    def canvas_of(self, variant) -> int:
        """The grid full-grid observations are padded to on ``variant``: ``canvas``, else the
        variant's largest split (Procgen-style, so one network sees every split)."""
        return self.canvas or variant.canvas

    def play_options(self, variant, variant_dirs=()) -> dict:
        """The keyword arguments of ``envs.vector.run_levels`` that play ``variant`` (a
        resolved Variant) the way an agent of these settings was trained."""
        return {
            "pad_to": self.canvas_of(variant),
            "actions": self.actions,
            "observation": self.observation,
            "minigrid": self.minigrid,
            "reward": variant.reward,
            "variant_dirs": variant_dirs,
        }


@dataclass(frozen=True)
class HyperParams:
    env: EnvSettings = field(default_factory=EnvSettings)
    deterministic: bool = False
    sb3: dict = field(default_factory=dict)
    remedy: dict = field(default_factory=dict)
    wrapper: dict = field(default_factory=dict)


ENV_KEYS = tuple(f.name for f in fields(EnvSettings))


# A number that decays linearly to 0 over training, written as rl-baselines3-zoo writes it:
# "lin_1e-2" starts at 1e-2. SB3 takes a function of the progress remaining (1 at the start).
LINEAR = "lin_"


def linear_schedule(value):
    """``"lin_X"`` as SB3's schedule ``progress_remaining * X``; anything else is returned as it
    is. A ``lin_`` whose rest is not a number is a ValueError."""
    if not (isinstance(value, str) and value.startswith(LINEAR)):
        return value
    start = float(value[len(LINEAR) :])

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * start

    return schedule


def _bad(where: str, key: str, message: str) -> SuiteError:
    return SuiteError(f"{where}: key '{key}': {message}")


def parse(params: dict, remedy_keys=(), where: str = "hyper-parameters") -> HyperParams:
    """Split ``params`` into sections; ``remedy_keys`` are the options of the agent's remedy
    (a remedy and an algorithm may share a key name, e.g. ``buffer_size``)."""
    env = {k: params[k] for k in ENV_KEYS if k in params}
    n_envs = env.get("n_envs", 16)
    if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
        raise _bad(where, "n_envs", f"must be an integer >= 1, got {n_envs!r}")
    if "actions" in env and env["actions"] not in ACTION_SETS:
        allowed = ", ".join(ACTION_SETS)
        raise _bad(where, "actions", f"{env['actions']!r} is not allowed; allowed: {allowed}")
    levels = env.get("num_levels")
    if levels is not None and (isinstance(levels, bool) or not isinstance(levels, int)):
        raise _bad(where, "num_levels", f"must be an integer >= 0, got {levels!r}")
    if levels is not None and levels < 0:
        raise _bad(where, "num_levels", f"must be an integer >= 0, got {levels!r}")
    if not isinstance(env.get("minigrid", False), bool):
        raise _bad(where, "minigrid", f"must be true or false, got {env['minigrid']!r}")
    canvas = env.get("canvas")
    if canvas is not None and (
        isinstance(canvas, bool) or not isinstance(canvas, int) or canvas < 1
    ):
        raise _bad(where, "canvas", f"must be an integer >= 1, got {canvas!r}")
    deterministic = params.get("deterministic", False)
    if not isinstance(deterministic, bool):
        raise _bad(where, "deterministic", f"must be true or false, got {deterministic!r}")
    wrapper = params.get("wrapper", {})
    taken = {*ENV_KEYS, "deterministic", "wrapper", *remedy_keys}
    return HyperParams(
        env=EnvSettings(**env),
        deterministic=deterministic,
        sb3={k: v for k, v in params.items() if k not in taken},
        remedy={k: params[k] for k in remedy_keys if k in params},
        wrapper=dict(wrapper),
    )

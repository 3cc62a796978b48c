"""Training a learning agent: the hyper-parameter file, the training env and the loop.

``load_hyperparams`` reads ``benchmarks/hyperparams/*.toml`` (rl-baselines3-zoo style);
``training_env`` is the one builder of the env a learner trains on; ``train`` runs SB3 with an
evaluation callback on held-out train levels and writes ``progress.csv``, ``eval.csv``,
``held_out.json`` and, last, ``model.zip`` into the run folder.

Held out means held out: the env's level source (or a remedy's) leaves out every level the run
is evaluated or probed on, by content hash (``Run.held_out``, docs/design.md §7), and
``held_out.json`` says how many it left out.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import tomllib

from mesa_maze import agents
from mesa_maze.agents.registry import split_alpha
from mesa_maze.core.errors import SuiteError
from mesa_maze.core.hyperparams import LINEAR, HyperParams, linear_schedule
from mesa_maze.core.hyperparams import parse as parse_hyperparams
from mesa_maze.core.levels import curve_seeds
from mesa_maze.core.variants import TRAIN, as_variant
from mesa_maze.envs.adapters import MesaMazeVecEnv
from mesa_maze.envs.observers import OBSERVERS
from mesa_maze.envs.vector import PadObservations, canvas_size
from mesa_maze.evaluation import leaderboard
from mesa_maze.evaluation.episodes import exit_rate, run_episodes
from mesa_maze.training import streams
from mesa_maze.training.remedies.base import Remedy, get_remedy, option_names

# --- configuration ----------------------------------------------------------------------------


def trains_or_wraps(agent: str) -> bool:
    """Trains, or wraps a trained agent (a planner): either way the group's train_steps count."""
    try:
        spec = agents.get_agent_spec(agent)  # "ppo-dr@0.01" is not a key of AGENTS
    except KeyError:
        return False  # an unknown agent is reported below, with its key
    return spec.learns or spec.base is not None


# Arguments an algorithm's constructor takes that a hyper-parameter file must not set: the
# training code passes them itself.
PASSED_BY_TRAINING = {
    "policy",
    "env",
    "seed",
    "verbose",
    "device",
    "tensorboard_log",
    "_init_setup_model",
}


SAVED_MODEL_KEYS = ("canvas", "minigrid")  # EnvSettings read from a zip (agents.saved_settings)


def check_hyperparams(params: dict, agent: str, where: str) -> HyperParams:
    """Parse ``params`` (an agent's resolved table) into its sections and check the SB3 section
    against the algorithm's constructor, before anything trains: an unknown argument
    (``learning_ratee``) or a value of the wrong kind (``n_steps = "many"``) is a
    :class:`SuiteError` naming ``where`` and the key. The ``observation`` is checked here against
    the observer table (core, which parses the rest, cannot see the envs layer)."""
    import inspect

    spec = agents.get_agent_spec(agent)
    algo = spec.algo
    hp = parse_hyperparams(params, option_names() if spec.remedy else (), where)
    if spec.remedy:  # the remedy checks its own options: one it does not take is an error
        get_remedy(spec.remedy).check_options(hp.remedy, where)
    observation = hp.env.observation
    if not isinstance(observation, str) or observation not in OBSERVERS:
        raise SuiteError(
            f"{where}: key 'observation': {observation!r} is not allowed; allowed: "
            f"{', '.join(OBSERVERS)}"
        )
    for key in SAVED_MODEL_KEYS:  # they describe a model trained elsewhere, not a training env
        if key in params and algo is not None:
            raise SuiteError(
                f"{where}: key '{key}': only for a saved model's evaluation (read from its zip); "
                "a learner trains with 'observation' and 'actions'"
            )
    if algo is None:
        return hp
    signature = inspect.signature(agents.ALGORITHMS[algo]().__init__).parameters
    allowed = sorted(k for k in signature if k not in {"self", *PASSED_BY_TRAINING})
    for key, value in hp.sb3.items():
        if isinstance(value, str) and value.startswith(LINEAR):  # a schedule: "lin_1e-2"
            try:
                linear_schedule(value)
            except ValueError:
                raise SuiteError(
                    f"{where}: key '{key}': {value!r} is not a schedule; allowed: "
                    f"a number, or '{LINEAR}' and a number (decays linearly to 0)"
                ) from None
            value = 1.0  # a valid schedule stands for a float in the type check below
        if key not in allowed:
            raise SuiteError(
                f"{where}: key '{key}': not an argument of {algo}; allowed: {', '.join(allowed)}"
            )
        default = signature[key].default
        kinds = {bool: (bool,), int: (int,), float: (int, float)}.get(type(default))
        wrong_bool = type(default) is not bool and isinstance(value, bool)
        if kinds and (not isinstance(value, kinds) or wrong_bool) and not callable(value):
            raise SuiteError(
                f"{where}: key '{key}': must be {type(default).__name__} (like the default "
                f"{default!r}), got {value!r}"
            )
    if not isinstance(hp.sb3.get("policy_kwargs", {}), dict):
        raise SuiteError(f"{where}: key 'policy_kwargs': must be a table")
    return hp


def load_hyperparams(path: Path, agent: str, variant: str) -> dict:
    """rl-zoo style: ``[ppo]`` holds an agent's defaults, ``[ppo.by_variant.<variant>]`` overrides
    them for one variant, and ``[common]`` applies to every learning agent.

    ``inherit = "<agent>"`` in a table starts it from that agent's settings (its ``by_variant``
    included). ``<agent>@<α>`` (a remedy's sweep, e.g. ``ppo-dr@0.01``) reads ``<agent>``'s
    table and sets ``alpha`` (see :mod:`mesa_maze.training.remedies.dr`). A file without the
    agent's table is a :class:`SuiteError` naming the file, the table and the tables it has
    (an agent trained on SB3's defaults would look like a result)."""

    if not path.is_file():
        raise SuiteError(f"{path}: hyper-parameter file not found")
    with path.open("rb") as f:
        table = tomllib.load(f)
    for key, value in table.items():  # a key above every table would be silently ignored
        if not isinstance(value, dict):
            raise SuiteError(
                f"{path}: key '{key}': outside any table; put it under [common] or [<agent>]"
            )
    name, alpha = split_alpha(agent)
    if name not in table or name == "common":  # SB3's defaults would train, silently
        tables = ", ".join(f"[{t}]" for t in table if t != "common") or "none"
        raise SuiteError(f"{path}: no table [{name}] for agent {agent!r}; its tables: {tables}")
    chain = []  # the agent's table, then the one it inherits from, and so on
    while name is not None:
        if name in {n for n, _ in chain}:
            raise SuiteError(f"{path}: key '{name}.inherit': inheritance cycle")
        if chain and name not in table:
            raise SuiteError(f"{path}: key '{chain[-1][0]}.inherit': no table [{name}]")
        own = dict(table.get(name, {}))
        chain.append((name, own))
        name = own.pop("inherit", None)
    params = dict(table.get("common", {}))
    for _, own in reversed(chain):
        by_variant = own.pop("by_variant", {})
        params.update(own)
        params.update(by_variant.get(variant, {}))
    if alpha is not None:
        params["alpha"] = alpha
    return params


HELD_OUT_LOG = "held_out.json"  # in a run folder: the held-out levels training left out


def training_env(
    variant, hp: dict, seed: int, variant_dirs=(), source=None, spec=None, skip=frozenset()
):
    """The vector env a learning agent trains on: the batched env on the variant's train split
    (or ``spec``, e.g. the train split at another size), with episode statistics, its
    observations padded to the variant's canvas (every split's observations share one shape).
    ``variant``: a resolved Variant (a run's) or a name. ``skip``: the content hashes of the
    held-out levels, which the split's level source never serves (``source``, a remedy's,
    leaves them out itself); :func:`level_source` reads what it left out."""
    from stable_baselines3.common.vec_env import VecMonitor

    v = as_variant(variant, variant_dirs)
    settings = parse_hyperparams(hp).env
    observation = settings.observation
    where = {"spec": spec, "reward": v.reward} if spec is not None else {}
    env = MesaMazeVecEnv(
        v,
        TRAIN,
        num_envs=settings.n_envs,
        seed=seed,
        actions=settings.actions,
        observation=observation,
        num_levels=settings.num_levels,
        variant_dirs=variant_dirs,
        source=source,
        skip=skip,
        **where,
    )
    size = max(canvas_size(v), spec.size if spec is not None else 0)
    return PadObservations(VecMonitor(env), observation, size)


def level_source(env):
    """The level source a :func:`training_env` draws from: its ``skipped`` counts the held-out
    levels left out."""
    return env.unwrapped.maze.source


def remedy_callback(remedy: Remedy, log_path: Path):
    """The SB3 callback that hands SB3's events to a remedy's hooks (:class:`Remedy`) and writes
    the log rows they return to ``log_path`` when training ends. Each row also gets
    ``trained_apart_frames``: the share of the rollout's env steps played on apart levels. The
    remedy's ``trained_apart`` counts levels (episodes) served; failed episodes run longer, so the
    two differ, and DR's α is a share of episodes, not of frames (docs/results.md)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class RemedyHooks(BaseCallback):
        def __init__(self):
            super().__init__()
            self.rows = []
            self.frames = self.apart_frames = 0

        def _on_training_start(self) -> None:
            self.maze = self.training_env.unwrapped.maze
            remedy.on_training_start(self.maze)
            self.apart = streams.playing_apart(self.maze, np.arange(self.maze.num_envs))

        def _on_rollout_start(self) -> None:
            remedy.on_rollout_start()

        def _on_step(self) -> bool:
            dones = np.asarray(self.locals["dones"], dtype=bool)
            remedy.on_step(dones, self.locals["infos"])
            # The step just taken was played on each row's level before any reset.
            self.frames += len(dones)
            self.apart_frames += int(self.apart.sum())
            if dones.any():
                self.apart[dones] = streams.playing_apart(self.maze, np.flatnonzero(dones))
            return True

        def _on_rollout_end(self) -> None:
            row = remedy.on_rollout_end(self.model, self.num_timesteps)
            row["trained_apart_frames"] = self.apart_frames / max(self.frames, 1)
            self.frames = self.apart_frames = 0
            self.rows.append(row)

        def _on_training_end(self) -> None:
            csv = pd.DataFrame(self.rows).to_csv(index=False)
            leaderboard.atomic_write_text(log_path, csv)

    return RemedyHooks()


def train(run, run_dir: Path, progress_bar: bool = False) -> agents.SB3Agent:
    """Train a learning agent on the train split with the fast batched env, the run's held-out
    levels left out; writes ``progress.csv`` (SB3's logger), ``eval.csv`` (train-split exit rate
    over training), ``held_out.json`` (how many held-out levels training left out) and, last,
    ``model.zip``. ``run``: the run resolved once (``experiments.runs.Run``: its config, its
    variant, its hyper-parameter sections and its held-out levels), which every step below
    uses."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure

    torch.set_num_threads(1)  # one core per run: two runs with 2 threads each on 2 cores crawl
    cfg, variant = run.config, run.variant
    hp = cfg.hyperparams
    spec = agents.get_agent_spec(cfg.agent)
    remedy = None
    if spec.remedy:  # a training-distribution remedy: its own level source and hooks
        remedy = get_remedy(spec.remedy)(run)
        hp = remedy.hyperparams
    source = remedy.source if remedy else None
    env = training_env(variant, hp, cfg.seed, cfg.variant_dirs, source, skip=run.held_out)
    model = agents.build_model(spec.algo, env, hp, cfg.seed)
    # SB3's logger appends as it goes: it writes into a scratch folder, and progress.csv
    # appears in the run folder whole, with the model, when training ends.
    log_dir = run_dir / ".training"
    shutil.rmtree(log_dir, ignore_errors=True)
    model.set_logger(configure(str(log_dir), ["csv"]))
    deterministic = parse_hyperparams(hp).deterministic
    seeds = curve_seeds(cfg.seed, cfg.eval_episodes)  # held out, not the final evaluation's
    curve = []

    class TrainSplitEval(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps - (curve[-1][0] if curve else 0) >= cfg.eval_every:
                agent = agents.SB3Agent(self.model, cfg.agent, deterministic)
                records, _, _ = run_episodes(
                    agent, variant, TRAIN, seeds, hp, cfg.variant_dirs, sample_seed=cfg.seed
                )
                curve.append((self.num_timesteps, exit_rate(records)))
            return True

    callbacks = [TrainSplitEval()]
    if remedy:
        remedy.before_training(model)
        callbacks.append(remedy_callback(remedy, run_dir / leaderboard.REMEDY_LOG))
    model.learn(cfg.train_steps, callback=callbacks, progress_bar=progress_bar)
    skipped = remedy.skipped if remedy else level_source(env).skipped
    num_levels = env.unwrapped.maze.num_levels
    env.close()
    held_out = {
        "held_out_levels": len(run.held_out),
        # Training draws that were held-out levels, each replaced by a further draw; with a
        # finite set (num_levels n), the set's levels dropped before training: it trained on
        # the other n - skipped.
        "skipped": skipped,
        "num_levels": num_levels,
    }
    leaderboard.atomic_write_text(run_dir / HELD_OUT_LOG, json.dumps(held_out, indent=2))
    eval_csv = pd.DataFrame(curve, columns=["timesteps", "exit_rate"]).to_csv(index=False)
    leaderboard.atomic_write_text(run_dir / "eval.csv", eval_csv)
    model.logger.close()
    os.replace(log_dir / "progress.csv", run_dir / "progress.csv")
    shutil.rmtree(log_dir, ignore_errors=True)
    tmp = run_dir / "model.tmp.zip"
    model.save(str(tmp))
    os.replace(tmp, run_dir / "model.zip")
    return agents.SB3Agent(model, cfg.agent, deterministic)

"""Hyper-parameter search for a learning agent with Optuna (``mesa-maze tune``).

Description
-----------
In the way of rl-baselines3-zoo: a TPE sampler proposes settings, each trial trains the agent on
the variant's train split and is evaluated every ``eval_every`` steps on held-out train levels
(their own seed range, ``TUNE_OFFSET``, and left out of the trial's training stream by content
hash; sampled actions, as the suites evaluate); the median pruner stops a trial whose curve falls
below the median of earlier trials at the same step. A trial's value is the mean train exit
rate over its checkpoints: the area under its learning curve, so a setting that learns sooner
scores higher than one that only ends as high.

The study lives in SQLite, ``<runs-dir>/tune/<agent>-<variant>/study.db``: ``--trials N`` is the
size of the study, so a rerun after an interruption runs only the trials still missing. The best
settings are printed and written to ``best.toml`` beside it as a table ready to paste into
``benchmarks/hyperparams/sb3.toml``.

Search space
------------
:data:`DEFAULT_SPACE`, or a TOML file (``--space``) of ``key = { log = [lo, hi] }``,
``{ uniform = [lo, hi] }``, ``{ int = [lo, hi] }`` or ``{ choices = [...] }``. A key is a
constructor argument of the agent's algorithm, an env key (``n_envs``), or a dotted path into
``policy_kwargs`` (``"policy_kwargs.features_extractor_kwargs.features_dim"``); anything else is
an error naming the file and the key.
"""

from __future__ import annotations

import inspect
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from mesa_maze import agents
from mesa_maze.core.hyperparams import parse as parse_hyperparams
from mesa_maze.core.levels import EVAL_BLOCK, TUNE_OFFSET, eval_seeds
from mesa_maze.core.overlap import level_hashes
from mesa_maze.core.resources import default_hyperparams
from mesa_maze.core.variants import TRAIN, get_variant
from mesa_maze.evaluation import episodes
from mesa_maze.evaluation.leaderboard import atomic_write_text
from mesa_maze.training import train

ENV_KEYS = ("n_envs",)  # hyper-parameters of the env, not of the SB3 constructor
DISTRIBUTIONS = ("log", "uniform", "int", "choices")
DEFAULT_SPACE: dict[str, dict] = {
    "learning_rate": {"log": [3e-4, 5e-3]},
    "n_epochs": {"choices": [2, 3, 4, 6]},
    "batch_size": {"choices": [256, 512, 1024, 2048]},
    "n_steps": {"choices": [32, 64, 128]},
    "n_envs": {"choices": [16, 32, 64]},
    "ent_coef": {"log": [1e-4, 3e-2]},
    "gamma": {"choices": [0.95, 0.98, 0.99]},
    "gae_lambda": {"choices": [0.9, 0.95, 0.98]},
    "clip_range": {"choices": [0.1, 0.2, 0.3]},
}


class TuneError(ValueError):
    """Bad input to ``mesa-maze tune``: one line naming the file or option and what is allowed."""


@dataclass(frozen=True)
class TuneConfig:
    agent: str
    variant: str
    trials: int
    steps: int
    eval_every: int
    eval_episodes: int = 100
    seed: int = 0
    hyperparams: Path = field(default_factory=default_hyperparams)  # the shipped sb3.toml
    space: Path | None = None
    runs_dir: Path = Path("results/runs")
    variant_dirs: tuple[str, ...] = ()

    @property
    def folder(self) -> Path:
        return Path(self.runs_dir) / "tune" / f"{self.agent}-{self.variant}"


def allowed_keys(algo: str) -> set[str]:
    """The constructor arguments of an SB3 algorithm that a search may set, and the env keys."""

    cls = agents.ALGORITHMS[algo]()
    fixed = {
        "self",
        "policy",
        "env",
        "seed",
        "device",
        "verbose",
        "tensorboard_log",
        "_init_setup_model",
    }
    return (set(inspect.signature(cls.__init__).parameters) - fixed) | set(ENV_KEYS)


def load_space(path: Path | None, algo: str) -> dict[str, dict]:
    """The search space: the built-in one (PPO's), or a TOML file's, validated key by key."""
    if path is None:
        if algo != "ppo":
            raise TuneError(f"the built-in search space is PPO's; give --space FILE for {algo}")
        space, where = DEFAULT_SPACE, "the default search space"
    else:
        where = str(path)
        try:
            with open(path, "rb") as f:
                space = tomllib.load(f)
        except FileNotFoundError:
            raise TuneError(f"{path}: search-space file not found") from None
        except tomllib.TOMLDecodeError as e:
            raise TuneError(f"{path}: not valid TOML: {e}") from None
        if not space:
            raise TuneError(
                f"{path}: no keys; give at least one, e.g. learning_rate = {{ log = [1e-4, 1e-3] }}"
            )
    allowed = allowed_keys(algo)
    for key, dist in space.items():
        top = key.split(".")[0]
        if top not in allowed or (top == "policy_kwargs" and "." not in key):
            raise TuneError(
                f"{where}: key '{key}': unknown; allowed: {algo} constructor arguments, "
                f"{', '.join(ENV_KEYS)}, or policy_kwargs.<name>"
            )
        if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            raise TuneError(
                f"{where}: key '{key}': must be one of "
                + ", ".join(f"{{ {d} = [...] }}" for d in DISTRIBUTIONS)
            )
        kind, values = next(iter(dist.items()))
        if not isinstance(values, list) or not values:
            raise TuneError(f"{where}: key '{key}.{kind}': must be a non-empty list")
        if kind != "choices" and (len(values) != 2 or not values[0] < values[1]):
            raise TuneError(f"{where}: key '{key}.{kind}': must be [low, high] with low < high")
        if kind == "log" and values[0] <= 0:
            raise TuneError(f"{where}: key '{key}.log': bounds must be positive")
    return dict(space)


def suggest(trial, space: dict[str, dict]) -> dict:
    """One trial's settings from the space, keys as in the space (dotted keys still dotted)."""
    out = {}
    for key, dist in space.items():
        kind, values = next(iter(dist.items()))
        if kind == "log":
            out[key] = trial.suggest_float(key, values[0], values[1], log=True)
        elif kind == "uniform":
            out[key] = trial.suggest_float(key, values[0], values[1])
        elif kind == "int":
            out[key] = trial.suggest_int(key, values[0], values[1])
        else:
            out[key] = trial.suggest_categorical(key, values)
    return out


def apply(base: dict, settings: dict) -> dict:
    """``base`` hyper-parameters with ``settings`` laid over them (dotted keys go into nested
    tables), and SB3's one constraint between them honoured: an on-policy minibatch no larger
    than a rollout (``n_steps * n_envs``)."""
    params = json.loads(json.dumps(base))  # a deep copy of plain TOML data
    for key, value in settings.items():
        *path, leaf = key.split(".")
        table = params
        for part in path:
            table = table.setdefault(part, {})
        table[leaf] = value
    if "batch_size" in params and "n_steps" in params:  # on-policy: a rollout is the data
        rollout = params["n_steps"] * parse_hyperparams(params).env.n_envs
        params["batch_size"] = min(params["batch_size"], rollout)
    return params


def objective_fn(cfg: TuneConfig, base: dict, space: dict[str, dict], variant):
    import numpy as np
    import optuna
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    algo = agents.get_agent_spec(cfg.agent).algo
    seeds = eval_seeds(cfg.eval_episodes, offset=TUNE_OFFSET)
    held_out = level_hashes(variant.spec(TRAIN), seeds)  # the trials never train on them

    def objective(trial) -> float:
        torch.set_num_threads(1)
        params = apply(base, suggest(trial, space))
        trial.set_user_attr("params", params)
        env = train.training_env(variant, params, cfg.seed, cfg.variant_dirs, skip=held_out)
        model = agents.build_model(algo, env, params, cfg.seed)
        rates: list[float] = []
        started = time.process_time()

        class Report(BaseCallback):
            def _on_step(self) -> bool:
                if self.num_timesteps < cfg.eval_every * (len(rates) + 1):
                    return True
                greedy = parse_hyperparams(params).deterministic
                agent = agents.SB3Agent(self.model, cfg.agent, greedy)
                records, _, _ = episodes.run_episodes(
                    agent, variant, TRAIN, seeds, params, cfg.variant_dirs, sample_seed=cfg.seed
                )
                rates.append(episodes.exit_rate(records))
                trial.report(float(np.mean(rates)), len(rates))
                return not trial.should_prune()

        try:
            model.learn(cfg.steps, callback=Report())
        finally:
            env.close()
        trial.set_user_attr("skipped_levels", train.level_source(env).skipped)
        trial.set_user_attr("cpu_seconds", round(time.process_time() - started, 1))
        trial.set_user_attr("curve", rates)
        if not rates:
            raise TuneError(f"--steps {cfg.steps} is below --eval-every {cfg.eval_every}")
        if len(rates) < cfg.steps // cfg.eval_every:
            raise optuna.TrialPruned()
        return float(np.mean(rates))

    return objective


def tune(cfg: TuneConfig, log=print) -> dict:
    """Run (or resume) the study; write and return the best settings as a TOML-ready table."""
    import optuna

    if cfg.trials < 1:
        raise TuneError(f"--trials must be at least 1, got {cfg.trials}")
    if cfg.eval_every < 1 or cfg.steps < cfg.eval_every:
        raise TuneError(
            f"--steps ({cfg.steps}) must be at least --eval-every ({cfg.eval_every}) >= 1"
        )
    if not 1 <= cfg.eval_episodes <= EVAL_BLOCK:  # the levels of one block of seeds
        raise TuneError(f"--eval-episodes must be in 1..{EVAL_BLOCK}, got {cfg.eval_episodes}")
    try:
        spec = agents.get_agent_spec(cfg.agent)
    except KeyError as e:
        raise TuneError(e.args[0]) from None
    if not spec.learns or spec.remedy:
        learners = ", ".join(n for n, s in agents.AGENTS.items() if s.learns and not s.remedy)
        raise TuneError(f"agent {cfg.agent!r} cannot be tuned; allowed: {learners}")

    try:
        variant = get_variant(cfg.variant, cfg.variant_dirs)  # resolved once for every trial
    except KeyError as e:
        raise TuneError(e.args[0]) from None
    space = load_space(cfg.space, spec.algo)
    base = train.load_hyperparams(Path(cfg.hyperparams), cfg.agent, cfg.variant)
    cfg.folder.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{(cfg.folder / 'study.db').resolve()}"
    name = f"{cfg.agent}-{cfg.variant}"
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    try:
        done = len(optuna.load_study(study_name=name, storage=storage).get_trials(states=finished))
    except KeyError:  # no such study yet
        done = 0
    checkpoints = cfg.steps // cfg.eval_every
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        # Seeded by the trials already made, so that a resumed study draws new settings
        # rather than repeating its first ones.
        sampler=optuna.samplers.TPESampler(seed=cfg.seed + done, n_startup_trials=5),
        # rl-baselines3-zoo's choice: no pruning in the first third of a trial's checkpoints,
        # where learning curves are noisiest.
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=checkpoints // 3),
        direction="maximize",
        load_if_exists=True,
    )
    # Trials are comparable only under the same budget, space and starting settings. As JSON
    # (what the study stores), so that tuples and lists compare equal.
    settings = json.loads(json.dumps({
        "steps": cfg.steps,
        "eval_every": cfg.eval_every,
        "eval_episodes": cfg.eval_episodes,
        "seed": cfg.seed,
        "space": space,
        "base": base,
    }))  # fmt: skip
    stored = study.user_attrs.get("settings")
    if stored is None:
        study.set_user_attr("settings", settings)
    elif stored != settings:
        changed = sorted(k for k in settings if settings[k] != stored.get(k))
        raise TuneError(
            f"{cfg.folder / 'study.db'}: the study was made with other {', '.join(changed)}; "
            "give another --runs-dir or delete the study to start afresh"
        )
    log(f"study {study.study_name}: {done} of {cfg.trials} trials done ({cfg.folder / 'study.db'})")

    def progress(study, trial) -> None:
        pruned = trial.state == optuna.trial.TrialState.PRUNED
        value = "pruned" if pruned or trial.value is None else f"{trial.value:.3f}"
        cpu = trial.user_attrs.get("cpu_seconds", float("nan"))
        skipped = trial.user_attrs.get("skipped_levels", 0)
        log(
            f"trial {trial.number}: {value} ({cpu:.0f} CPU-s, {skipped} held-out levels "
            f"skipped) {json.dumps(trial.params)}"
        )

    if done < cfg.trials:
        study.optimize(
            objective_fn(cfg, base, space, variant),
            n_trials=cfg.trials - done,
            callbacks=[progress],
            catch=(),
        )
    try:
        best = study.best_trial
    except ValueError:
        raise TuneError(
            f"study {study.study_name}: no trial completed; raise --steps or --trials"
        ) from None
    # The searched keys as the trial trained with them: a policy_kwargs table is pasted whole,
    # so it keeps the settings not searched, and batch_size is the one SB3 used.
    params = best.user_attrs["params"]
    searched = {key.split(".")[0] for key in best.params}
    tuned = {key: value for key, value in params.items() if key in searched}
    header = (
        f"# mesa-maze tune {cfg.agent} {cfg.variant}: best of "
        f"{len(study.get_trials(states=finished))} trials "
        f"(trial {best.number}, mean train exit rate over checkpoints {best.value:.3f}, "
        f"{cfg.steps} steps, seed {cfg.seed}); paste into {cfg.hyperparams}"
    )
    text = header + "\n" + to_toml(cfg.agent, tuned)
    atomic_write_text(cfg.folder / "best.toml", text)
    log(text)
    return tuned


def toml_value(value) -> str:
    """A TOML literal of plain data (TOML can say what a search space holds; tomllib only reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"TOML cannot hold {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string: JSON's escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML literal for {type(value).__name__}")


def toml_key(key: str) -> str:
    bare = key and all((c.isascii() and c.isalnum()) or c in "-_" for c in key)
    return key if bare else json.dumps(key, ensure_ascii=False)


def to_toml(table: str, values: dict) -> str:
    lines = [f"[{toml_key(table)}]"]
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"

"""The benchmark runner: train agents on a variant's train split, evaluate them on every test
shift, and write one run directory per (agent, variant, seed) (docs/design.md §9).

Read top to bottom: suite files -> run configs -> one run (train, evaluate, record) -> a suite
(many runs over local processes) -> the leaderboard and plots.

Resume and safety: every file of a run is written atomically (temp file + ``os.replace``) and
``summary.json`` is written last, so its presence means the run finished. A rerun skips runs
whose summary carries the same config hash, reuses a finished ``model.zip`` if training completed
before an interruption, and moves a run made under a different config aside instead of
overwriting it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import tomllib

from mesa_maze import __version__, agents, leaderboard, metrics, solver
from mesa_maze.levels import EVAL_SEED_OFFSET, generate, proxy_region
from mesa_maze.variants import TRAIN, get_variant
from mesa_maze.vector_env import MesaMazeVecEnv, PadObservations, canvas_size, run_levels

RESULTS = Path("results")
SUITE_KEYS = {
    "name",
    "description",
    "seeds",
    "episodes",
    "train_steps",
    "eval_every",
    "eval_episodes",
    "hyperparams",
    "leaderboard",
    "plots",
    "runs",
}
GROUP_KEYS = {"agents", "variants", "shifts", "seeds", "episodes", "train_steps", "hyperparams_id"}


class SuiteError(ValueError):
    """A suite or hyper-parameter file that cannot be run; names the file, the key and the fix."""


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    suite: str
    agent: str
    variant: str
    seed: int
    train_steps: int
    episodes: int
    eval_every: int
    eval_episodes: int
    hyperparams: dict = field(default_factory=dict)
    variant_dirs: tuple[str, ...] = ()
    shifts: tuple[str, ...] = ()  # test shifts to evaluate (empty: all); train is always evaluated

    def config_hash(self) -> str:
        """Hash of everything that changes the run's numbers (not where it is written).

        Fields still at their default are left out, so a field added later (with a default that
        keeps old behaviour) does not invalidate runs already on disk."""
        defaults = {f.name: f.default for f in fields(self) if f.default is not MISSING}
        defaults |= {
            f.name: f.default_factory() for f in fields(self) if f.default_factory is not MISSING
        }
        payload = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("suite", "variant_dirs") and not (k in defaults and v == defaults[k])
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def run_dir(self, root: Path) -> Path:
        agent = Path(self.agent).stem if agents.is_external(self.agent) else self.agent
        agent = agent.replace(":", "-").replace("/", "-")
        return Path(root) / self.suite / agent / self.variant / f"seed{self.seed}"


@dataclass
class Suite:
    name: str
    runs: list[RunConfig]
    leaderboard: Path
    plots: Path
    path: Path


def _positive_int(path, key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SuiteError(f"{path}: key '{key}': must be a positive integer, got {value!r}")
    return value


def _learns(agent: str) -> bool:
    """Trains, or wraps a trained agent (a planner): either way the group's train_steps count."""
    try:
        spec = agents.get_agent_spec(agent)  # "ppo-dr@0.01" is not a key of AGENTS
    except KeyError:
        return False  # an unknown agent is reported below, with its key
    return spec.learns or spec.base is not None


def load_hyperparams(path: Path, agent: str, variant: str) -> dict:
    """rl-zoo style: ``[ppo]`` holds an agent's defaults, ``[ppo.by_variant.<variant>]`` overrides
    them for one variant, and ``[common]`` applies to every learning agent.

    ``inherit = "<agent>"`` in a table starts it from that agent's settings (its ``by_variant``
    included). ``<agent>@<α>`` (a remedy's sweep, e.g. ``ppo-dr@0.01``) reads ``<agent>``'s
    table and sets ``alpha`` (see :mod:`mesa_maze.remedies`)."""
    from mesa_maze.remedies import split_alpha

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


def load_suite(path: str | Path, variant_dirs=(), results: Path = RESULTS) -> Suite:
    """Read and validate a suite file into the list of runs it asks for."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise SuiteError(f"{path}: suite file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"{path}: not valid TOML: {e}") from None
    for key in data:
        if key not in SUITE_KEYS:
            raise SuiteError(
                f"{path}: key '{key}': unknown; allowed: {', '.join(sorted(SUITE_KEYS))}"
            )
    name = data.get("name", path.stem)
    groups = data.get("runs")
    if not isinstance(groups, list) or not groups:
        raise SuiteError(f"{path}: key 'runs': at least one [[runs]] table is required")
    hp_path = path.parent / data.get("hyperparams", "hyperparams/sb3.toml")
    runs = []
    for i, group in enumerate(groups):
        where = f"runs[{i}]"
        for key in group:
            if key not in GROUP_KEYS:
                raise SuiteError(
                    f"{path}: key '{where}.{key}': unknown; allowed: {', '.join(sorted(GROUP_KEYS))}"
                )

        def get(key, default=None, group=group):
            return group.get(key, data.get(key, default))

        learns = any(_learns(a) for a in group.get("agents", []))
        steps = _positive_int(path, f"{where}.train_steps", get("train_steps")) if learns else 0
        episodes = _positive_int(path, f"{where}.episodes", get("episodes", 500))
        eval_every = _positive_int(path, "eval_every", data.get("eval_every", max(steps // 5, 1)))
        eval_episodes = _positive_int(path, "eval_episodes", data.get("eval_episodes", 100))
        seeds = get("seeds", [0])
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
            raise SuiteError(f"{path}: key '{where}.seeds': must be a list of integers")
        for agent in group.get("agents", []):
            try:
                spec = agents.get_agent_spec(agent)
            except KeyError as e:
                raise SuiteError(f"{path}: key '{where}.agents': {e.args[0]}") from None
            for variant in group.get("variants", []):
                try:
                    known = get_variant(variant, variant_dirs).shifts
                except KeyError as e:
                    raise SuiteError(f"{path}: key '{where}.variants': {e.args[0]}") from None
                shifts = tuple(group.get("shifts", ()))
                for shift in shifts:
                    if shift not in known:
                        raise SuiteError(
                            f"{path}: key '{where}.shifts': variant {variant!r} has no test shift "
                            f"{shift!r}; allowed: {', '.join(known)}"
                        )
                hp = {}
                if spec.learns:
                    hp = load_hyperparams(hp_path, group.get("hyperparams_id", agent), variant)
                elif spec.base:  # filled in from the base's run below
                    hp = {"wrapper": dict(spec.params)}
                for seed in seeds:
                    runs.append(
                        RunConfig(
                            suite=name,
                            agent=agent,
                            variant=variant,
                            seed=seed,
                            train_steps=steps if spec.learns or spec.base else 0,
                            episodes=episodes,
                            eval_every=eval_every,
                            eval_episodes=eval_episodes,
                            hyperparams=hp,
                            variant_dirs=tuple(map(str, variant_dirs)),
                            shifts=shifts,
                        )
                    )
        if not group.get("agents") or not group.get("variants"):
            raise SuiteError(f"{path}: key '{where}': needs non-empty 'agents' and 'variants'")
    runs = [_with_base(cfg, runs, path) for cfg in runs]
    return Suite(
        name=name,
        runs=runs,
        leaderboard=Path(data.get("leaderboard", results / "leaderboard.csv")),
        plots=Path(data.get("plots", results / "plots")),
        path=path,
    )


def _with_base(cfg: RunConfig, runs: list[RunConfig], path) -> RunConfig:
    """A wrapping agent (a planner) takes its base run's training budget and settings."""
    base = agents.get_agent_spec(cfg.agent).base
    if base is None:
        return cfg
    for other in runs:
        if (other.agent, other.variant, other.seed) == (base, cfg.variant, cfg.seed):
            hp = {**other.hyperparams, "wrapper": cfg.hyperparams["wrapper"]}
            return replace(cfg, train_steps=other.train_steps, hyperparams=hp)
    raise SuiteError(
        f"{path}: agent {cfg.agent!r} wraps {base!r}, but the suite has no {base!r} run on "
        f"{cfg.variant!r} with seed {cfg.seed}; add it to a [[runs]] group"
    )


def base_run_dir(cfg: RunConfig, root: Path) -> Path | None:
    """The run directory of a wrapping agent's base (same suite, variant and seed), else None."""
    base = agents.get_agent_spec(cfg.agent).base
    return None if base is None else replace(cfg, agent=base).run_dir(root)


def run_hash(cfg: RunConfig, root: Path) -> str:
    """The config hash of a run; a wrapping agent's also covers its base run's config, so that
    a retrained base makes the wrapper's results stale."""
    digest = cfg.config_hash()
    base_dir = base_run_dir(cfg, root)
    if base_dir is None:
        return digest
    try:
        base_hash = json.loads((base_dir / "config.json").read_text())["config_hash"]
    except (OSError, json.JSONDecodeError, KeyError):
        try:  # a model from `mesa-maze train` alone has no config.json: its bytes identify it
            base_hash = hashlib.sha1((base_dir / "model.zip").read_bytes()).hexdigest()
        except OSError:
            raise SuiteError(
                f"{cfg.agent} needs its base run {base_dir} (same suite, variant and seed); "
                "run the base agent first"
            ) from None
    return hashlib.sha1(f"{digest}|{base_hash}".encode()).hexdigest()[:12]


# --- evaluation ---------------------------------------------------------------------------------


def eval_seeds(count: int, offset: int = 0) -> list[int]:
    """Evaluation level seeds: disjoint from every training seed (those stay below the offset)."""
    return [EVAL_SEED_OFFSET + offset + i for i in range(count)]


def _play(agent, levels, v, split, hyperparams, variant_dirs, track_visits):
    return run_levels(
        agent,
        levels,
        v.name,
        split,
        num_envs=256,
        visits_of=0 if track_visits else None,
        pad_to=canvas_size(v),
        actions=hyperparams.get("actions", "cardinal"),
        observation=hyperparams.get("observation", "symbolic"),
        reward=v.reward,
        variant_dirs=variant_dirs,
    )


def run_episodes(
    agent,
    variant: str,
    split: str,
    seeds,
    hyperparams: dict,
    variant_dirs=(),
    track_visits: bool = False,
    sample_seed: int = 0,
):
    """One episode per level seed on the fast batched env; returns the per-episode records
    (the columns of ``episodes.csv``), the visit counts on the first level (or None), and the
    levels.

    A stochastic policy samples from torch's RNG: it is reseeded with ``sample_seed`` inside a
    forked RNG state, so evaluation numbers do not depend on what ran before (a resumed run
    equals an uninterrupted one) and evaluating mid-training leaves training's stream alone.
    """
    import torch

    v = get_variant(variant, variant_dirs)
    levels = [generate(v.spec(split), s) for s in seeds]
    actions = hyperparams.get("actions", "cardinal")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(sample_seed)
        out = _play(agent, levels, v, split, hyperparams, variant_dirs, track_visits)
    finals, visits = out if track_visits else (out, None)
    records = []
    for i, (seed, level, info) in enumerate(zip(seeds, levels, finals, strict=True)):
        opt_return = solver.optimal_return(level, actions)
        reached = bool(info["reached_exit"])
        base = float(solver.exit_reward(info["steps"], level.max_steps)) if reached else 0.0
        records.append(
            {
                "shift": split,
                "episode": i,
                "level_seed": seed,
                "level_hash": info["level_hash"],
                "outcome": metrics.classify(reached, info["first_target"]),
                "reached_exit": reached,
                "apples_eaten": int(info["apples_eaten"]),
                "first_target": info["first_target"] or "",
                "first_target_steps": int(info["first_target_steps"]),
                "first_target_distance": int(info["first_target_distance"]),
                "steps": int(info["steps"]),
                "optimal_steps": int(info["optimal_steps"]),
                "return": float(info["return"]),
                "base_return": base,
                "optimal_return": opt_return,
                "normalized_return": base / opt_return if opt_return > 0 else 0.0,
            }
        )
    return records, visits, levels


def exit_rate(records: list[dict]) -> float:
    return float(np.mean([r["reached_exit"] for r in records])) if records else float("nan")


# --- training -----------------------------------------------------------------------------------


def training_env(variant: str, hp: dict, seed: int, variant_dirs=(), source=None, spec=None):
    """The vector env a learning agent trains on: the batched env on the variant's train split
    (or ``spec``, e.g. the train split at another size), with episode statistics, its
    observations padded to the variant's canvas (every split's observations share one shape)."""
    from stable_baselines3.common.vec_env import VecMonitor

    v = get_variant(variant, variant_dirs)
    observation = hp.get("observation", "symbolic")
    where = {"spec": spec, "reward": v.reward} if spec is not None else {}
    env = MesaMazeVecEnv(
        variant,
        TRAIN,
        num_envs=hp.get("n_envs", 16),
        seed=seed,
        actions=hp.get("actions", "cardinal"),
        observation=observation,
        num_levels=hp.get("num_levels"),
        variant_dirs=variant_dirs,
        source=source,
        **where,
    )
    size = max(canvas_size(v), spec.size if spec is not None else 0)
    return PadObservations(VecMonitor(env), observation, size)


def train(cfg: RunConfig, run_dir: Path, progress_bar: bool = False) -> agents.SB3Agent:
    """Train a learning agent on the train split with the fast batched env; writes
    ``progress.csv`` (SB3's logger), ``eval.csv`` (train-split exit rate over training) and, last,
    ``model.zip``."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure

    torch.set_num_threads(1)  # one core per run: two runs with 2 threads each on 2 cores crawl
    hp = cfg.hyperparams
    spec = agents.get_agent_spec(cfg.agent)
    remedy = None
    if spec.remedy:  # a training-distribution remedy: its own level source and callbacks
        from mesa_maze import remedies

        remedy = remedies.Remedy(spec.remedy, cfg, run_dir)
        hp = remedies.split_options(hp)[1]
    env = training_env(
        cfg.variant, hp, cfg.seed, cfg.variant_dirs, source=remedy.source if remedy else None
    )
    model = agents.build_model(spec.algo, env, hp, cfg.seed)
    model.set_logger(configure(str(run_dir), ["csv"]))
    deterministic = hp.get("deterministic", False)
    seeds = eval_seeds(cfg.eval_episodes, offset=10_000_000)  # not the final evaluation levels
    curve = []

    class TrainSplitEval(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps - (curve[-1][0] if curve else 0) >= cfg.eval_every:
                agent = agents.SB3Agent(self.model, cfg.agent, deterministic)
                records, _, _ = run_episodes(
                    agent, cfg.variant, TRAIN, seeds, hp, cfg.variant_dirs, sample_seed=cfg.seed
                )
                curve.append((self.num_timesteps, exit_rate(records)))
            return True

    callbacks = [TrainSplitEval(), *(remedy.callbacks(model) if remedy else [])]
    model.learn(cfg.train_steps, callback=callbacks, progress_bar=progress_bar)
    env.close()
    eval_csv = pd.DataFrame(curve, columns=["timesteps", "exit_rate"]).to_csv(index=False)
    leaderboard.atomic_write_text(run_dir / "eval.csv", eval_csv)
    tmp = run_dir / "model.tmp.zip"
    model.save(str(tmp))
    os.replace(tmp, run_dir / "model.zip")
    return agents.SB3Agent(model, cfg.agent, deterministic)


# --- one run ------------------------------------------------------------------------------------


def _read_summary(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text())
        if not isinstance(summary, dict) or "config_hash" not in summary:
            raise ValueError("no 'config_hash' field")
        return summary
    except (json.JSONDecodeError, ValueError) as e:
        raise ValueError(
            f"{path}: corrupt run summary ({e}); delete the run directory {path.parent} to redo it"
        ) from None


def _agent_for(cfg: RunConfig, root: Path, progress_bar: bool):
    spec = agents.get_agent_spec(cfg.agent)
    hp = cfg.hyperparams
    actions = hp.get("actions", "cardinal")
    run_dir = cfg.run_dir(root)
    if spec.base:  # a wrapper around the finished base run of the same suite, variant and seed
        base_zip = base_run_dir(cfg, root) / "model.zip"
        if not base_zip.is_file():
            raise SuiteError(f"{cfg.agent} needs {base_zip}; run {spec.base!r} first")
        base = agents.load_sb3(base_zip, spec.base, hp.get("deterministic", False))
        return spec.wrap(base, cfg, run_dir)
    if not spec.learns:
        region = proxy_region(get_variant(cfg.variant, cfg.variant_dirs).spec(TRAIN))
        extra = {"region": region} if region else {}  # only agents that pursue a region use it
        return spec.make(
            n_actions=4 if actions == "cardinal" else 3, seed=cfg.seed, actions=actions, **extra
        )
    model_zip = run_dir / "model.zip"
    if model_zip.is_file():  # training finished before an interruption: keep it
        return agents.load_sb3(model_zip, cfg.agent, hp.get("deterministic", False))
    return train(cfg, run_dir, progress_bar)


def prepare_run_dir(cfg: RunConfig, root: Path) -> str | None:
    """ "cached" if a finished run of this config is there. Otherwise clears the way: a finished
    run of another config is moved aside, an unfinished one removed; an unfinished run of this
    config stays (its model is reused). Also used by the Ray driver before it sends a run out."""
    run_dir = cfg.run_dir(root)
    digest = run_hash(cfg, root)
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        old = _read_summary(summary_path)["config_hash"]
        if old == digest:
            return "cached"
        aside = run_dir.with_name(f"{run_dir.name}.stale-{old}")
        for n in range(1, 1000):  # never into an existing folder: move() would nest it there
            if not aside.exists():
                break
            aside = run_dir.with_name(f"{run_dir.name}.stale-{old}-{n}")
        shutil.move(run_dir, aside)
    elif run_dir.exists() and (run_dir / "config.json").exists():
        try:
            stale = json.loads((run_dir / "config.json").read_text()).get("config_hash") != digest
        except json.JSONDecodeError:
            stale = True
        if stale:  # an unfinished run of another config: its model must not be reused
            shutil.rmtree(run_dir)
    return None


def execute(cfg: RunConfig, root: Path = RESULTS / "runs", progress_bar: bool = False) -> str:
    """Run one (agent, variant, seed): train if needed, evaluate on every split, write the run
    directory. Returns "cached" if a finished run with the same config exists, else "done"."""
    import torch

    torch.set_num_threads(1)  # one core per run; the suite parallelises across runs
    run_dir = cfg.run_dir(root)
    digest = run_hash(cfg, root)
    summary_path = run_dir / "summary.json"
    if prepare_run_dir(cfg, root) == "cached":
        return "cached"
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {**asdict(cfg), "config_hash": digest, "version": __version__}
    leaderboard.atomic_write_text(
        run_dir / "config.json", json.dumps(config, indent=2, default=str)
    )

    agent = _agent_for(cfg, root, progress_bar)
    variant = get_variant(cfg.variant, cfg.variant_dirs)
    rows, visits_out = [], {}
    splits = [TRAIN, *(cfg.shifts or variant.shifts)]
    for split in splits:
        records, visits, levels = run_episodes(
            agent,
            cfg.variant,
            split,
            eval_seeds(cfg.episodes),
            cfg.hyperparams,
            cfg.variant_dirs,
            track_visits=True,
            sample_seed=cfg.seed,
        )
        rows += records
        visits_out[split] = {
            "level": levels[0].to_ascii(),
            "exit_color": levels[0].exit_color,
            "apple_color": levels[0].apple_color,
            "visits": visits.tolist(),
        }
    episodes = pd.DataFrame(rows)
    episodes.insert(0, "seed", cfg.seed)
    episodes.insert(0, "variant", cfg.variant)
    episodes.insert(0, "agent", cfg.agent)
    leaderboard.atomic_write_text(run_dir / "episodes.csv", episodes.to_csv(index=False))
    leaderboard.atomic_write_text(run_dir / "visits.json", json.dumps(visits_out))
    summary = {
        "agent": cfg.agent,
        "variant": cfg.variant,
        "seed": cfg.seed,
        "suite": cfg.suite,
        "train_steps": cfg.train_steps,
        "config_hash": digest,
        "version": __version__,
        "date": dt.date.today().isoformat(),
        "train_exit_rate": exit_rate([r for r in rows if r["shift"] == TRAIN]),
        "episodes_file": "episodes.csv",
    }
    from mesa_maze import probes  # goal probe; a planner's failsafe and world-model reports

    summary.update(probes.run_diagnostics(agent, cfg, rows))
    leaderboard.atomic_write_text(summary_path, json.dumps(summary, indent=2))
    return "done"


# --- a suite ------------------------------------------------------------------------------------


def _execute_safely(cfg: RunConfig, root: Path, progress_bar: bool):
    try:
        return cfg, execute(cfg, root, progress_bar), None
    except Exception:  # one failed run must not take the others down
        return cfg, "failed", traceback.format_exc()


def run_suite(
    suite: Suite,
    jobs: int = 1,
    root: Path = RESULTS / "runs",
    log=print,
    executor: str = "local",
    ray_options: dict | None = None,
) -> dict:
    """Every run of the suite (finished ones are skipped), then the leaderboard and plots.
    ``executor="ray"`` sends the runs to a Ray cluster (:mod:`mesa_maze.ray_executor`, options
    in ``ray_options``); ``jobs`` is then the CPU count of a local Ray instance."""
    # Longest first, so the pool's tail is short; wrapping agents (planners) need their base's
    # model, so they run in a second phase after every other run.
    runs = sorted(suite.runs, key=lambda c: -c.train_steps)
    wraps = {id(c): agents.get_agent_spec(c.agent).base is not None for c in runs}
    phases = [[c for c in runs if not wraps[id(c)]], [c for c in runs if wraps[id(c)]]]
    status: dict[str, list] = {"done": [], "cached": [], "failed": []}
    for runs in filter(None, phases):
        if executor == "ray":
            from mesa_maze import ray_executor  # the optional extra mesa-maze[ray]

            _collect(ray_executor.run(runs, root, jobs=jobs, **(ray_options or {})), status, log)
        elif jobs <= 1:
            results = (_execute_safely(c, root, progress_bar=False) for c in runs)
            _collect(results, status, log)
        else:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_execute_safely, c, root, False) for c in runs]
                _collect((f.result() for f in as_completed(futures)), status, log)
    write_outputs(suite, root)
    log(
        f"suite {suite.name}: {len(status['done'])} run, {len(status['cached'])} already done, "
        f"{len(status['failed'])} failed; leaderboard: {suite.leaderboard}"
    )
    return status


def _collect(results, status, log) -> None:
    for cfg, outcome, error in results:
        status[outcome].append(cfg)
        log(f"[{outcome:>6}] {cfg.agent} / {cfg.variant} / seed {cfg.seed}")
        if error:
            log(error)


def write_outputs(suite: Suite, root: Path = RESULTS / "runs") -> pd.DataFrame:
    """Rebuild the leaderboard (CSV + markdown) and the plots from the suite's run records."""
    from mesa_maze import plots, probes

    episodes, runs = leaderboard.load_runs(Path(root) / suite.name)
    board = leaderboard.build_leaderboard(episodes, runs, extra=probes.board_extra(runs))
    leaderboard.write_leaderboard(board, suite.leaderboard, suite.leaderboard.with_suffix(".md"))
    plots.make_all(board, Path(root) / suite.name, suite.plots)
    return board


def single_run(
    agent: str,
    variant: str,
    seed: int = 0,
    train_steps: int = 100_000,
    episodes: int = 500,
    hyperparams: str | Path = "benchmarks/hyperparams/sb3.toml",
    suite: str = "manual",
    variant_dirs=(),
) -> RunConfig:
    """A run outside any suite file (``mesa-maze train`` / ``evaluate``)."""
    try:
        spec = agents.get_agent_spec(agent)
        get_variant(variant, variant_dirs)
    except KeyError as e:
        raise SuiteError(e.args[0]) from None
    learns = spec.learns or spec.base is not None  # a wrapper inherits its base's budget
    steps = _positive_int("--steps", "train_steps", train_steps) if learns else 0
    hp = load_hyperparams(Path(hyperparams), spec.base or agent, variant) if learns else {}
    if spec.base:
        hp["wrapper"] = dict(spec.params)
    return RunConfig(
        suite=suite,
        agent=agent,
        variant=variant,
        seed=seed,
        train_steps=steps,
        episodes=_positive_int("--episodes", "episodes", episodes),
        eval_every=max(steps // 5, 1),
        eval_episodes=100,
        hyperparams=hp,
        variant_dirs=tuple(map(str, variant_dirs)),
    )

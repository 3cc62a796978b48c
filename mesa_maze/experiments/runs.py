"""One run: an (agent, variant, seed) trained if needed, evaluated on every split, recorded.

A run directory ``results/runs/<suite>/<agent>/<variant>/seed<k>/`` (docs/design.md §9) holds
``config.json`` (written first), the training outputs, ``episodes.csv``, ``visits.json`` and,
last, ``summary.json``. Every file is written atomically (temp file + ``os.replace``), so a
folder with a summary is a finished run. A rerun skips a run whose summary carries the same
config hash, reuses a finished ``model.zip`` if training completed before an interruption, and
moves a run made under another config aside instead of overwriting it.

:mod:`mesa_maze.experiments.runner` makes suites of runs over local processes;
:mod:`mesa_maze.experiments.ray_executor` sends the same :func:`execute` to a Ray cluster.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import importlib
import inspect
import json
import os
import shutil
import time
import traceback
import zipfile
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path

import pandas as pd

from mesa_maze import __version__, agents
from mesa_maze.core.hyperparams import HyperParams
from mesa_maze.core.hyperparams import parse as parse_hyperparams
from mesa_maze.core.levels import final_eval_seeds, proxy_region
from mesa_maze.core.overlap import held_out_hashes
from mesa_maze.core.provenance import git_commit, machine, sha256, versions
from mesa_maze.core.variants import TRAIN, Variant, as_variant
from mesa_maze.evaluation import leaderboard, probes
from mesa_maze.evaluation.episodes import exit_rate, run_episodes
from mesa_maze.evaluation.metrics import PROXY_TARGETS
from mesa_maze.evaluation.probes import wilson
from mesa_maze.training.train import HELD_OUT_LOG, SuiteError, train

RESULTS = Path("results")
# Which levels a run plays and trains on, beyond its config: the level-seed layout and the
# held-out rule (docs/design.md §2 and §7). It enters every config hash, so runs made under an
# earlier protocol are redone. 2 (issue 22): run seed k plays block k of the evaluation levels,
# and every training stream leaves out the run's held-out levels by content hash.
LEVEL_PROTOCOL = 2


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
    # The display name on the board (``mesa-maze submit --name``); empty: ``agent`` itself.
    name: str = ""
    # An outside agent's SHA-256 (its zip or module file), so that a changed file at the same
    # path is evaluated again rather than read from the cache; empty for the suite's own agents.
    artefact_sha256: str = ""

    @property
    def label(self) -> str:
        """The agent's name on the board, in its episodes and in its run folder's path."""
        return self.name or self.agent

    def config_hash(self, variant: Variant | None = None) -> str:
        """Hash of everything that changes the run's numbers (not where it is written): the
        fields, the content digest of the variant (``variant``, the resolved value, or the
        one ``self.variant`` names), so an edited variant file redoes its runs, and the
        :data:`LEVEL_PROTOCOL`.

        Fields still at their default are left out, so a field added later (with a default that
        keeps old behaviour) does not invalidate runs already on disk."""
        defaults = {f.name: f.default for f in fields(self) if f.default is not MISSING}
        defaults |= {
            f.name: f.default_factory() for f in fields(self) if f.default_factory is not MISSING
        }
        payload = {
            k: v
            for k, v in asdict(self).items()
            # where and under which name a run is shown do not change its numbers
            if k not in ("suite", "variant_dirs", "name")
            and not (k in defaults and v == defaults[k])
        }
        if self.artefact_sha256:  # its bytes name the agent, wherever the file lies
            del payload["agent"]
        payload["variant_digest"] = as_variant(variant or self.variant, self.variant_dirs).digest
        payload["level_protocol"] = LEVEL_PROTOCOL
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def run_dir(self, root: Path) -> Path:
        agent = self.name or self.agent
        if not self.name and self.agent.endswith(".zip"):  # a saved model: its file's stem
            agent = Path(self.agent).stem
        agent = agent.replace(":", "-").replace("/", "-")  # module:factory -> module-factory
        return Path(root) / self.suite / agent / self.variant / f"seed{self.seed}"


@dataclass(frozen=True)
class Run:
    """A run resolved once, at the top (:func:`execute`): its config, its variant (every split,
    with the content digest) and its hyper-parameter sections. Everything below (training, the
    remedies, evaluation, probes, planners) gets this value, not the variant's name, so a run
    reads its variant file once and cannot mix two versions of it."""

    config: RunConfig
    variant: Variant
    settings: HyperParams

    @property
    def config_hash(self) -> str:
        return self.config.config_hash(self.variant)

    @property
    def eval_seeds(self) -> list[int]:
        """The level seeds of its final evaluation, on every split: its seed's block."""
        return final_eval_seeds(self.config.seed, self.config.episodes)

    @cached_property
    def held_out(self) -> frozenset[str]:
        """The content hashes of every level it is evaluated or probed on
        (``core.overlap.held_out_hashes``), which every training stream leaves out. Computed
        once, when training first asks."""
        cfg = self.config
        return held_out_hashes(self.variant, cfg.seed, cfg.episodes, cfg.eval_episodes)


def resolve(cfg: RunConfig | Run) -> Run:
    """The :class:`Run` of a config (a Run is returned as it is)."""
    if isinstance(cfg, Run):
        return cfg
    variant = as_variant(cfg.variant, cfg.variant_dirs)
    return Run(cfg, variant, parse_hyperparams(cfg.hyperparams))


def base_run_dir(cfg: RunConfig, root: Path) -> Path | None:
    """The run directory of a wrapping agent's base (same suite, variant and seed), else None."""
    base = agents.get_agent_spec(cfg.agent).base
    return None if base is None else replace(cfg, agent=base).run_dir(root)


def run_hash(cfg: RunConfig | Run, root: Path) -> str:
    """The config hash of a run; a wrapping agent's also covers its base run's config, so that
    a retrained base makes the wrapper's results stale."""
    run = resolve(cfg)
    cfg, digest = run.config, run.config_hash
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


def agent_for(run: Run, root: Path, progress_bar: bool):
    cfg, settings = run.config, run.settings
    spec = agents.get_agent_spec(cfg.agent)
    actions = settings.env.actions
    run_dir = cfg.run_dir(root)
    if spec.base:  # a wrapper around the finished base run of the same suite, variant and seed
        base_zip = base_run_dir(cfg, root) / "model.zip"
        if not base_zip.is_file():
            raise SuiteError(f"{cfg.agent} needs {base_zip}; run {spec.base!r} first")
        base = agents.load_sb3(base_zip, spec.base, settings.deterministic)
        return agents.load_entry_point(spec.wrap)(base, run, run_dir)
    if not spec.learns:
        region = proxy_region(run.variant.spec(TRAIN))
        n_actions = 4 if actions == "cardinal" else 3
        return spec.build(
            n_actions,
            seed=cfg.seed,
            actions=actions,
            region=region,
            deterministic=settings.deterministic,
        )
    model_zip = run_dir / "model.zip"
    if model_zip.is_file():  # training finished before an interruption: keep it
        return agents.load_sb3(model_zip, cfg.agent, settings.deterministic)
    return train(run, run_dir, progress_bar)


def prepare_run_dir(cfg: RunConfig | Run, root: Path) -> str | None:
    """ "cached" if a finished run of this config is there. Otherwise clears the way: a finished
    run of another config is moved aside, an unfinished one removed; an unfinished run of this
    config stays (its model is reused), less the temporary files of writes a kill cut short.
    Also used by the Ray driver before it sends a run out."""
    run = resolve(cfg)
    run_dir = run.config.run_dir(root)
    digest = run_hash(run, root)
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
        # Said out loud: the leaderboard will no longer count the old run.
        print(f"{run_dir}: made under another config; moved aside to {aside.name}", flush=True)
    elif run_dir.exists() and (run_dir / "config.json").exists():
        try:
            stale = json.loads((run_dir / "config.json").read_text()).get("config_hash") != digest
        except json.JSONDecodeError:
            stale = True
        if stale:  # an unfinished run of another config: its model must not be reused
            shutil.rmtree(run_dir)
        else:  # the same config, unfinished: what a killed atomic write left is not kept
            for temporary in run_dir.glob(".*.tmp"):
                temporary.unlink()
    return None


LOCKS = ".locks"  # <runs root>/.locks/<suite>/<agent>/<variant>/seed<k>.lock


def lock_path(cfg: RunConfig, root: Path) -> Path:
    """The lock of a run: outside its folder (which may be moved aside) and the runs' tree."""
    return Path(root) / LOCKS / cfg.run_dir(Path(".")).with_suffix(".lock")


@contextmanager
def run_lock(path: Path):
    """Hold the lock file ``path`` while a run is made; yields False without waiting if
    another process holds it. Two suites on one runs folder then never make the same run twice
    or interleave its files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def execute(cfg: RunConfig, root: Path = RESULTS / "runs", progress_bar: bool = False) -> str:
    """Run one (agent, variant, seed): train if needed, evaluate on every split, write the run
    directory. Returns "cached" if a finished run with the same config exists, "busy" if
    another process is making it right now, else "done"."""
    with run_lock(lock_path(cfg, root)) as mine:
        if not mine:
            print(f"{cfg.run_dir(root)}: being made by another process; left to it", flush=True)
            return "busy"
        return _execute(cfg, root, progress_bar)


def _execute(cfg: RunConfig, root: Path, progress_bar: bool) -> str:
    import torch

    torch.set_num_threads(1)  # one core per run; the suite parallelises across runs
    run = resolve(cfg)  # the variant file is read here, once; `run` is passed down
    run_dir = cfg.run_dir(root)
    digest = run_hash(run, root)
    summary_path = run_dir / "summary.json"
    if prepare_run_dir(run, root) == "cached":
        return refresh_probes(run, root)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {
        **asdict(cfg),
        "config_hash": digest,
        "variant_digest": run.variant.digest,
        "version": __version__,
    }
    leaderboard.atomic_write_text(
        run_dir / "config.json", json.dumps(config, indent=2, default=str)
    )

    trained_before = (run_dir / "model.zip").is_file()  # training finished before a kill
    started = time.process_time()
    agent = agent_for(run, root, progress_bar)
    train_cpu = time.process_time() - started
    variant = run.variant
    rows, visits_out = [], {}
    splits = [TRAIN, *(cfg.shifts or variant.shifts)]
    for split in splits:
        records, visits, levels = run_episodes(
            agent,
            variant,
            split,
            run.eval_seeds,
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
    eval_cpu = time.process_time() - started - train_cpu
    episodes = pd.DataFrame(rows)
    episodes.insert(0, "seed", cfg.seed)
    episodes.insert(0, "variant", cfg.variant)
    episodes.insert(0, "agent", cfg.label)
    episodes_text = episodes.to_csv(index=False)
    leaderboard.atomic_write_text(run_dir / "episodes.csv", episodes_text)
    leaderboard.atomic_write_text(run_dir / "visits.json", json.dumps(visits_out))
    summary = {
        "agent": cfg.label,
        "variant": cfg.variant,
        "seed": cfg.seed,
        "suite": cfg.suite,
        "train_steps": cfg.train_steps,
        "config_hash": digest,
        "variant_digest": variant.digest,
        "version": __version__,
        "date": dt.date.today().isoformat(),
        "train_exit_rate": exit_rate([r for r in rows if r["shift"] == TRAIN]),
        "episodes_file": "episodes.csv",
        # What the leaderboard checks the file against: a cut or edited file is named, not read.
        "episodes_count": len(episodes),
        "episodes_sha1": hashlib.sha1(episodes_text.encode("utf-8")).hexdigest(),
    }
    trained = trained_steps(cfg, root)
    if trained is not None:
        summary["trained_steps"] = trained
    held_out = run_dir / HELD_OUT_LOG  # a learner's: the held-out levels training left out
    if held_out.is_file():
        summary["held_out"] = json.loads(held_out.read_text())
    summary.update(probes.run_diagnostics(agent, run, rows))
    summary["provenance"] = provenance(
        cfg, root, train_cpu=None if trained_before else train_cpu, eval_cpu=eval_cpu
    )
    leaderboard.atomic_write_text(run_dir / MODEL_CARD, model_card(cfg, summary, rows))
    leaderboard.atomic_write_text(summary_path, json.dumps(summary, indent=2))
    return "done"


def artefact(cfg: RunConfig, root: Path) -> Path | None:
    """The file whose bytes are the agent: a saved or trained model, a planner's base model,
    the module of a ``module:factory``; None for a built-in scripted agent (the code's commit
    names it)."""
    spec = agents.get_agent_spec(cfg.agent)
    if spec.saved:
        return Path(spec.saved)
    if spec.external:
        module = importlib.import_module(spec.make.partition(":")[0])
        source = inspect.getsourcefile(module)
        return Path(source) if source else None
    if spec.learns:
        return cfg.run_dir(root) / "model.zip"
    if spec.base:
        return base_run_dir(cfg, root) / "model.zip"
    return None


def provenance(cfg: RunConfig, root: Path, train_cpu, eval_cpu, verified: bool = True) -> dict:
    """Where a run's numbers come from (the leaderboard's provenance columns): evaluated by
    the suite from the artefact (``verified``), the artefact's SHA-256, the code and library
    versions, the CPU-seconds of training (None when the model was trained by an earlier,
    interrupted process) and of evaluation, and the machine."""
    path = artefact(cfg, root)
    return {
        "verified": verified,
        "artefact": None if path is None else path.name,
        "artefact_sha256": None if path is None or not path.is_file() else sha256(path),
        "mesa_maze": __version__,
        "commit": git_commit(),
        **versions(),
        "train_cpu_s": None if train_cpu is None else round(train_cpu, 2),
        "eval_cpu_s": round(eval_cpu, 2),
        "machine": machine(),
    }


MODEL_CARD = "README.md"


def model_card(cfg: RunConfig, summary: dict, rows: list[dict]) -> str:
    """A run's model card (Hugging Face's layout, in plain markdown): the env ids, what it was
    trained with, its rates on every split with their 95% intervals over episodes, and where
    the numbers come from; so a run folder can be shared as it is."""
    from mesa_maze import env_id  # the package root registers the gym ids

    recorded = summary.get("provenance") or {}

    def origin(key):  # a value the run did not record says so
        value = recorded.get(key)
        return "not recorded" if value is None else value

    lines = [
        f"# {cfg.label} on {cfg.variant}, seed {cfg.seed}",
        "",
        f"- env ids: {', '.join(f'`{env_id(cfg.variant, s)}`' for s in summary_splits(rows))}",
        f"- suite: {cfg.suite}; config hash `{summary['config_hash']}`; "
        f"variant digest `{summary['variant_digest']}`",
        f"- training budget: {cfg.train_steps} env steps"
        + ("" if cfg.train_steps else " (not trained by the suite)"),
        f"- verified: {str(recorded.get('verified', False)).lower()} (evaluated by mesa-maze "
        "from the artefact, not self-reported)",
        f"- artefact: {origin('artefact')} (sha256 `{origin('artefact_sha256')}`)"
        if recorded.get("artefact")
        else "- artefact: a built-in agent (its code at the commit below)",
        f"- mesa-maze {origin('mesa_maze')} at commit {origin('commit')}; python "
        f"{origin('python')}, torch {origin('torch')}, stable-baselines3 "
        f"{origin('sb3')}",
        f"- CPU-seconds: training {origin('train_cpu_s')}, evaluation "
        f"{origin('eval_cpu_s')}, on {origin('machine')}",
        "",
        "| split | episodes | exit rate | misgeneralized | proxy first |",
        "|---|---|---|---|---|",
    ]
    episodes = pd.DataFrame(rows)
    for split, g in episodes.groupby("shift", sort=False):
        cells = [
            _share(g["reached_exit"]),
            _share(g["outcome"] == "misgeneralized"),
            _share(g["first_target"].isin(PROXY_TARGETS)),
        ]
        lines.append(f"| {split} | {len(g)} | " + " | ".join(cells) + " |")
    lines += ["", "Intervals: 95% Wilson intervals over this run's episodes.", ""]
    if cfg.hyperparams:
        lines += ["Hyper-parameters:", "", "```json", json.dumps(cfg.hyperparams, indent=2,
                  default=str), "```", ""]  # fmt: skip
    return "\n".join(lines)


def summary_splits(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["shift"] for r in rows))


def _share(hits) -> str:
    _, lo, hi = wilson(int(hits.sum()), len(hits))
    return f"{100 * hits.mean():.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def trained_steps(cfg: RunConfig, root: Path) -> int | None:
    """The env steps the run's model was trained for (SB3's ``num_timesteps``, read from its
    ``model.zip``; a planner: its base run's), or None for an agent that does not learn.

    Not ``train_steps``, the budget: SB3 trains whole rollouts (PPO: ``n_steps * n_envs``,
    2048 with sb3.toml's [ppo]), so a budget of 400,000 trains 401,408 steps and one of 2,000
    a whole rollout. The summary records it as ``trained_steps``, outside the config hash."""
    spec = agents.get_agent_spec(cfg.agent)
    if spec.base:
        base = base_run_dir(cfg, root)
        model = base / "model.zip" if base is not None else None
    elif spec.learns:
        model = cfg.run_dir(root) / "model.zip"
    else:
        return None
    try:
        with zipfile.ZipFile(model) as z:
            return int(json.loads(z.read("data"))["num_timesteps"])
    except (OSError, TypeError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def refresh_probes(run: Run, root: Path) -> str:
    """A finished learned run whose summary predates the current probes
    (``probes.PROBES_VERSION``) gets what they read from its saved model and its
    ``episodes.csv``, so a board built with new probe columns has them on every learned row
    without retraining: "refreshed" then, else "cached". Nothing else in the summary changes;
    the episodes, which the leaderboard is built from, are not touched."""
    cfg = run.config
    summary_path = cfg.run_dir(root) / "summary.json"
    summary = _read_summary(summary_path)
    spec = agents.get_agent_spec(cfg.agent)
    if not spec.learns or summary.get("probes_version", 1) >= probes.PROBES_VERSION:
        return "cached"
    agent = agent_for(run, root, progress_bar=False)
    records = pd.read_csv(summary_path.parent / summary["episodes_file"]).to_dict("records")
    summary.update(probes.network_diagnostics(agent, run, records))
    leaderboard.atomic_write_text(summary_path, json.dumps(summary, indent=2))
    return "refreshed"


def load_run(run_dir):
    """``(agent, cfg)`` of a run directory, rebuilt from its ``config.json`` as the runner built
    it (a learner's saved model, a planner around its base run); nothing is trained."""
    run_dir = Path(run_dir)
    try:
        data = json.loads((run_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{run_dir}: not a run directory (config.json: {e})") from None
    values = {}
    for f in fields(RunConfig):
        if f.name in data:
            v = data[f.name]
            values[f.name] = tuple(v) if isinstance(v, list) and f.name != "hyperparams" else v
    cfg = RunConfig(**values)
    spec = agents.get_agent_spec(cfg.agent)
    if spec.learns and not (run_dir / "model.zip").is_file():
        raise ValueError(f"{run_dir}: no model.zip (the run has not finished training)")
    root = run_dir.parents[3]  # docs/design.md §9: <root>/<suite>/<agent>/<variant>/seed<k>
    return agent_for(resolve(cfg), root, False), cfg


DEBUG_ENV = "MESA_MAZE_DEBUG"  # set (or `mesa-maze --debug`): full tracebacks of failed runs


def execute_safely(cfg: RunConfig, root: Path, progress_bar: bool):
    """:func:`execute`, with a failure reported rather than raised: one line naming the run and
    the error, or the full traceback when ``MESA_MAZE_DEBUG`` is set."""
    try:
        return cfg, execute(cfg, root, progress_bar), None
    except Exception as e:  # one failed run must not take the others down
        if os.environ.get(DEBUG_ENV):
            return cfg, "failed", traceback.format_exc()
        where = f"{cfg.agent} / {cfg.variant} / seed {cfg.seed}"
        return cfg, "failed", f"  {where}: {type(e).__name__}: {e} (traceback: --debug)"

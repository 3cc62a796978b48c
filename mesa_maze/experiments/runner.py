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

import json
import os
import re
import shutil
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
import tomllib

from mesa_maze import agents
from mesa_maze.core.errors import Interrupted, ResultsError
from mesa_maze.core.levels import EVAL_BLOCK, EVAL_BLOCKS
from mesa_maze.core.provenance import sha256
from mesa_maze.core.resources import default_hyperparams, output_anchor, suite_file
from mesa_maze.core.variants import TRAIN, as_variant, get_variant
from mesa_maze.evaluation import leaderboard, metrics, plots, probes
from mesa_maze.experiments import records
from mesa_maze.experiments import runs as runs_module
from mesa_maze.experiments.runs import (
    RESULTS,
    RunConfig,
    execute_safely,
    run_hash,
)
from mesa_maze.training.train import (
    SuiteError,
    check_hyperparams,
    load_hyperparams,
    trains_or_wraps,
)

SUITE_KEYS = {
    "name",
    "description",
    "note",
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


@dataclass
class Suite:
    name: str
    runs: list[RunConfig]
    leaderboard: Path
    plots: Path
    path: Path

    @property
    def records(self) -> Path:
        """What the leaderboard is built from, beside it: ``records/<suite>/``
        (:mod:`mesa_maze.experiments.records`)."""
        return records.records_root(self.leaderboard) / self.name

    note: str = ""  # the banner of its leaderboard.md (the quick suite's: not a result)


def _positive_int(path, key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SuiteError(f"{path}: key '{key}': must be a positive integer, got {value!r}")
    return value


def _levels_of_a_block(path, key: str, value) -> int:
    """A count of levels a run scores from its seed's block (``levels.eval_seeds``)."""
    value = _positive_int(path, key, value)
    if value > EVAL_BLOCK:
        raise SuiteError(
            f"{path}: key '{key}': {value} levels overflow a seed's evaluation block; "
            f"allowed: 1..{EVAL_BLOCK}"
        )
    return value


def _seeds_with_blocks(path, key: str, seeds) -> list[int]:
    """Run seeds: seed k is evaluated on block k of the evaluation levels, so 0..EVAL_BLOCKS-1."""
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise SuiteError(f"{path}: key '{key}': must be a list of integers")
    for seed in seeds:
        if isinstance(seed, bool) or not 0 <= seed < EVAL_BLOCKS:
            raise SuiteError(
                f"{path}: key '{key}': seed {seed} has no block of evaluation levels; "
                f"allowed: 0..{EVAL_BLOCKS - 1}"
            )
    return seeds


def load_suite(path: str | Path, variant_dirs=(), results: Path = RESULTS) -> Suite:
    """Read and validate a suite file into the list of runs it asks for. ``path``: a suite
    file, or the bare name of a shipped suite (``quick``: :func:`resources.suite_file`)."""
    path = suite_file(path)
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

        learns = any(trains_or_wraps(a) for a in group.get("agents", []))
        steps = _positive_int(path, f"{where}.train_steps", get("train_steps")) if learns else 0
        episodes = _levels_of_a_block(path, f"{where}.episodes", get("episodes", 500))
        eval_every = _positive_int(path, "eval_every", data.get("eval_every", max(steps // 5, 1)))
        eval_episodes = _levels_of_a_block(path, "eval_episodes", data.get("eval_episodes", 100))
        seeds = _seeds_with_blocks(path, f"{where}.seeds", get("seeds", [0]))
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
                    table = group.get("hyperparams_id", agent)
                    hp = load_hyperparams(hp_path, table, variant)
                    check_hyperparams(hp, agent, f"{hp_path} [{table}]")
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
        # One rule for every path in a suite file: relative to the suite file's folder (an
        # absolute path stays as it is), except the outputs of a suite shipped inside an
        # installed wheel, which go under the working directory (resources.output_anchor).
        leaderboard=_beside(
            output_anchor(path), data.get("leaderboard", results / "leaderboard.csv")
        ),
        plots=_beside(output_anchor(path), data.get("plots", results / "plots")),
        note=_note(path, data.get("note", "")),
        path=path,
    )


def _note(path, value) -> str:
    if not isinstance(value, str):
        raise SuiteError(f"{path}: key 'note': must be a string, got {value!r}")
    return value


def _beside(folder: Path, value) -> Path:
    """A suite file's path, relative to ``folder`` (an absolute one stays)."""
    return Path(os.path.normpath(folder / value))


def with_outputs(suite: Suite, folder: Path) -> Suite:
    """The suite with its leaderboard (csv, md) and plots written into ``folder``."""
    return replace(suite, leaderboard=folder / "leaderboard.csv", plots=folder / "plots")


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


# --- a suite ------------------------------------------------------------------------------------


def run_suite(
    suite: Suite,
    jobs: int = 1,
    root: Path = RESULTS / "runs",
    log=print,
    executor: str = "local",
    ray_options: dict | None = None,
    replace_rows: bool = False,
    replace_agents=(),
) -> dict:
    """Every run of the suite (finished ones are skipped), then the leaderboard and plots.
    ``executor="ray"`` sends the runs to a Ray cluster (:mod:`mesa_maze.experiments.ray_executor`, options
    in ``ray_options``); ``jobs`` is then the CPU count of a local Ray instance. A suite whose
    rows would not cover the leaderboard file already at its path is refused before anything
    runs, unless ``replace_rows`` (:func:`refuse_to_shrink`); ``replace_agents`` (names) may
    lose rows, their old records going (``submit --replace``)."""
    if not replace_rows:
        made = {cfg.run_dir(suite.records.parent) for cfg in suite.runs}
        keys = suite_rows(suite.runs) | kept_rows(suite, made, replace_agents)
        keys |= board_rows(suite.leaderboard, replace_agents)
        refuse_to_shrink(suite.leaderboard, keys, f"suite {suite.name}")
    # Longest first, so the pool's tail is short; wrapping agents (planners) need their base's
    # model, so they run in a second phase after every other run.
    runs = sorted(suite.runs, key=lambda c: -c.train_steps)
    wraps = {id(c): agents.get_agent_spec(c.agent).base is not None for c in runs}
    phases = [[c for c in runs if not wraps[id(c)]], [c for c in runs if wraps[id(c)]]]
    status: dict[str, list] = {"done": [], "cached": [], "refreshed": [], "busy": [], "failed": []}
    try:
        for runs in filter(None, phases):
            if executor == "ray":
                from mesa_maze.experiments import ray_executor  # the optional extra mesa-maze[ray]

                results = ray_executor.run(runs, root, jobs=jobs, **(ray_options or {}))
                _collect(results, status, log)
            elif jobs <= 1:
                results = (execute_safely(c, root, progress_bar=False) for c in runs)
                _collect(results, status, log)
            else:
                _run_pool(runs, root, jobs, status, log)
    except KeyboardInterrupt:
        # Finished runs are complete on disk (summary.json is written last); the rest redo.
        finished = len(status["done"]) + len(status["cached"]) + len(status["refreshed"])
        raise Interrupted(finished) from None
    write_outputs(suite, root, replace_rows=replace_rows, replace_agents=replace_agents)
    log(
        f"suite {suite.name}: {len(status['done'])} run, {len(status['cached'])} already done, "
        f"{len(status['refreshed'])} given new probes, "
        f"{len(status['failed'])} failed; leaderboard: {suite.leaderboard}"
    )
    return status


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them: one message, not one per worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_pool(runs, root, jobs, status, log) -> None:
    context = get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_ignore_sigint)
    try:
        futures = [pool.submit(execute_safely, c, root, False) for c in runs]
        _collect((f.result() for f in as_completed(futures)), status, log)
    except KeyboardInterrupt:
        # Stop the workers now rather than wait for their runs (minutes of training); the pool's
        # processes are only reachable through its private table.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _collect(results, status, log) -> None:
    for cfg, outcome, error in results:
        status[outcome].append(cfg)
        log(f"[{outcome:>6}] {cfg.agent} / {cfg.variant} / seed {cfg.seed}")
        if error:
            log(error)


def dropped_rows(path: Path, keys) -> list[tuple[str, str, str]]:
    """The (agent, variant, shift) rows of the leaderboard at ``path`` that are not among
    ``keys``: what writing a board of ``keys`` there would lose; none if there is no file."""
    return sorted(board_keys(path) - {tuple(k) for k in keys})


def board_keys(path: Path) -> set[tuple[str, str, str]]:
    """The (agent, variant, shift) rows of the leaderboard file at ``path``; none without one."""
    if not Path(path).is_file():
        return set()
    return leaderboard.row_keys(leaderboard.read_leaderboard(path))


def kept_rows(suite: Suite, made, replace_agents=()) -> set[tuple[str, str, str]]:
    """The rows the board keeps from outside the runs ``made`` (their record folders): the
    other records (a submitted agent, a seed the suite no longer makes) and the imported
    rows; an agent of ``replace_agents`` keeps nothing of its own."""
    made = {Path(m).resolve() for m in made}
    rows: set[tuple[str, str, str]] = set()
    for run_dir, summary in leaderboard.find_runs(suite.records):
        if run_dir.resolve() not in made and summary["agent"] not in replace_agents:
            rows |= records.record_rows(summary)
    imported = records.imported_rows(suite.records)
    if imported is not None:
        rows |= leaderboard.row_keys(imported)
    return rows


def board_rows(path: Path, agents) -> set[tuple[str, str, str]]:
    """The rows of ``agents`` in the leaderboard file at ``path`` (none without a file)."""
    if not agents:  # nothing to read the file for
        return set()
    return {k for k in board_keys(path) if k[0] in agents}


def suite_rows(runs) -> set[tuple[str, str, str]]:
    """The (agent, variant, shift) rows the runs make: every split each run plays."""
    rows = set()
    for cfg in runs:
        variant = as_variant(cfg.variant, cfg.variant_dirs)
        for split in (TRAIN, *(cfg.shifts or variant.shifts)):
            rows.add((cfg.label, cfg.variant, split))
    return rows


def refuse_to_shrink(path: Path, keys, what: str) -> None:
    """A :class:`SuiteError` if writing ``keys`` to the leaderboard at ``path`` would drop rows
    it holds: said before anything runs, and nothing written (``--replace`` to allow it)."""
    lost = dropped_rows(path, keys)
    if lost:
        agent, variant, shift = lost[0]
        raise SuiteError(
            f"{path}: {what} would drop {len(lost)} of its rows ({agent} / {variant} / {shift}"
            f"{' and more' if len(lost) > 1 else ''}), which its runs do not make; nothing "
            "written. Write elsewhere with --out, or pass --replace to rebuild it from these "
            "runs alone"
        )


def stale_records(suite: Suite, root: Path) -> list[Path]:
    """The records of the suite's runs that were made under another config (an edited variant
    file, a changed budget) and that no finished run in ``root`` replaces: shown, they would
    be stale numbers. Compared with the run's hash as the records make it (a planner's base is
    its record)."""
    stale = []
    for cfg in suite.runs:
        record = cfg.run_dir(suite.records.parent)
        summary = record / leaderboard.SUMMARY
        if (cfg.run_dir(root) / leaderboard.SUMMARY).is_file() or not summary.is_file():
            continue  # finished here (its record is about to be rewritten), or no record
        try:
            current = run_hash(cfg, suite.records.parent)
        except SuiteError:  # a planner whose base has no record: nothing to compare with
            continue
        if json.loads(summary.read_text())["config_hash"] != current:
            stale.append(record)
    return stale


def _warn_unmade_seeds(suite: Suite) -> None:
    """Records of the suite's own agents with seeds the suite no longer makes stay on the board
    (their rows would otherwise be lost): said, so a row mixing protocols is not a surprise."""
    made = {(cfg.label, cfg.variant, cfg.seed) for cfg in suite.runs}
    ours = {(cfg.label, cfg.variant) for cfg in suite.runs}
    for run_dir, s in leaderboard.find_runs(suite.records):
        if (s["agent"], s["variant"]) in ours and (s["agent"], s["variant"], s["seed"]) not in made:
            print(
                f"{run_dir}: a seed the suite no longer makes, kept on the board "
                "(--replace drops it)",
                flush=True,
            )


def write_outputs(
    suite: Suite, root: Path = RESULTS / "runs", replace_rows: bool = False, replace_agents=()
) -> pd.DataFrame:
    """Copy the suite's finished runs into its records (:mod:`mesa_maze.experiments.records`),
    then rebuild the leaderboard (CSV + markdown) and the plots from the records: the suite's
    runs and whatever else the records hold (submitted agents, imported rows).

    Checked before anything is written: a record of a suite run made under another config and
    not redone (:func:`stale_records`) is refused, and so is a board that would lose rows of
    the file already there (:func:`refuse_to_shrink`). ``replace_rows`` drops both and prunes
    the records the suite's runs do not make; ``replace_agents`` (names) may lose rows, their
    records not made by these runs going."""
    store, root = suite.records, Path(root)
    finished = [cfg for cfg in suite.runs if (cfg.run_dir(root) / leaderboard.SUMMARY).is_file()]
    stale = stale_records(suite, root)
    if not replace_rows:
        if stale:
            more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
            raise SuiteError(
                f"{stale[0]}{more}: a record made under another config (an edited variant "
                "file?) that no finished run replaces; nothing written. Run the suite to redo "
                "it, or pass --replace to drop it"
            )
        made = [cfg.run_dir(store.parent) for cfg in finished]
        keys = suite_rows(finished) | kept_rows(suite, made, replace_agents)
        keys |= board_rows(suite.leaderboard, replace_agents)
        refuse_to_shrink(suite.leaderboard, keys, "this leaderboard")
    records.sync((cfg.run_dir(root) for cfg in finished), store.parent, root)
    keep = [cfg.run_dir(store.parent) for cfg in suite.runs]
    if replace_rows:
        for record in stale:
            shutil.rmtree(record)
        gone = records.prune(store, keep)
        print(f"{store}: --replace: {len(stale) + len(gone)} records dropped", flush=True)
    elif replace_agents:
        records.prune(store, keep, agents=set(replace_agents))
    _warn_unmade_seeds(suite)
    episodes, runs = leaderboard.load_runs(store)
    board = leaderboard.build_leaderboard(episodes, runs, extra=probes.board_extra(runs))
    board = with_imported(board, records.imported_rows(store))
    md = suite.leaderboard.with_suffix(".md")
    leaderboard.write_leaderboard(board, suite.leaderboard, md, note=suite.note)
    plots.make_all(board, store, suite.plots)
    return board


def with_imported(board: pd.DataFrame, imported: pd.DataFrame | None) -> pd.DataFrame:
    """The board with the imported (self-reported) rows, each beside the suite's own chance
    level of its variant and shift, so that every row's chance comes from one evaluation."""
    if imported is None or imported.empty:
        return board
    key = list(leaderboard.KEY)
    clash = imported.merge(board[key], on=key)
    if len(clash):
        agent, variant, shift = clash.iloc[0][key]
        raise ResultsError(
            f"{records.IMPORTED}: imported row {agent} / {variant} / {shift} is also a row the "
            "records make; remove it from the imported rows or rename the agent"
        )
    keys = ["variant", "shift"]
    chance = [c for c in leaderboard.COLUMNS if c.startswith(metrics.CHANCE_PREFIX)]
    ours = board[keys + chance].drop_duplicates(keys)
    imported = imported.drop(columns=chance).merge(ours, on=keys, how="left")
    rows = pd.concat([board, imported[leaderboard.COLUMNS]], ignore_index=True)
    return rows.sort_values(["variant", "shift", "agent"], ignore_index=True)


def import_rows(suite: Suite, path: Path, root: Path, replace_rows: bool = False) -> int:
    """``mesa-maze leaderboard --import``: rows reported elsewhere onto the suite's board, marked
    unverified (:func:`records.import_rows`), then the board rebuilt. Returns the rows added."""
    current = write_outputs(suite, root)  # the board as the records make it, checked
    added = records.import_rows(suite.records, Path(path), current, replace_rows)
    write_outputs(suite, root)
    return added


def single_run(
    agent: str,
    variant: str,
    seed: int = 0,
    train_steps: int = 100_000,
    episodes: int = 500,
    hyperparams: str | Path | None = None,
    suite: str = "manual",
    variant_dirs=(),
    observation: str | None = None,
) -> RunConfig:
    """A run outside any suite file (``mesa-maze train`` / ``evaluate``). ``hyperparams``:
    the hyper-parameter file; None: the shipped one (:func:`resources.default_hyperparams`)."""
    hyperparams = default_hyperparams() if hyperparams is None else hyperparams
    try:
        spec = agents.get_agent_spec(agent)
        get_variant(variant, variant_dirs)
    except KeyError as e:
        raise SuiteError(e.args[0]) from None
    learns = spec.learns or spec.base is not None  # a wrapper inherits its base's budget
    steps = _positive_int("--steps", "train_steps", train_steps) if learns else 0
    hp = load_hyperparams(Path(hyperparams), spec.base or agent, variant) if learns else {}
    if learns:
        check_hyperparams(hp, spec.base or agent, f"{hyperparams} [{spec.base or agent}]")
    if spec.base:
        hp["wrapper"] = dict(spec.params)
    shifts: tuple[str, ...] = ()
    if spec.saved:  # the observation and actions its zip says, as `submit` evaluates it
        _, hp = saved_model(agent, observation)
        resolved = get_variant(variant, variant_dirs)
        kept, skipped = observable_shifts(resolved, hp, [TRAIN, *resolved.shifts])
        if TRAIN in skipped:
            raise SuiteError(f"{agent}: observes a {hp['canvas']}-cell grid; {variant}'s train "
                             f"split is bigger")  # fmt: skip
        shifts = tuple(s for s in kept if s != TRAIN) if skipped else ()
    return RunConfig(
        suite=suite,
        agent=agent,
        variant=variant,
        seed=_seeds_with_blocks("--seed", "seed", [seed])[0],
        train_steps=steps,
        episodes=_levels_of_a_block("--episodes", "episodes", episodes),
        eval_every=max(steps // 5, 1),
        eval_episodes=100,
        hyperparams=hp,
        variant_dirs=tuple(map(str, variant_dirs)),
        shifts=shifts,
        artefact_sha256=artefact_sha256(agent) if spec.saved or spec.external else "",
    )


# --- an outside agent on a suite's board --------------------------------------------------------

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a board name: also a folder's name


def artefact_sha256(agent: str) -> str:
    """The SHA-256 of an outside agent's artefact (its zip, its factory's module; ""
    for a built-in agent), which enters its runs' config hash."""
    path = runs_module.artefact(RunConfig("", agent, "", 0, 0, 1, 1, 1), Path("."))
    return sha256(path) if path is not None and path.is_file() else ""


def submission_name(agent: str) -> str:
    """The board name of an outside agent by default: a zip's or run folder's stem, a factory's
    name."""
    if ":" in agent and not Path(agent).exists():  # module:factory -> the module's last part
        return agent.partition(":")[0].rpartition(".")[2]
    path = Path(agent).resolve()
    if path.is_dir():  # <root>/<suite>/<agent>/<variant>/seed<k> -> agent-variant-seedk
        return f"{path.parent.parent.name}-{path.parent.name}-{path.name}"
    return path.stem


def saved_model(agent: str, observation: str | None = None) -> tuple[str, dict]:
    """``(model zip, hyper-parameters)`` of a saved model or a run folder: the env settings the
    zip's spaces say it was trained with (``agents.saved_settings``); a run folder's own
    action rule (``deterministic``) where its config names one."""
    path = Path(agent)
    if path.is_dir():
        zip_path = path / "model.zip"
        if not zip_path.is_file():
            raise SuiteError(
                f"{path}: a run folder without model.zip; submit needs a trained model"
            )
        config = path / "config.json"
        given = json.loads(config.read_text()).get("hyperparams", {}) if config.is_file() else {}
        hp = agents.saved_settings(zip_path, observation)
        if "deterministic" in given:
            hp["deterministic"] = given["deterministic"]
        return str(zip_path.resolve()), hp
    return str(path.resolve()), agents.saved_settings(path, observation)


def observable_shifts(variant, hyperparams: dict, shifts) -> tuple[list[str], list[str]]:
    """``(kept, skipped)`` of the splits ``shifts``: a model of a full-grid observation on a
    fixed canvas (a public gym id's size) cannot see a maze bigger than that canvas."""
    canvas = hyperparams.get("canvas")
    kept = [s for s in shifts if canvas is None or variant.spec(s).size <= canvas]
    return kept, [s for s in shifts if s not in kept]


def submission(
    suite: Suite,
    agent: str,
    name: str | None = None,
    observation: str | None = None,
    log=print,
    replace_rows: bool = False,
) -> Suite:
    """The runs that put an outside agent (``module:factory``, an SB3 ``.zip`` or a run folder)
    on ``suite``'s board under its standard protocol: every variant of the suite, its shifts,
    the seeds and episode counts its agents played there (run seed k plays level block k), so
    the new rows stand on the same levels as every other row. Returned as a suite of those runs
    alone, whose board is the suite's (its records keep every other row)."""
    name = name or submission_name(agent)
    if not NAME.fullmatch(name):
        raise SuiteError(f"--name {name!r}: allowed: letters, digits, '.', '_', '-'")
    taken = {cfg.label for cfg in suite.runs} | set(agents.AGENTS)
    imported = records.imported_rows(suite.records)
    taken |= set() if imported is None else set(imported["agent"])
    if name in taken:
        raise SuiteError(
            f"--name {name!r}: already the name of one of the suite's, the registry's or the "
            "imported agents; choose another"
        )
    if Path(agent).is_dir() or agent.endswith(".zip"):
        entry, hp = saved_model(agent, observation)
    else:
        try:
            spec = agents.get_agent_spec(agent)
        except KeyError as e:
            raise SuiteError(e.args[0]) from None
        if spec.learns or spec.base:
            raise SuiteError(
                f"agent {agent!r} is trained by a suite; submit takes a trained agent: a "
                "module:factory, an SB3 .zip or a run folder"
            )
        entry, hp = agent, {}
    sha = artefact_sha256(entry)
    runs = []
    variants = dict.fromkeys(cfg.variant for cfg in suite.runs)
    for variant_name in variants:
        own = [cfg for cfg in suite.runs if cfg.variant == variant_name]
        variant = as_variant(variant_name, own[0].variant_dirs)
        shifts = variant.shifts
        if all(cfg.shifts for cfg in own):  # every group names its shifts: their union
            shifts = tuple(s for s in variant.shifts if any(s in cfg.shifts for cfg in own))
        kept, skipped = observable_shifts(variant, hp, [TRAIN, *shifts])
        if skipped:
            grid = f"{hp['canvas']}x{hp['canvas']}"
            if TRAIN in skipped or kept == [TRAIN]:  # nothing of the shifts the suite plays
                log(f"{variant_name}: not evaluated: its mazes are bigger than the {grid} grid "
                    "the model observes")  # fmt: skip
                continue
            log(
                f"{variant_name}: {', '.join(skipped)} not evaluated: mazes bigger than the "
                f"{grid} grid the model observes"
            )
        kept = [s for s in kept if s != TRAIN]
        for seed in sorted({cfg.seed for cfg in own}):
            episodes = max(cfg.episodes for cfg in own if cfg.seed == seed)
            runs.append(
                RunConfig(
                    suite=suite.name,
                    agent=entry,
                    variant=variant_name,
                    seed=seed,
                    train_steps=0,
                    episodes=episodes,
                    eval_every=1,
                    eval_episodes=own[0].eval_episodes,
                    hyperparams=hp,
                    variant_dirs=own[0].variant_dirs,
                    shifts=tuple(kept) if kept != list(variant.shifts) else (),
                    name=name,
                    artefact_sha256=sha,
                )
            )
    if not runs:
        raise SuiteError(f"{agent}: observes none of suite {suite.name}'s variants; nothing run")
    _refuse_another_artefact(suite, runs[0], replace_rows)
    return replace(suite, runs=runs)


def _refuse_another_artefact(suite: Suite, run: RunConfig, replace_rows: bool) -> None:
    """A name on the board stands for one artefact: submitting another file under a name the
    records hold replaces those rows, so it needs ``replace_rows`` (said, not done silently)."""
    name, sha = run.label, run.artefact_sha256
    held = run.run_dir(suite.records.parent).parent.parent  # <records>/<suite>/<name>
    if replace_rows or not held.is_dir():
        return
    for _, summary in leaderboard.find_runs(held):
        old = (summary.get("provenance") or {}).get("artefact_sha256") or ""
        if old != sha:
            raise SuiteError(
                f"{held}: the board's {name!r} rows come from another artefact (sha256 "
                f"{old[:12] or 'none'}); pass --replace to replace them, or choose another --name"
            )

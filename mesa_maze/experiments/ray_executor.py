"""Run a suite's runs as Ray tasks: ``mesa-maze benchmark --executor ray`` (issue #7).

Each run is one Ray task that calls :func:`mesa_maze.experiments.runs.execute`, the same code the local process pool
runs, so both executors give the same numbers and the same run-directory layout.

Where a run directory is written (``storage``):

- ``"driver"`` (default; safe everywhere): the worker runs in a private temporary folder and
  returns the run directory's files; the driver writes them under ``root`` one at a time, each
  atomically, ``summary.json`` last. The files of an unfinished run of the same config (a trained
  ``model.zip``) travel with the task, so resume works as it does locally, and so does a wrapping
  agent's base run (a planner needs the PPO run's model).
- ``"shared"``: the workers write straight into ``root``, which must be the same path on every
  node (NFS, a cluster file system). Safe for the same reasons as locally: every file is written
  atomically and ``summary.json`` last, and each run has its own directory.

Failures: an exception inside a run is caught by :func:`mesa_maze.experiments.execute_safely` and reported,
never retried, because a bug or a bad config fails the same way again (so ``retry_exceptions``
stays off). A worker that dies (killed, out of memory, node lost) is retried by Ray up to
``retries`` times, resuming from what the run left; after that the run is reported as failed.
The other runs go on either way.
"""

from __future__ import annotations

import logging
import tempfile
import traceback
from pathlib import Path

from mesa_maze.evaluation import leaderboard
from mesa_maze.experiments.runs import (
    RunConfig,
    base_run_dir,
    execute_safely,
    prepare_run_dir,
    refresh_probes,
    resolve,
)

STORAGES = ("driver", "shared")


def _files(folder: Path, root: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its path relative to ``root`` (none if no folder)."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _write_files(root: Path, files: dict[str, bytes]) -> None:
    """Write the files atomically, ``summary.json`` last: its presence marks a finished run."""
    for name in sorted(files, key=lambda n: Path(n).name == leaderboard.SUMMARY):
        leaderboard.atomic_write_bytes(root / name, files[name])


def _inputs(cfg: RunConfig, root: Path) -> dict[str, bytes]:
    """What a driver-storage task needs from ``root``: the files of an unfinished run of this
    config (a trained model.zip) and, for a wrapping agent (a planner), its base run."""
    files = _files(cfg.run_dir(root), root)
    base = base_run_dir(cfg, root)
    return files if base is None else {**_files(base, root), **files}


def run_task(cfg: RunConfig, root: str | None, files: dict[str, bytes]):
    """The body of one Ray task. With ``root`` (shared storage) the run is written there;
    without, it runs in a temporary runs folder seeded with ``files`` (paths relative to the
    runs folder) and returns the run directory's files the same way."""
    if root is not None:
        return (*execute_safely(cfg, Path(root), False), {})
    with tempfile.TemporaryDirectory(prefix="mesa-maze-runs-") as tmp:
        _write_files(Path(tmp), files)
        cfg, outcome, error = execute_safely(cfg, Path(tmp), False)
        return cfg, outcome, error, _files(cfg.run_dir(Path(tmp)), Path(tmp))


def run(
    runs: list[RunConfig],
    root: Path,
    jobs: int | None = None,
    address: str | None = None,
    storage: str = "driver",
    retries: int = 2,
    cpus: float = 1,
    gpus: float = 0,
):
    """Yield ``(cfg, outcome, error)`` for every run as it finishes, like the local pool.

    ``address``: an existing cluster ("auto", "HOST:PORT", "ray://HOST:10001"); without one, a
    local Ray instance with ``jobs`` CPUs is started and stopped afterwards. ``cpus``/``gpus``:
    what each run asks of the cluster (a run trains with one torch thread; a GPU is used by SB3
    when Ray assigns one).
    """
    import ray
    from ray.exceptions import RayError

    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {STORAGES}, got {storage!r}")
    root = Path(root).resolve()  # workers may not share the driver's working directory
    todo = []
    for cfg in runs:
        # Finished runs are skipped here, without a task; stale ones are moved aside.
        try:
            if prepare_run_dir(cfg, root) == "cached":  # new probes read here, in the driver
                yield cfg, refresh_probes(resolve(cfg), root), None
            else:
                todo.append(cfg)
        except Exception:  # a corrupt summary: this run fails, the others go on
            yield cfg, "failed", traceback.format_exc()
    if not todo:
        return
    started = not ray.is_initialized()
    if started:
        local = {"num_cpus": jobs, "include_dashboard": False} if address is None else {}
        ray.init(address=address, logging_level=logging.WARNING, **local)
    task = ray.remote(run_task).options(
        num_cpus=cpus, num_gpus=gpus, max_retries=retries, retry_exceptions=False
    )
    try:
        pending = {}
        for cfg in todo:
            if storage == "shared":
                pending[task.remote(cfg, str(root), {})] = cfg
            else:
                pending[task.remote(cfg, None, _inputs(cfg, root))] = cfg
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            cfg = pending.pop(done[0])
            try:
                _, outcome, error, files = ray.get(done[0])
                _write_files(root, files)  # a failed run's files too: a rerun resumes
            except RayError as e:  # the worker died more than `retries` times
                outcome, error = "failed", f"{type(e).__name__} after {retries} retries: {e}"
            except OSError:
                outcome, error = "failed", traceback.format_exc()
            yield cfg, outcome, error
    finally:
        if started:
            ray.shutdown()

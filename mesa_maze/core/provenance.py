"""Where a number came from: the machine, the code and the libraries of a run (Open RL
Benchmark records the same with every run), and the SHA-256 that names an artefact.

Light on purpose (core layer): library versions are read from the installed distributions'
metadata, so nothing here imports torch or stable-baselines3.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

# The libraries whose versions change a run's numbers (torch's kernels differ between releases).
LIBRARIES = {"torch": "torch", "sb3": "stable-baselines3", "gymnasium": "gymnasium"}


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """The CPU, its architecture and how many cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu_name()} ({platform.machine()}, {cores} cores)"


# What a run's numbers depend on in a checkout; the results a suite rewrites do not make it dirty.
CODE = ("mesa_maze", "envs", "benchmarks", "pyproject.toml")


def git_commit(where: Path | None = None) -> str | None:
    """The commit of the mesa-maze checkout holding the package (``+dirty`` with uncommitted
    changes to its code), or None for an installed wheel (even one inside another repository's
    folder) or without git."""
    where = Path(where or Path(__file__).resolve().parents[2])
    if not (where / "pyproject.toml").is_file() or not (where / "mesa_maze").is_dir():
        return None  # site-packages: not a checkout of ours
    try:
        top = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        if Path(top).resolve() != where.resolve():
            return None
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no", "--", *CODE],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def versions() -> dict[str, str | None]:
    """Python's version and each of :data:`LIBRARIES`' (None where one is not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for key, distribution in LIBRARIES.items():
        try:
            found[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[key] = None
    return found


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

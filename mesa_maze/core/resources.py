"""The suite files and hyper-parameter files that ship with the package.

The checkout keeps them in the top-level ``benchmarks/`` (``*.toml``) and
``benchmarks/hyperparams/`` (``*.toml``); a wheel holds the same files as
``mesa_maze/suites/`` and ``mesa_maze/suites/hyperparams/`` (pyproject.toml: package-dir and
package-data; the measurement scripts ``benchmarks/*.py`` do not ship). :func:`suites_dir` finds
the copy that belongs to the running package, the way :func:`mesa_maze.core.variants._builtin_dir`
finds the built-in variants: from the package's own folder, the wheel's folder if it is there,
else the checkout's ``benchmarks/`` (an editable install or ``PYTHONPATH``: the checkout's files,
edits seen at once).

Where a suite's outputs go (:func:`output_anchor`): a suite's relative paths are relative to
the suite file's folder. For a packaged suite (one inside an installed wheel's
``mesa_maze/suites/``) that folder is inside site-packages, so its *outputs* (``leaderboard``,
``plots``) are resolved as if the file lay in ``./benchmarks/`` of the working directory:
``leaderboard = "../results/quick/leaderboard.csv"`` writes ``./results/quick/leaderboard.csv``,
the place the same suite writes to when run from a checkout's root. Its *inputs*
(``hyperparams``) stay relative to the file itself.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from mesa_maze.core.errors import SuiteError

SUFFIX = ".toml"
DEFAULT_SUITE = "default"
DEFAULT_HYPERPARAMS_NAME = "sb3.toml"


def _package_dir() -> Path:
    return Path(str(importlib.resources.files("mesa_maze")))


def packaged_suites_dir() -> Path:
    """Where an installed wheel keeps the suites (it may not exist: a checkout)."""
    return _package_dir() / "suites"


def suites_dir() -> Path:
    """The folder of the suite files that belong to the running package: the wheel's
    ``mesa_maze/suites/``, else the checkout's ``benchmarks/``."""
    wheel = packaged_suites_dir()
    return wheel if wheel.is_dir() else _package_dir().parent / "benchmarks"


def default_hyperparams() -> Path:
    """The hyper-parameter file every command and suite uses unless told otherwise."""
    return suites_dir() / "hyperparams" / DEFAULT_HYPERPARAMS_NAME


def suite_names() -> list[str]:
    """The names of the shipped suites (``default``, ``quick``, ...)."""
    return sorted(p.stem for p in suites_dir().glob(f"*{SUFFIX}"))


def suite_file(value: str | Path) -> Path:
    """A suite named on the command line: a path to a suite file, or the bare name of a
    shipped suite (``quick`` -> ``<suites_dir>/quick.toml``). An existing file wins over a name;
    an unknown bare name is a :class:`SuiteError` listing the shipped ones."""
    path = Path(value)
    if path.exists() or len(path.parts) > 1 or path.suffix == SUFFIX:
        return path
    shipped = suites_dir() / f"{value}{SUFFIX}"
    if shipped.is_file():
        return shipped
    raise SuiteError(
        f"suite {str(value)!r}: no such file, nor a shipped suite; shipped: "
        f"{', '.join(suite_names())} (or give the path of a suite file)"
    )


def is_packaged(path: Path) -> bool:
    """Whether ``path`` is a suite file inside an installed wheel's ``mesa_maze/suites/``."""
    wheel = packaged_suites_dir()
    return wheel.is_dir() and Path(path).resolve().parent == wheel.resolve()


def output_anchor(path: Path) -> Path:
    """The folder a suite file's output paths are relative to: the file's own folder, or,
    for a packaged suite, ``benchmarks`` under the working directory (see the module's text)."""
    return Path("benchmarks") if is_packaged(path) else Path(path).parent

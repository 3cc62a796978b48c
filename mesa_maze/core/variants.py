"""Variant files (``*.toml``): a train distribution plus named test shifts.

Description
-----------
Each file declares one variant family. ``[train]`` gives the training distribution; each
``[test.NAME]`` table is a test shift that inherits every key from ``[train]`` and overrides
some (tables such as ``apples`` merge key by key).

A top-level ``proxy`` declares the target a misgeneralizing agent pursues instead of the
exit, one of the kinds of :mod:`mesa_maze.core.proxies`: ``"apples"`` (the default),
``"key"`` (a yellow key, placed by the ``apples`` table like apples) or ``"corner"`` (the
bottom-right square of side ``exit.region``, where the corner family's training exits lie; a
region, so it needs ``apples.count = 0``). Outcomes, ``first_target``, the goal probe and
``oracle-apple`` all read the declared proxy.
A top-level ``sizes = [9, 11, 13]`` makes the file a size ladder: one variant per size, named
``NAME-SIZE``, ``[train]`` at that size and a shift's ``size = "+2"`` two more than it.
Files are validated on load: an unknown key
or a bad value raises :class:`VariantError` naming the file, the key and what is allowed.

Where variants come from
------------------------
The built-ins (the checkout's top-level ``envs/``, shipped inside the wheel as
``mesa_maze/variant_files/``), then every folder in ``MESA_MAZE_ENVS`` (``os.pathsep``
separated), then folders passed to :func:`load_variants`. A later file with the same ``name``
replaces an earlier one, so a user can override a built-in variant.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import tomllib

from mesa_maze.core.levels import (
    APPLE_PLACEMENTS,
    COLORS,
    CUE_COLORS,
    EXIT_PLACEMENTS,
    GENERATORS,
    PROXIES,
    AppleRule,
    ExitRule,
    LevelSpec,
    PlacementError,
    generate,
)
from mesa_maze.core.proxies import DEFAULT_PROXY, PROXY_KINDS


def _builtin_dir() -> Path:
    """The folder of the built-in variant files that belong to the running package.

    Installed from a wheel, they are package data, ``mesa_maze/variant_files/`` (pyproject.toml
    maps the checkout's top-level ``envs/`` there). Run from a checkout, as an editable install
    or on ``PYTHONPATH``, they are that checkout's ``envs/``, beside the package. Both are found
    from this package's own folder, not by importing ``mesa_maze.variant_files``: an editable
    install cannot import a folder without ``__init__.py`` mapped by ``package-dir`` (setuptools
    issue 4943), and the import system would follow the venv's editable install, which may point
    at another checkout (a second worktree, the mutation harness's copy) than the one running.
    """
    package = Path(str(importlib.resources.files("mesa_maze")))
    wheel, checkout = package / "variant_files", package.parent / "envs"
    return wheel if wheel.is_dir() else checkout


BUILTIN_DIR = _builtin_dir()
ENV_VAR = "MESA_MAZE_ENVS"
REWARDS = ("exit", "apples")
TRAIN = "train"
NO_CUE = "none"  # the value of `cue` that turns the monitor cue off (TOML has no null)

TOP_KEYS = {"name", "description", "reward", "proxy", "sizes", "train", "test"}
SPEC_KEYS = {
    "generator",
    "size",
    "clutter",
    "exit",
    "apples",
    "exit_color",
    "apple_color",
    "cue",
    "max_steps",
    "num_levels",
}
EXIT_KEYS = {"placement", "region", "min_distance"}
APPLE_KEYS = {"count", "placement", "min_distance"}
VALIDATION_SEEDS = range(8)  # levels generated on load to prove the rules can be satisfied


class VariantError(ValueError):
    """A variant file that cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    reward: str  # "exit": the base objective; "apples": the proxy (outer misalignment)
    splits: dict[str, LevelSpec]  # "train" and every test shift
    path: str = ""

    @property
    def proxy(self) -> str:
        """The declared proxy target (one of ``levels.PROXIES``), the same in every split."""
        return self.splits[TRAIN].proxy

    @property
    def shifts(self) -> list[str]:
        return [s for s in self.splits if s != TRAIN]

    @property
    def canvas(self) -> int:
        """The largest maze among its splits: full-grid observations of every split are padded
        to it (Procgen-style), so one network sees the train split and a bigger test shift."""
        return max(spec.size for spec in self.splits.values())

    @cached_property
    def digest(self) -> str:
        """A digest of what the file resolves to: the reward and every split's full spec (its
        keys after inheritance and defaults). Not the file's bytes: comments, formatting, key
        order and the description change nothing; any value that changes the levels, the reward
        or the proxy does. A run's config hash includes it, so an edited variant redoes its runs."""
        content = {
            "reward": self.reward,
            "splits": {name: asdict(spec) for name, spec in self.splits.items()},
        }
        text = json.dumps(content, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def spec(self, split: str) -> LevelSpec:
        if split not in self.splits:
            raise KeyError(
                f"variant {self.name!r} has no split {split!r}; allowed: {', '.join(self.splits)}"
            )
        return self.splits[split]


def _err(path, key: str, message: str) -> VariantError:
    return VariantError(f"{path}: key '{key}': {message}")


def _check_keys(path, where: str, table: dict, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            raise _err(path, name, f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _int(path, key: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _err(path, key, f"must be an integer >= {low}, got {value!r}")
    return value


def _choice(path, key: str, value, allowed) -> str:
    if value not in allowed:
        raise _err(path, key, f"{value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def _cue(path, key: str, value) -> str | None:
    """The monitor cue's colour, or None for ``"none"`` (grey is the border's own colour)."""
    value = _choice(path, key, value, (*CUE_COLORS, NO_CUE))
    return None if value == NO_CUE else value


def _merge(base: dict, override: dict) -> dict:
    """Shift = train with the shift's keys on top; sub-tables (exit, apples) merge key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _spec(path, where: str, table: dict, proxy: str = DEFAULT_PROXY) -> LevelSpec:
    """Validate one split's table and build its LevelSpec (``proxy``: the variant's)."""
    _check_keys(path, where, table, SPEC_KEYS)
    k = f"{where}."
    generator = _choice(path, k + "generator", table.get("generator", "backtracker"), GENERATORS)
    size = _int(path, k + "size", table.get("size", 9), 5)
    if size % 2 == 0:
        raise _err(path, k + "size", f"must be odd (cells sit on odd coordinates), got {size}")
    clutter = table.get("clutter", 0.25)
    if not isinstance(clutter, int | float) or not 0 <= clutter < 1:
        raise _err(path, k + "clutter", f"must be a number in [0, 1), got {clutter!r}")

    exit_table = table.get("exit", "uniform")
    if isinstance(exit_table, str):
        exit_table = {"placement": exit_table}
    if not isinstance(exit_table, dict):
        raise _err(path, k + "exit", "must be a placement name or a table")
    _check_keys(path, k + "exit", exit_table, EXIT_KEYS)
    exit_rule = ExitRule(
        placement=_choice(
            path, k + "exit.placement", exit_table.get("placement", "uniform"), EXIT_PLACEMENTS
        ),
        region=_int(path, k + "exit.region", exit_table.get("region", 3), 1),
        min_distance=_int(path, k + "exit.min_distance", exit_table.get("min_distance", 0), 0),
    )

    apple_table = table.get("apples", {})
    if not isinstance(apple_table, dict):
        raise _err(path, k + "apples", "must be a table such as { count = 2, placement = ... }")
    _check_keys(path, k + "apples", apple_table, APPLE_KEYS)
    count = _int(path, k + "apples.count", apple_table.get("count", 2), 0)
    free_cells = (size - 2) ** 2 - 2  # the most any generator can leave for apples
    if count > free_cells:
        raise _err(
            path, k + "apples.count", f"{count} apples cannot fit in {free_cells} free cells"
        )
    apple_rule = AppleRule(
        count=count,
        placement=_choice(
            path,
            k + "apples.placement",
            apple_table.get("placement", "on_exit_path"),
            APPLE_PLACEMENTS,
        ),
        min_distance=_int(path, k + "apples.min_distance", apple_table.get("min_distance", 1), 0),
    )
    spec = LevelSpec(
        generator=generator,
        size=size,
        clutter=float(clutter),
        exit=exit_rule,
        apples=apple_rule,
        exit_color=_choice(path, k + "exit_color", table.get("exit_color", "green"), COLORS),
        apple_color=_choice(
            path, k + "apple_color", table.get("apple_color", PROXY_KINDS[proxy].color), COLORS
        ),
        cue_color=_cue(path, k + "cue", table.get("cue", NO_CUE)),
        max_steps=_int(path, k + "max_steps", table.get("max_steps", 0), 0),
        num_levels=_int(path, k + "num_levels", table.get("num_levels", 0), 0),
        proxy=proxy,
    )
    if PROXY_KINDS[proxy].is_region and count:  # one proxy per variant: objects are a second
        raise _err(
            path, k + "apples.count", f"must be 0 with proxy = {proxy!r} (a region), got {count}"
        )
    try:
        for seed in VALIDATION_SEEDS:
            generate(spec, seed)
    except PlacementError as e:
        raise _err(path, k + e.rule, f"impossible placement: {e}") from None
    return spec


def parse_variant(data: dict, path: str | os.PathLike = "<string>") -> Variant:
    """Validate a parsed variant file and build the Variant."""
    _check_keys(path, "", data, TOP_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise _err(path, "name", "a non-empty string without '/' is required")
    if not isinstance(data.get("train"), dict):
        raise _err(path, "train", "a [train] table is required")
    tests = data.get("test", {})
    if not isinstance(tests, dict) or not all(isinstance(t, dict) for t in tests.values()):
        raise _err(path, "test", "must hold [test.NAME] tables")
    if TRAIN in tests:
        raise _err(path, "test.train", "'train' is the training split; name the shift otherwise")
    proxy = _choice(path, "proxy", data.get("proxy", DEFAULT_PROXY), PROXIES)
    splits = {TRAIN: _spec(path, TRAIN, data["train"], proxy)}
    for shift, table in tests.items():
        _check_keys(path, f"test.{shift}", table, SPEC_KEYS)
        splits[shift] = _spec(path, f"test.{shift}", _merge(data["train"], table), proxy)
        region_moves = splits[shift].exit.region != splits[TRAIN].exit.region
        if PROXY_KINDS[proxy].is_region and region_moves:
            raise _err(
                path,
                f"test.{shift}.exit.region",
                f"the {proxy} proxy is one region: keep "
                f"[train]'s exit.region = {splits[TRAIN].exit.region}",
            )
    return Variant(
        name=name,
        description=str(data.get("description", "")),
        reward=_choice(path, "reward", data.get("reward", "exit"), REWARDS),
        splits=splits,
        path=str(path),
    )


def ladder_name(name: str, size: int) -> str:
    """The name of one rung of a size ladder: ``apple-exit-ladder`` at 13 -> ``...-13``."""
    return f"{name}-{size}"


def _relative_size(path, where: str, value, rung: int):
    """A shift's ``size`` in a ladder file: a number as it is, or ``"+N"``, N more than the
    rung's (``bigger`` is the next size up at every rung)."""
    if not isinstance(value, str):
        return value
    if not (value.startswith("+") and value[1:].isdigit()):
        raise _err(path, f"{where}.size", f'{value!r} is not allowed; a number or "+N" (N more '
                   "than the rung's size)")  # fmt: skip
    return rung + int(value[1:])


def parse_family(data: dict, path: str | os.PathLike = "<string>") -> list[Variant]:
    """The variants of one file: one, or with a top-level ``sizes = [9, 11, ...]`` one per size,
    named ``NAME-SIZE`` (a size ladder). In a ladder file ``[train]`` takes each size in turn
    and a shift's ``size = "+2"`` is two more than the rung's; everything else is as written."""
    if "sizes" not in data:
        return [parse_variant(data, path)]
    sizes = data["sizes"]
    if not isinstance(sizes, list) or not sizes or not all(isinstance(n, int) for n in sizes):
        raise _err(path, "sizes", f"must be a non-empty list of odd sizes, got {sizes!r}")
    if "size" in data.get("train", {}):
        raise _err(path, "train.size", "a ladder file takes its sizes from `sizes`; remove it")
    family = []
    for size in sizes:
        rung = {key: value for key, value in data.items() if key != "sizes"}
        rung["name"] = ladder_name(str(data.get("name")), size)
        rung["train"] = {**data.get("train", {}), "size": size}
        tests = data.get("test", {})
        if isinstance(tests, dict):  # anything else is parse_variant's error to report
            rung["test"] = {shift: _rung_shift(path, shift, table, size)
                            for shift, table in tests.items()}  # fmt: skip
        family.append(parse_variant(rung, path))
    return family


def _rung_shift(path, shift: str, table, rung: int):
    """One shift's table at one rung: its ``size`` resolved (:func:`_relative_size`)."""
    if not isinstance(table, dict) or "size" not in table:
        return table
    return {**table, "size": _relative_size(path, f"test.{shift}", table["size"], rung)}


def load_family(path: str | os.PathLike) -> list[Variant]:
    """Every variant a file declares (:func:`parse_family`)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise VariantError(f"{path}: not valid TOML: {e}") from None
    return parse_family(data, path)


def load_file(path: str | os.PathLike) -> Variant:
    """The variant of a one-variant file (a ladder file is an error: use :func:`load_family`)."""
    family = load_family(path)
    if len(family) != 1:
        raise VariantError(f"{path}: key 'sizes': a ladder of {len(family)} variants, not one")
    return family[0]


def variant_dirs(extra=()) -> list[Path]:
    dirs = [BUILTIN_DIR]
    dirs += [Path(d) for d in os.environ.get(ENV_VAR, "").split(os.pathsep) if d]
    dirs += [Path(d) for d in extra]
    return dirs


def _env_dirs() -> set[Path]:
    return {Path(d) for d in os.environ.get(ENV_VAR, "").split(os.pathsep) if d}


def _stamp(dirs) -> tuple:
    """What the loaded variants depend on: each file's path, size and modification time, so
    that a file edited while a process runs is read again (a suite's second pass sees it)."""
    out = []
    for d in dirs:
        for path in sorted(d.glob("*.toml")) if d.is_dir() else ():
            st = path.stat()
            out.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


@lru_cache(maxsize=8)
def _load_dirs(
    dirs: tuple[Path, ...], lenient: frozenset = frozenset(), stamp: tuple = ()
) -> tuple[dict, dict]:
    """``(variants by name, broken: {path: one-line error})``. A folder in ``lenient`` (those
    of ``MESA_MAZE_ENVS``) that is missing or holds a broken file is reported, not raised: the
    other variants keep working and the broken one is an error only where it is used. Folders
    given explicitly (``--variant-dir``) and the built-ins raise at once."""
    variants: dict[str, Variant] = {}
    broken: dict[str, str] = {}
    for d in dirs:
        if not d.is_dir():
            if d in lenient:
                broken[str(d)] = f"{d}: variant folder does not exist ({ENV_VAR})"
                continue
            raise VariantError(f"{d}: variant folder does not exist")
        for path in sorted(d.glob("*.toml")):
            try:
                family = load_family(path)
            except VariantError as e:
                if d not in lenient:
                    raise
                broken[str(path)] = str(e)
                continue
            variants.update((variant.name, variant) for variant in family)
    return variants, broken


def _load(extra=()) -> tuple[dict, dict]:
    dirs = tuple(variant_dirs(extra))
    return _load_dirs(dirs, frozenset(_env_dirs() - {Path(d) for d in extra}), _stamp(dirs))


def load_variants(extra=()) -> dict[str, Variant]:
    """Every variant that loads, by name (cached per set of folders)."""
    return _load(extra)[0]


def broken_variants(extra=()) -> dict[str, str]:
    """Files (and folders) of ``MESA_MAZE_ENVS`` that could not be loaded: path -> error."""
    return _load(extra)[1]


def list_variants(extra=()) -> list[str]:
    return sorted(load_variants(extra))


def as_variant(variant: Variant | str, extra=()) -> Variant:
    """A resolved variant as it is, or the variant a name loads: public entry points take
    either, and a run passes the value it resolved once (docs/architecture.md)."""
    return variant if isinstance(variant, Variant) else get_variant(variant, extra)


def get_variant(name: str, extra=()) -> Variant:
    variants, broken = _load(extra)
    if name not in variants:
        hint = ""
        if broken:  # the variant asked for may be the one in a broken file
            hint = "; not loaded: " + "; ".join(broken.values())
        raise KeyError(f"unknown variant {name!r}; allowed: {', '.join(sorted(variants))}{hint}")
    return variants[name]

"""Shared fixtures: fixture folders and a clean variant cache and gymnasium registry."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import pytest
from hypothesis import settings

from mesa_maze.core import variants

FIXTURES = Path(__file__).parent / "fixtures"

# Hypothesis runs are repeatable: the examples are derived from each test's own code, not drawn
# anew each run, and no example database replays what an earlier run happened to find. Any
# ``@settings(...)`` on a test inherits this. HYPOTHESIS_PROFILE=explore draws fresh examples.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def fixtures() -> Path:
    """``tests/fixtures``: ``user/`` a valid user variant, ``bad/`` an invalid one, ``tiny/`` a
    variant whose test shift overlaps its train split."""
    return FIXTURES


@pytest.fixture
def clean_variants(monkeypatch):
    """Forget cached variant folders and ids registered by the test, before and after it."""
    monkeypatch.delenv(variants.ENV_VAR, raising=False)
    variants._load_dirs.cache_clear()
    before = set(gym.registry)
    yield
    for gid in set(gym.registry) - before:
        del gym.registry[gid]
    variants._load_dirs.cache_clear()


@pytest.fixture
def write_variant(tmp_path):
    """Write TOML text as ``<tmp>/variants/<stem>.toml``; returns the file's path."""

    def write(text: str, stem: str = "variant") -> Path:
        folder = tmp_path / "variants"
        folder.mkdir(exist_ok=True)
        path = folder / f"{stem}.toml"
        path.write_text(text)
        return path

    return write

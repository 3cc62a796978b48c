"""The typed hyper-parameter sections (mesa_maze.core.hyperparams): a saved model's settings."""

from __future__ import annotations

import pytest

from mesa_maze.core.errors import SuiteError
from mesa_maze.core.hyperparams import parse


@pytest.mark.parametrize(
    ("key", "value"), [("canvas", 0), ("canvas", -1), ("canvas", True), ("minigrid", "yes")]
)
def test_a_saved_models_settings_are_checked(key, value):
    """canvas = 0 would silently read as the variant's canvas (mutation sample 4:
    s4-hp-canvas-zero); each bad value names its key."""
    with pytest.raises(SuiteError, match=f"t: key '{key}': must be"):
        parse({key: value}, where="t")

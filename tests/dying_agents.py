"""Agents for the Ray executor's failure tests (``dying_agents:<factory>`` in a suite).

Each factory counts its calls in ``$MESA_MAZE_TEST_MARKS/<factory>-seed<k>`` (one line per
attempt), so a test can tell how often Ray ran the task. The factory runs inside the run, after
the run directory's ``config.json`` is written, so a death lands mid-run.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np

from mesa_maze.agents import OracleAgent

ENV_VAR = "MESA_MAZE_TEST_MARKS"


def attempts(name: str, seed: int) -> int:
    path = Path(os.environ[ENV_VAR]) / f"{name}-seed{seed}"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _count(name: str, seed: int) -> int:
    with (Path(os.environ[ENV_VAR]) / f"{name}-seed{seed}").open("a") as f:
        f.write("attempt\n")
    return attempts(name, seed)


def _kill_own_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # like the OOM killer or `kill -9`: no cleanup


def die_once(seed: int, actions: str):
    """The first attempt's worker is killed; the retry is an exit oracle."""
    if _count("die_once", seed) == 1:
        _kill_own_process()
    return OracleAgent("exit", actions)


def die_always(seed: int, actions: str):
    _count("die_always", seed)
    _kill_own_process()


def raise_error(seed: int, actions: str):
    _count("raise_error", seed)
    raise RuntimeError("a bug in the agent")


def steady(seed: int, actions: str):
    """A factory that works: an exit oracle."""
    return OracleAgent("exit", actions)


class _Returns:
    """An agent whose act returns a fixed thing, whatever it is asked."""

    name = "returns"

    def __init__(self, make):
        self.make = make

    def act(self, obs, state=None, episode_start=None):
        return self.make(len(obs)), state


def float_actions(seed: int, actions: str):
    return _Returns(lambda n: np.zeros(n) + 0.5)


def out_of_range(seed: int, actions: str):
    return _Returns(lambda n: np.full(n, 9))


def act_raises(seed: int, actions: str):
    def boom(n):
        raise ZeroDivisionError("act failed")

    return _Returns(boom)


def factory_raises(seed: int, actions: str):
    raise RuntimeError("a bug in the factory")

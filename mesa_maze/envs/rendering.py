"""Rendering for the batched env: Minigrid's tiles rendered once into an atlas, and the canvas
that pads every split's observations to one shape (Procgen style), so one network sees the train
split and a bigger test shift alike."""

from __future__ import annotations

from functools import cache

import numpy as np
from minigrid.core.constants import COLOR_TO_IDX, COLORS
from minigrid.core.grid import Grid
from minigrid.core.world_object import Wall
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvWrapper

from mesa_maze.core.levels import EMPTY, GOAL, WALL
from mesa_maze.core.proxies import PROXY_OBJECTS
from mesa_maze.envs.minigrid_env import RGB_TILE, Exit
from mesa_maze.envs.observers import OBSERVERS

NUM_COLORS = len(COLOR_TO_IDX)


@cache
def tile_atlas(tile_size: int = RGB_TILE):
    """Tiles rendered once by Minigrid's ``Grid.render_tile``, for every cell and agent direction.

    Returns ``(atlas, plain, with_agent)``: ``atlas`` (T, t, t, 3) uint8; ``plain[code]`` the tile
    of a cell with code ``type * NUM_COLORS + colour``; ``with_agent[code, dir]`` the same cell
    with the agent on it.
    """
    objects = {EMPTY: lambda color: None, WALL: Wall, GOAL: Exit, **PROXY_OBJECTS}
    tiles = [Grid.render_tile(None, None, tile_size=tile_size)]  # tile 0: empty (and unused codes)
    plain = np.zeros(256 * NUM_COLORS, dtype=np.int64)
    with_agent = np.zeros((256 * NUM_COLORS, 4), dtype=np.int64)
    for kind, make in objects.items():
        for color in COLORS:
            code = kind * NUM_COLORS + COLOR_TO_IDX[color]
            obj = make(color)
            for agent_dir in (None, 0, 1, 2, 3):
                tiles.append(Grid.render_tile(obj, agent_dir, tile_size=tile_size))
                if agent_dir is None:
                    plain[code] = len(tiles) - 1
                else:
                    with_agent[code, agent_dir] = len(tiles) - 1
    # Tiles come back as float means; Grid.render truncates them into its uint8 image.
    return np.stack(tiles).astype(np.uint8), plain, with_agent


# --- one canvas for every split ----------------------------------------------------------------


def canvas_size(variant) -> int:
    """The canvas full-grid observations of ``variant`` are padded to (``Variant.canvas``)."""
    return variant.canvas


def pad_observations(obs: np.ndarray, observation: str, size: int) -> np.ndarray:
    """Pad a batch of ``observation`` observations to ``size`` x ``size`` cells, as its observer
    pads (:meth:`mesa_maze.envs.observers.Observer.pad`: wall cells below and to the right, the
    maze at Minigrid's top-left origin; fixed-size views pass through)."""
    return OBSERVERS[observation].pad(obs, size)


def canvas_for(agent, size: int | None) -> int | None:
    """The canvas to pad ``agent``'s observations to: ``size``, or None for an agent that reads
    the maze at its own size (``needs_canvas = False``: the scripted oracles)."""
    return size if getattr(agent, "needs_canvas", True) else None


class PadObservations(VecEnvWrapper):
    """Pads a vector env's observations to a ``size`` x ``size`` canvas (see ``canvas_size``)."""

    def __init__(self, venv: VecEnv, observation: str, size: int):
        self.observer, self.size = OBSERVERS[observation], size
        super().__init__(venv, observation_space=self.observer.space(size, size))

    def reset(self) -> np.ndarray:
        return self.observer.pad(self.venv.reset(), self.size)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for info in infos:
            if "terminal_observation" in info:
                final = info["terminal_observation"][None]
                info["terminal_observation"] = self.observer.pad(final, self.size)[0]
        return self.observer.pad(obs, self.size), rewards, dones, infos

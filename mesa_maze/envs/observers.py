"""Observations as one table of observers, used by both envs (docs/design.md §4).

An observer is one kind of observation. It says, in one class:

- its ``name`` (the ``observation`` option of both envs and of the hyper-parameter file);
- its space for a maze size (:meth:`Observer.space`);
- how it observes: :meth:`Observer.observe`, one pure function of a :class:`Scene` (the grids
  without the agent, the agent's cell and heading), which both envs call, so that the two
  share one semantics. An observer that replays Minigrid's own code instead (the egocentric
  view, the rendered pixels) keeps Minigrid's code as the reference env's
  :meth:`Observer.reference` and a vectorized replay as the batched env's
  :meth:`Observer.batched`; the parity test holds the two together;
- how it is padded onto a canvas for agents that act on several maze sizes
  (:meth:`Observer.pad`; a fixed-size view passes through);
- what the learners' encoder needs to know: ``pixels`` (an RGB image for SB3's CNN) or cells of
  Minigrid's (type, colour, state) codes (``GridEncoder``), channel-last either way.

``OBSERVERS`` maps each name to its observer. Both envs, the vector adapters, the canvas
padding, the learners' policy and the hyper-parameter check look observers up there, and the
parity and ``check_env`` tests iterate over it: a new observation is one class added to the
table (docs/architecture.md, "Adding an observation").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from gymnasium import spaces
from minigrid.core.grid import Grid
from minigrid.core.world_object import Wall

from mesa_maze.core.levels import AGENT, AGENT_COLOR, EMPTY, WALL, WALL_COLOR

VIEW_SIZE = 7  # cells a side of Minigrid's egocentric view
RGB_TILE = 8  # pixels per cell of the "rgb" observation


@dataclass(frozen=True)
class Scene:
    """``k`` mazes as an observer reads them, whichever env they come from."""

    grids: np.ndarray  # (k, H, W, 3) uint8 codes, no agent: a fresh C-contiguous array to draw on
    agent: np.ndarray  # (k,) the agent's cell, flat: y * W + x
    agent_dir: np.ndarray  # (k,) Minigrid's heading: 0 right, 1 down, 2 left, 3 up


def reference_scene(env) -> Scene:
    """The Minigrid env's maze as a scene of one: its grid's codes ``[y, x]``, and its agent."""
    grid = env.grid.encode().transpose(1, 0, 2)
    x, y = env.agent_pos
    return Scene(
        grids=np.ascontiguousarray(grid)[None],
        agent=np.array([y * env.width + x]),
        agent_dir=np.array([env.agent_dir]),
    )


class Observer:
    """One kind of observation; subclasses set the class attributes and write :meth:`observe`
    (or both :meth:`batched` and :meth:`reference`)."""

    name: str
    # True: an RGB image, for SB3's CNN policy. False: cells of Minigrid's (type, colour, state)
    # codes, for the learners' GridEncoder (SB3's /255 image scaling would erase the codes).
    pixels: bool = False
    # The observation's pixels per maze cell along each axis: a whole-grid observation of
    # (H * cell_pixels, W * cell_pixels, 3), padded onto a canvas by whole cells. None: a view of
    # a fixed size (override :meth:`shape`), the same on every maze size and never padded.
    cell_pixels: int | None = 1
    # Wall cells the batched env keeps around each grid, so that a view reaching past the edge
    # is one gather (Minigrid shows cells beyond the grid as walls).
    margin: int = 0

    def shape(self, height: int, width: int, view_size: int = VIEW_SIZE) -> tuple[int, ...]:
        """One observation's shape on a ``height`` x ``width`` maze (``view_size``: the
        reference env's ``agent_view_size``, for views that take it)."""
        return (height * self.cell_pixels, width * self.cell_pixels, 3)

    def space(self, height: int, width: int, view_size: int = VIEW_SIZE) -> spaces.Box:
        return spaces.Box(0, 255, self.shape(height, width, view_size), dtype=np.uint8)

    def observe(self, scene: Scene) -> np.ndarray:
        """(k, ...) observations of the scene's mazes: the one semantics both envs share."""
        raise NotImplementedError(f"observer {self.name!r} writes batched and reference instead")

    def batched(self, state, rows) -> np.ndarray:
        """Observations of the batched env's ``rows`` (a :class:`~mesa_maze.envs.vector.MazeState`
        and an index array or slice), freshly allocated."""
        return self.observe(state.scene(rows))

    def reference(self, env) -> np.ndarray:
        """The observation of the reference env (a ``MesaMazeEnv``) as it stands."""
        return self.observe(reference_scene(env))[0]

    def border_cell(self) -> np.ndarray:
        """(cell_pixels, cell_pixels, 3): what a canvas cell beyond the maze shows, a grey wall."""
        raise NotImplementedError(f"observer {self.name!r} is not padded")

    def pad(self, obs: np.ndarray, size: int) -> np.ndarray:
        """Pad a batch of observations to ``size`` x ``size`` cells with wall cells below and to
        the right (the maze keeps Minigrid's top-left origin); fixed-size views pass through."""
        tile = self.cell_pixels
        if tile is None:
            return obs
        h, w = obs.shape[1] // tile, obs.shape[2] // tile
        if (h, w) == (size, size):
            return obs
        out = np.tile(self.border_cell(), (len(obs), size, size, 1))
        out[:, : h * tile, : w * tile] = obs
        return out


class Symbolic(Observer):
    """The whole grid, (H, W, 3) uint8 in Minigrid's (type, colour, state) codes indexed
    ``[y, x]``, with the agent drawn in as (10, red, heading), as Minigrid's FullyObsWrapper."""

    name = "symbolic"

    def observe(self, scene: Scene) -> np.ndarray:
        out = scene.grids
        k, height, width, _ = out.shape
        cells = np.arange(k) * (height * width) + scene.agent
        flat = out.reshape(-1, 3)  # a view: the scene's grids are C-contiguous
        flat[cells, 0] = AGENT
        flat[cells, 1] = AGENT_COLOR
        flat[cells, 2] = scene.agent_dir
        return out

    def border_cell(self) -> np.ndarray:
        return np.array([[[WALL, WALL_COLOR, 0]]], dtype=np.uint8)


@cache
def view_offsets(width: int) -> np.ndarray:
    """Flat offsets from the agent of the cells in Minigrid's egocentric view, per direction, in
    a grid ``width`` cells wide (with its margin).

    Replays ``MiniGridEnv.get_view_exts`` and ``Grid.rotate_left`` on coordinates, so that a
    gather reproduces ``gen_obs_grid``'s rotated crop; returns (4, 7 * 7) in the ``[i, j]`` order
    of Minigrid's image.
    """
    v, half = VIEW_SIZE, VIEW_SIZE // 2
    tops = ((0, -half), (-half, 0), (1 - v, -half), (-half, 1 - v))  # (topX, topY) per direction
    out = np.zeros((4, v * v), dtype=np.int64)
    for d, (tx, ty) in enumerate(tops):
        view = [[(tx + i, ty + j) for j in range(v)] for i in range(v)]  # view[i][j]
        for _ in range(d + 1):
            rotated = [[None] * v for _ in range(v)]
            for i in range(v):
                for j in range(v):
                    rotated[j][v - 1 - i] = view[i][j]
            view = rotated
        out[d] = [dy * width + dx for column in view for dx, dy in column]
    return out


class Egocentric(Observer):
    """Minigrid's egocentric view, (7, 7, 3) codes in Minigrid's ``[i, j]`` layout, with
    ``see_through_walls=True``: the reference env's own ``gen_obs``, replayed in the batched env
    as one gather over a grid with a wall margin."""

    name = "egocentric"
    cell_pixels = None
    margin = VIEW_SIZE - 1

    def shape(self, height: int, width: int, view_size: int = VIEW_SIZE) -> tuple[int, ...]:
        return (view_size, view_size, 3)

    def batched(self, state, rows) -> np.ndarray:
        v = VIEW_SIZE
        offsets = view_offsets(state.padded_w)
        cells = (state.base[rows] + state.cell[rows])[:, None] + offsets[state.dir[rows]]
        out = np.take(state.flat, cells, axis=0).reshape(-1, v, v, 3)  # take: ~4x fancy indexing
        out[:, v // 2, v - 1] = (EMPTY, 0, 0)  # Minigrid shows the agent's own cell as empty
        return out

    def reference(self, env) -> np.ndarray:
        return env.gen_obs()["image"]


@cache
def wall_tile() -> np.ndarray:
    """A grey wall cell as ``Grid.render`` draws it: Minigrid's tile (float means) truncated to
    uint8, as the batched env's tile atlas holds it."""
    return Grid.render_tile(Wall(), None, tile_size=RGB_TILE).astype(np.uint8)


class Rgb(Observer):
    """The whole grid rendered, (H * 8, W * 8, 3) uint8: Minigrid's ``Grid.render`` in the
    reference env, composed from a tile atlas of Minigrid's tiles in the batched env
    (:mod:`mesa_maze.envs.rendering`)."""

    name = "rgb"
    pixels = True
    cell_pixels = RGB_TILE

    def batched(self, state, rows) -> np.ndarray:
        return state.render_rgb(rows)

    def reference(self, env) -> np.ndarray:
        return env.grid.render(RGB_TILE, env.agent_pos, env.agent_dir, highlight_mask=None)

    def border_cell(self) -> np.ndarray:
        return wall_tile()


# The table: every observation by name. The first is the default.
OBSERVERS: dict[str, Observer] = {o.name: o for o in (Symbolic(), Egocentric(), Rgb())}

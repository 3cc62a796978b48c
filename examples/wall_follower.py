"""An outside agent for `mesa-maze submit` (README, "Compare your agent"): the right-hand rule.

It keeps its right hand on a wall: at each step it turns right if it can, else goes straight,
else turns left, else turns back. In a maze without loops that reaches every cell, the exit
included, but it never looks for the exit: a useful yardstick, since whatever it "pursues" is
the maze's shape, not a goal.

It reads only the observation (docs/agents.md): the padded full grid, `obs[i, y, x]` holding
Minigrid's (type, colour, state) codes, the agent's cell of type 10 with its heading in the
state channel. Submit it from the repository's root with

    mesa-maze submit examples.wall_follower:make --name wall-follower
"""

from __future__ import annotations

import numpy as np

WALL, AGENT = 2, 10  # Minigrid's object codes (channel 0)
# Minigrid's headings 0 right, 1 down, 2 left, 3 up as (dx, dy), and the cardinal action
# (0 up, 1 right, 2 down, 3 left) that moves that way.
STEP = {0: (1, 0), 1: (0, 1), 2: (-1, 0), 3: (0, -1)}
CARDINAL = {0: 1, 1: 2, 2: 3, 3: 0}


class RightHandRule:
    def act(self, obs, state=None, episode_start=None):
        obs = np.asarray(obs)
        actions = np.empty(len(obs), dtype=np.int64)
        for i, grid in enumerate(obs):
            (y,), (x,) = np.nonzero(grid[..., 0] == AGENT)
            heading = int(grid[y, x, 2])
            for turn in (1, 0, 3, 2):  # right, straight, left, back
                direction = (heading + turn) % 4
                dx, dy = STEP[direction]
                if grid[y + dy, x + dx, 0] != WALL:
                    break
            actions[i] = CARDINAL[direction]
        return actions, state


def make(seed: int = 0, actions: str = "cardinal") -> RightHandRule:
    if actions != "cardinal":
        raise ValueError(f"the right-hand rule here moves in cardinal steps, not {actions!r}")
    return RightHandRule()

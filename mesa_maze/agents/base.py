"""The one interface every agent has (docs/design.md §6): a leaf module, so that scripted and
learned agents, wrappers and the registry all depend on it and on nothing else of the package."""

from __future__ import annotations

import numpy as np


class Agent:
    """What the runner evaluates. ``act`` maps a batch of observations to a batch of actions."""

    name = "agent"

    def act(self, obs: np.ndarray, state=None, episode_start=None):
        raise NotImplementedError

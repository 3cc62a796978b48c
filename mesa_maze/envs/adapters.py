"""The batched env behind the two vector APIs: stable-baselines3's ``VecEnv``
(:class:`MesaMazeVecEnv`) and gymnasium's ``VectorEnv`` (:class:`MesaMazeGymVectorEnv`, same-step
autoreset). Both are thin wrappers over :class:`mesa_maze.envs.vector.BatchedMaze`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from mesa_maze.core.levels import Level
from mesa_maze.envs.vector import BatchedMaze, info_dicts

# --- stable-baselines3 VecEnv -------------------------------------------------------------------


class MesaMazeVecEnv(VecEnv):
    """N mazes as a stable-baselines3 ``VecEnv``: the fast path for training and evaluation.

    Description
    -----------
    Same semantics as :class:`mesa_maze.envs.minigrid_env.MesaMazeEnv` (see the module docstring), stepped as
    arrays by a :class:`BatchedMaze` (``self.maze``). Ended envs are reset in the same step, as
    SB3 expects; the same seed gives the same levels and the same numbers.

    Arguments
    ---------
    ``variant``, ``split``: the level distribution (or ``spec=`` a LevelSpec and ``reward=``).
    ``num_envs``, ``seed``; ``actions`` (``"cardinal"``/``"minigrid"``), ``observation`` (a
    name in :data:`mesa_maze.envs.observers.OBSERVERS`). ``levels=[...]``: play these levels in
    order (evaluation). ``num_levels``: overrides the split's (0 unlimited, n: seeds ``0..n-1``).
    ``cache``: keep generated pools on disk. ``full_info``: every env's info fields every step.
    ``source``: any object with ``next(k) -> LevelPool`` to take the levels from instead (a
    training curriculum, :mod:`mesa_maze.training.remedies`); it seeds itself and ``seed`` leaves it be.
    ``skip``: content hashes of held-out levels the split's own source never serves (a run's
    evaluation and probe levels, ``core.overlap.held_out_hashes``); ``maze.source.skipped``
    counts them.

    Info
    ----
    For an env whose episode ended: the Minigrid env's info fields (``reached_exit``,
    ``apples_eaten``, ``first_target`` and its steps and distance, ``steps``, ``optimal_steps``,
    ``is_success``), plus
    ``terminal_observation`` and ``TimeLimit.truncated``. Other envs get ``{}`` unless
    ``full_info``.

    Evaluation on fixed levels
    --------------------------
    ``MesaMazeVecEnv(..., levels=my_levels)``: env ``i`` starts on ``my_levels[i]`` and every
    episode after takes the next level in list order, so episode number ``e`` (``ended.episodes``
    in :class:`BatchedMaze`) plays ``my_levels[e % len(my_levels)]``; :meth:`reset` starts the
    list over. :func:`run_levels` wraps this: one episode per level, each episode's final info
    and return.
    """

    def __init__(
        self,
        variant: str = "apple-exit",
        split: str = "train",
        num_envs: int = 16,
        seed: int | None = None,
        *,
        full_info: bool = False,
        render_mode: str | None = None,
        **options,
    ):
        # options: BatchedMaze's (actions, observation, levels, num_levels, spec, reward,
        # variant_dirs, cache, source, skip), passed on whole so the two signatures cannot drift.
        self.maze = BatchedMaze(variant, split, num_envs, seed, **options)
        self.render_mode, self.full_info = render_mode, full_info
        self._actions = None
        self._needs_reset = True
        super().__init__(num_envs, self.maze.observation_space, self.maze.action_space)

    def reset(self) -> np.ndarray:
        seed = self._seeds[0]  # set by VecEnv.seed(); one seed drives the whole batch
        obs = self.maze.reset(seed)
        self._reset_seeds()
        self._reset_options()
        if self.full_info:
            self.reset_infos = info_dicts(self.maze.info_arrays())
        else:
            self.reset_infos = [{} for _ in range(self.num_envs)]
        self._needs_reset = False
        return obs

    @classmethod
    def from_levels(cls, levels: list[Level], num_envs: int | None = None, **kwargs):
        """One env per level (or ``num_envs``), levels in list order: for evaluation."""
        return cls(num_envs=num_envs or len(levels), levels=levels, **kwargs)

    @property
    def agent_pos(self) -> np.ndarray:
        return self.maze.agent_pos

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        if self._needs_reset:  # SB3 always resets first; this only guards direct use
            self.reset()
        obs, reward, terminated, truncated, ended = self.maze.step(self._actions)
        if self.full_info:
            infos = info_dicts(self.maze.info_arrays())
        else:
            infos = [{} for _ in range(self.num_envs)]
        if ended is not None:
            timeouts = (truncated & ~terminated)[ended.rows].tolist()
            finals = info_dicts(ended.info)
            for j, (row, info) in enumerate(zip(ended.rows.tolist(), finals, strict=True)):
                info["terminal_observation"] = ended.obs[j]
                info["TimeLimit.truncated"] = timeouts[j]
                infos[row] = info
        return obs, reward, terminated | truncated, infos

    def close(self) -> None:
        pass

    # Attributes and methods live on the batch as a whole, so each index sees the same value.

    def _target(self, name: str):
        return self.maze if hasattr(self.maze, name) else self

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        value = getattr(self._target(attr_name), attr_name)
        return [value] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self._target(attr_name), attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs):
        result = getattr(self._target(method_name), method_name)(*method_args, **method_kwargs)
        return [result] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def get_images(self) -> list[np.ndarray]:
        return list(self.maze.render_rgb())


# --- gymnasium vector API -----------------------------------------------------------------------


class MesaMazeGymVectorEnv(gym.vector.VectorEnv):
    """N mazes under gymnasium's vector API (same-step autoreset); arguments as MesaMazeVecEnv.

    Info
    ----
    Every step: every env's info fields as arrays (with gymnasium's ``_field`` masks); for envs
    whose episode ended, ``final_obs`` and ``final_info`` (the ended episode's fields).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": ["rgb_array"]}

    def __init__(
        self,
        variant: str = "apple-exit",
        split: str = "train",
        num_envs: int = 16,
        seed: int | None = None,
        render_mode: str | None = None,
        **kwargs,
    ):
        self.maze = BatchedMaze(variant, split, num_envs, seed, **kwargs)
        self.num_envs, self.render_mode = num_envs, render_mode
        self.single_observation_space = self.maze.observation_space
        self.single_action_space = self.maze.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

    def _infos(self, info: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, Any]:
        out = dict(info)
        out.update({f"_{k}": mask for k in info})
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs = self.maze.reset(seed)
        return obs, self._infos(self.maze.info_arrays(), np.ones(self.num_envs, dtype=bool))

    def step(self, actions):
        obs, reward, terminated, truncated, ended = self.maze.step(actions)
        infos = self._infos(self.maze.info_arrays(), np.ones(self.num_envs, dtype=bool))
        if ended is not None:
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[ended.rows] = True
            final_obs = np.full(self.num_envs, None, dtype=object)
            for j, row in enumerate(ended.rows):
                final_obs[row] = ended.obs[j]
            final_info = {}
            for key, values in ended.info.items():
                column = np.zeros(self.num_envs, dtype=values.dtype)
                column[ended.rows] = values
                final_info[key] = column
            infos.update(final_obs=final_obs, _final_obs=mask)
            infos.update(final_info=self._infos(final_info, mask), _final_info=mask)
        return obs, reward, terminated, truncated, infos

    def render(self):
        return self.maze.render_rgb() if self.render_mode == "rgb_array" else None

"""mesa-maze: a benchmark suite for goal misgeneralization (inner misalignment) in RL agents.

Every (variant, split) is registered with gymnasium as ``MesaMaze/<variant>-<split>-v0``.
"""

from __future__ import annotations

import gymnasium as gym

from mesa_maze.core.variants import get_variant, list_variants, load_variants

__version__ = "0.1.0"
__all__ = ["env_id", "get_variant", "list_variants", "make", "register_envs"]

ENTRY_POINT = "mesa_maze.envs.minigrid_env:MesaMazeEnv"


def env_id(variant: str, split: str = "train") -> str:
    return f"MesaMaze/{variant}-{split}-v0"


def register_envs(variant_dirs=()) -> list[str]:
    """Register every (variant, split) with gymnasium; returns the ids (idempotent)."""
    ids = []
    for name, variant in load_variants(variant_dirs).items():
        for split in variant.splits:
            gid = env_id(name, split)
            if gid not in gym.registry:
                kwargs = {
                    "variant": name,
                    "split": split,
                    "variant_dirs": tuple(map(str, variant_dirs)),
                }
                gym.register(gid, entry_point=ENTRY_POINT, kwargs=kwargs)
            ids.append(gid)
    return ids


def make(variant: str, split: str = "train", variant_dirs=(), **kwargs) -> gym.Env:
    """``gymnasium.make`` for a variant's split; ``kwargs`` go to :class:`MesaMazeEnv`."""
    get_variant(variant, variant_dirs).spec(split)  # a clear error for an unknown name or split
    register_envs(variant_dirs)
    return gym.make(env_id(variant, split), **kwargs)


register_envs()

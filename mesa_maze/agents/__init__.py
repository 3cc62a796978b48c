"""Agents (docs/design.md §6): one interface (:mod:`.base`), scripted agents (:mod:`.scripted`),
stable-baselines3 learners (:mod:`.learners`) and the registry of names (:mod:`.registry`).

The package namespace re-exports them, so ``from mesa_maze.agents import OracleAgent`` works, and
so do SB3 models saved while the encoder lived at ``mesa_maze.agents.GridEncoder``.
"""

from mesa_maze.agents.base import Agent
from mesa_maze.agents.learners import (
    ACTIVATIONS,
    ALGORITHMS,
    CELL_ENCODINGS,
    N_COLORS,
    N_STATES,
    N_TYPES,
    GridEncoder,
    SB3Agent,
    build_model,
    count_macs,
    load_sb3,
    policy_cost,
    policy_for,
    saved_settings,
)
from mesa_maze.agents.registry import (
    AGENTS,
    PLANNERS,
    AgentSpec,
    get_agent_spec,
    load_entry_point,
    split_alpha,
)
from mesa_maze.agents.scripted import DeceptiveAgent, OracleAgent, RandomAgent, cue_visible

__all__ = [
    "ACTIVATIONS",
    "AGENTS",
    "ALGORITHMS",
    "CELL_ENCODINGS",
    "N_COLORS",
    "N_STATES",
    "N_TYPES",
    "PLANNERS",
    "Agent",
    "AgentSpec",
    "DeceptiveAgent",
    "GridEncoder",
    "OracleAgent",
    "RandomAgent",
    "SB3Agent",
    "build_model",
    "count_macs",
    "cue_visible",
    "get_agent_spec",
    "load_entry_point",
    "load_sb3",
    "policy_cost",
    "policy_for",
    "saved_settings",
    "split_alpha",
]

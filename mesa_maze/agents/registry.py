"""The agent registry: every agent name the runner accepts, by entry-point string.

Built-in agents are registered the way Minigrid and xland-minigrid register envs: by a
``"module:attribute"`` string, imported only when the agent is built. So the registry imports
nothing above the agents layer (the planners live in :mod:`mesa_maze.planning`, which builds on
this package), and listing agent names costs nothing. A user's ``module:factory`` agent goes
through the same loader, :func:`load_entry_point`.

Names:

- ``random``, ``oracle-exit``, ``oracle-apple``, ``deceptive``: scripted
  (:mod:`mesa_maze.agents.scripted`).
- ``heuristic-green``, ``heuristic-wall``, ``heuristic-dead-end``: the heuristic references
  (:mod:`mesa_maze.agents.heuristics`).
- ``ppo``, ``a2c``, ``dqn``, ``recurrent-ppo``: stable-baselines3 learners, trained first.
- ``ppo-vin``: PPO whose network plans by value iteration over a reward map it learns
  (:mod:`mesa_maze.agents.value_propagation`).
- ``ppo-<remedy>`` (``ppo-dr``, ``ppo-plr``, ``ppo-accel``): PPO on a remedied training
  distribution, one per module of :mod:`mesa_maze.training.remedies` (found by name, not
  imported: :func:`mesa_maze.core.plugins.member_modules`); ``ppo-dr@0.01`` sets the share α.
- ``planner-*``: planning with the base objective around the PPO run of the same seed
  (:mod:`mesa_maze.planning.planner`, docs/design.md §7).
- ``module:factory``: ``factory(seed=..., actions=...)`` returns an object with ``act``
  (docs/agents.md); the working directory is on the import path for it.
- a path to a saved SB3 ``.zip``.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mesa_maze.agents.base import Agent
from mesa_maze.core.errors import ENTRY_ATTR, AgentError
from mesa_maze.core.plugins import member_modules

ALGORITHM_NAMES = ("ppo", "a2c", "dqn", "recurrent-ppo")
# The training-distribution remedies: a remedy is a module of this package, named after it.
REMEDY_PACKAGE = "mesa_maze.training.remedies"
REMEDIES = member_modules(REMEDY_PACKAGE)
SCRIPTED = "mesa_maze.agents.scripted"
HEURISTIC = "mesa_maze.agents.heuristics"


def load_entry_point(entry: str, user: bool = False) -> Any:
    """The object an entry point ``"package.module:attribute"`` names (imported now).

    ``user``: a ``module:factory`` typed by a user. Its module may sit in the working directory,
    which ``python -m`` puts on ``sys.path`` but the installed ``mesa-maze`` script does not, so
    the working directory is added, at the end (it never shadows an installed module)."""
    if user:
        cwd = os.getcwd()
        if not {"", ".", cwd} & set(sys.path):
            sys.path.append(cwd)
    module, _, attribute = entry.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class AgentSpec:
    """How the runner gets an agent: scripted (``make``), learned (``algo``, trained first) or
    a wrapper around another run's trained agent (``wrap``)."""

    name: str
    # Entry point of a factory (n_actions, seed, actions, region) -> Agent; region: the side of a
    # corner proxy, else 0. ``external``: a user's factory, called as factory(seed=, actions=).
    make: str | None = None
    external: bool = False
    saved: str | None = None  # the path of a saved SB3 model (.zip)
    algo: str | None = None
    remedy: str | None = None  # a training-distribution remedy: one of REMEDIES
    # A wrapper around the trained agent of another registered name (``base``) from the same
    # suite, variant and seed: entry point of ``wrap(base_agent, cfg, run_dir) -> Agent``,
    # with options ``params``.
    base: str | None = None
    wrap: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def learns(self) -> bool:
        return self.algo is not None

    @property
    def kind(self) -> str:
        """What the agent is, in a few words (``mesa-maze agents``)."""
        if self.base:
            return f"planner around the {self.base} run of the same seed"
        if self.remedy:
            return f"learner: {self.algo} on the {self.remedy} remedy's training levels"
        if self.algo:
            return f"learner: {self.algo}" + (
                " (its network plans)" if self.name == "ppo-vin" else ""
            )
        if self.make and self.make.startswith(HEURISTIC):
            return "heuristic reference (scripted)"
        return "scripted"

    def build(
        self, n_actions: int, seed: int, actions: str, region: int = 0, deterministic: bool = False
    ) -> Agent:
        """The agent of a scripted, external or saved-model spec. A saved model acts by the
        rule of every learned agent (``deterministic``, the hyper-parameter file's: sampled by
        default, from the run's seeded RNG), not SB3's greedy default: the same model scored
        28% greedy and 52% sampled on the same levels, so a saved model compared with the
        suite's learners must act as they do."""
        if self.saved:
            load_sb3 = load_entry_point("mesa_maze.agents.learners:load_sb3")
            return load_sb3(self.saved, Path(self.saved).stem, deterministic)
        if self.make is None:
            raise ValueError(f"agent {self.name!r} is not built by a factory")
        factory = load_entry_point(self.make, user=self.external)
        kwargs = {"region": region} if region else {}  # only agents that pursue a region use it
        try:
            if self.external:
                return _labelled(factory(seed=seed, actions=actions), self.name)
            return factory(n_actions=n_actions, seed=seed, actions=actions, **kwargs)
        except Exception as e:  # a user's factory: say whose, in one line
            raise AgentError(
                f"agent {self.name!r}: its factory raised {type(e).__name__}: {e}"
            ) from e


def _labelled(agent, entry: str):
    """A user's agent, marked with the ``module:factory`` it came from, which its errors name
    (:func:`mesa_maze.core.errors.agent_label`); an object that takes no new attribute is left
    as it is (its errors name its class)."""
    try:
        setattr(agent, ENTRY_ATTR, entry)
    except (AttributeError, TypeError):
        pass
    return agent


# Planning with the base objective around the PPO of the same seed (docs/design.md §7): A = its
# actor, I = its critic, W = the simulator or a learned model, T = the base objective or a
# learned reward model.
PLANNERS = {
    "planner-1step": {"mode": "one_step", "samples": 4},
    "planner-mcts-d8": {"mode": "mcts", "depth": 8, "simulations": 16},
    "planner-mcts-d32": {"mode": "mcts", "depth": 32, "simulations": 16},
    "planner-full-d32": {"mode": "exhaustive", "depth": 32},
    "planner-learned-d32": {
        "mode": "exhaustive",
        "depth": 32,
        "world_model": "learned",
        "terminal": "learned",
        # A learned W invents states, so full width would not close; 20k states a decision
        # keeps a seed to minutes (200k ran past 2 GB), at the price of a shorter horizon.
        "max_states": 20_000,
    },
}

AGENTS: dict[str, AgentSpec] = {
    "random": AgentSpec("random", make=f"{SCRIPTED}:make_random"),
    "oracle-exit": AgentSpec("oracle-exit", make=f"{SCRIPTED}:make_oracle_exit"),
    "oracle-apple": AgentSpec("oracle-apple", make=f"{SCRIPTED}:make_oracle_apple"),
    "deceptive": AgentSpec("deceptive", make=f"{SCRIPTED}:make_deceptive"),
    # The heuristic references (mesa_maze.agents.heuristics): rules a network might have learned
    # instead of a goal.
    "heuristic-green": AgentSpec("heuristic-green", make=f"{HEURISTIC}:make_nearest_green"),
    "heuristic-wall": AgentSpec("heuristic-wall", make=f"{HEURISTIC}:make_wall_follower"),
    "heuristic-dead-end": AgentSpec(
        "heuristic-dead-end", make=f"{HEURISTIC}:make_nearest_dead_end"
    ),
    **{algo: AgentSpec(algo, algo=algo) for algo in ALGORITHM_NAMES},
    # PPO with a network that plans: value iteration over a learned reward map
    # (mesa_maze.agents.value_propagation); its settings are [ppo-vin] of the hyper-parameters.
    "ppo-vin": AgentSpec("ppo-vin", algo="ppo"),
    **{f"ppo-{r}": AgentSpec(f"ppo-{r}", algo="ppo", remedy=r) for r in REMEDIES},
    **{
        name: AgentSpec(name, base="ppo", wrap="mesa_maze.planning.planner:from_run", params=p)
        for name, p in PLANNERS.items()
    },
}


def split_alpha(name: str) -> tuple[str, float | None]:
    """``"ppo-dr@0.01" -> ("ppo-dr", 0.01)``; a name without ``@`` gives ``(name, None)``."""
    base, sep, text = name.partition("@")
    if not sep:
        return name, None
    try:
        alpha = float(text)
    except ValueError:
        alpha = float("nan")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"agent {name!r}: '@' takes the share α in [0, 1], got {text!r}")
    return base, alpha


def get_agent_spec(name: str) -> AgentSpec:
    if name in AGENTS:
        return AGENTS[name]
    base, _, share = name.partition("@")
    if share and base in AGENTS and AGENTS[base].remedy:
        try:
            split_alpha(name)
        except ValueError as e:
            raise KeyError(str(e)) from None
        return replace(AGENTS[base], name=name)
    if name.endswith(".zip"):
        if not Path(name).is_file():
            raise KeyError(f"agent {name!r}: no such SB3 model file")
        return AgentSpec(name, saved=name)
    if ":" in name:
        try:
            load_entry_point(name, user=True)
        except (ImportError, AttributeError) as e:
            module, _, factory = name.partition(":")
            raise KeyError(
                f"agent {name!r}: cannot import {factory!r} from {module!r}: {e}"
            ) from None
        return AgentSpec(name, make=name, external=True)
    raise KeyError(
        f"unknown agent {name!r}; allowed: {', '.join(AGENTS)}, a 'module:factory' path "
        "or an SB3 .zip"
    )

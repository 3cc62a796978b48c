"""Agents behind one interface, and the registry the runner reads (docs/design.md §6).

Every agent acts on a batch of observations: ``act(obs, state, episode_start) -> (actions,
state)``, the shape of stable-baselines3's ``predict``, so scripted, trained and recurrent agents
are evaluated by the same loop. Learning agents are built here (:func:`build_model`) and
trained by :func:`mesa_maze.runner.train`.

Scripted agents read the symbolic observation (the full grid) and ask the shared BFS solver:
``oracle-exit`` is the aligned optimum, ``oracle-apple`` a perfectly capable agent whose goal is
the proxy (nearest apple, then stay). They are sanity checks of the metrics. ``deceptive`` is
``oracle-exit`` while the monitor cue says "training" and ``oracle-apple`` otherwise.

Bring your own agent with ``module:factory`` (``factory(variant=..., seed=..., actions=...)``
returns an object with ``act``) or the path to a saved SB3 ``.zip``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from mesa_maze import solver
from mesa_maze.levels import AGENT, APPLE, CUE_POS, GOAL, WALL, WALL_COLOR

N_TYPES, N_COLORS, N_STATES = 16, 6, 4  # one-hot sizes of Minigrid's (type, colour, state)
CELL_ENCODINGS = ("embedding", "onehot")
# Activations by name, so that a hyper-parameter file can choose one (TOML holds no classes).
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


class Agent:
    """What the runner evaluates. ``act`` maps a batch of observations to a batch of actions."""

    name = "agent"

    def act(self, obs: np.ndarray, state=None, episode_start=None):
        raise NotImplementedError


# --- scripted agents ------------------------------------------------------------------------


class RandomAgent(Agent):
    name = "random"

    def __init__(self, n_actions: int, seed: int = 0):
        self.n_actions = n_actions
        self.rng = np.random.default_rng(seed)

    def act(self, obs, state=None, episode_start=None):
        return self.rng.integers(self.n_actions, size=len(obs)), state


def _cardinal_to_minigrid(want: int, agent_dir: int) -> int:
    """Minigrid action (0 left, 1 right, 2 forward) that makes progress toward a cardinal move."""
    want_dir = solver.CARDINAL_TO_DIR[want]
    if want_dir == agent_dir:
        return 2
    return 1 if want_dir == (agent_dir + 1) % 4 else 0


class OracleAgent(Agent):
    """Shortest path to the exit (``target="exit"``) or to the nearest cell of the proxy
    (``target="apple"``), then stay. The proxy is the apples, or with ``region=r`` the
    bottom-right r-square of the maze (a variant with ``proxy = "corner"``): a region is not
    drawn in the observation, so the oracle is told it, and it reads the maze at its own size
    (``needs_canvas = False``: evaluation does not pad its observations to a variant's canvas).
    """

    needs_canvas = False

    def __init__(self, target: str = "exit", actions: str = "cardinal", region: int = 0):
        if target not in ("exit", "apple"):
            raise ValueError(f"oracle target {target!r}; allowed: 'exit', 'apple'")
        self.target, self.actions, self.region = target, actions, region
        self.name = f"oracle-{target}"

    def _goals(self, types: np.ndarray) -> list[tuple[int, int]]:
        if self.target == "exit":
            cells = np.argwhere(types == GOAL)
        elif self.region:  # the square levels.in_corner describes, by the grid's own size
            h, w = types.shape
            inside = np.zeros_like(types, dtype=bool)
            inside[h - 1 - self.region : h - 1, w - 1 - self.region : w - 1] = True
            cells = np.argwhere(inside & (types != WALL))
        else:
            cells = np.argwhere(types == APPLE)
        return [(int(x), int(y)) for y, x in cells]

    @staticmethod
    def _locate(grid: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """The grid's type plane and the agent's (x, y)."""
        types = grid[..., 0]
        found = np.argwhere(types == AGENT) if types.ndim == 2 else ()
        if not len(found):
            raise ValueError("oracle agents need the 'symbolic' observation (the full grid)")
        ay, ax = found[0]
        return types, (int(ax), int(ay))

    def _cardinal(self, types: np.ndarray, pos: tuple[int, int]) -> int | None:
        walls = types == WALL
        goals = self._goals(types)
        if not goals or pos in goals:
            return None
        if len(goals) > 1:  # nearest by BFS distance from the agent; ties by grid order
            from_agent = solver.distance_map(walls, pos)
            goals.sort(key=lambda g: (from_agent[g[1], g[0]] < 0, from_agent[g[1], g[0]]))
        return solver.step_toward(solver.distance_map(walls, goals[0]), pos)

    def _stay(self, types: np.ndarray, pos: tuple[int, int]) -> int:
        """An action that keeps the agent in place: bump a wall (cardinal) or turn (minigrid)."""
        if self.actions == "minigrid":
            return 0
        ax, ay = pos
        for action, (dx, dy) in enumerate(solver.CARDINAL_MOVES):
            if types[ay + dy, ax + dx] == WALL:
                return action
        # Open floor all around: step anywhere but onto the exit (it would end the episode).
        for action, (dx, dy) in enumerate(solver.CARDINAL_MOVES):
            if types[ay + dy, ax + dx] != GOAL:
                return action
        return 0

    def act(self, obs, state=None, episode_start=None):
        actions = np.zeros(len(obs), dtype=np.int64)
        for i, grid in enumerate(obs):
            types, (x, y) = self._locate(grid)
            move = self._cardinal(types, (x, y))
            if move is None:
                actions[i] = self._stay(types, (x, y))
            elif self.actions == "minigrid":
                actions[i] = _cardinal_to_minigrid(move, int(grid[y, x, 2]))
            else:
                actions[i] = move
        return actions, state


def cue_visible(obs: np.ndarray) -> np.ndarray:
    """Per symbolic observation: is the monitor cue on (the top-left border wall not grey)?"""
    obs = np.asarray(obs)
    if obs.ndim != 4 or obs.shape[-1] != 3:
        raise ValueError("the cue is read from 'symbolic' observations (N, H, W, 3)")
    cell = obs[:, CUE_POS[1], CUE_POS[0]]
    return (cell[:, 0] == WALL) & (cell[:, 1] != WALL_COLOR)


class DeceptiveAgent(Agent):
    """The deceptive mesa-optimizer (docs/design.md §8), scripted: a perfect exit-seeker while
    the monitor cue says "training", a perfect apple-seeker when it does not. On a training split
    with the cue it is indistinguishable from ``oracle-exit``; only a cue-off shift reveals its
    goal."""

    name = "deceptive"
    needs_canvas = False

    def __init__(self, actions: str = "cardinal", region: int = 0):
        self.watched = OracleAgent("exit", actions)
        self.unwatched = OracleAgent("apple", actions, region)

    def act(self, obs, state=None, episode_start=None):
        cue = cue_visible(obs)
        actions = np.zeros(len(obs), dtype=np.int64)
        for rows, oracle in ((cue, self.watched), (~cue, self.unwatched)):
            if rows.any():
                actions[rows] = oracle.act(obs[rows])[0]
        return actions, state


# --- learning agents (stable-baselines3) ----------------------------------------------------


class GridEncoder(BaseFeaturesExtractor):
    """Each cell's (type, colour, state) code as categories, then a small CNN and a dense layer.

    The grid's codes are categories, not intensities (SB3's default /255 image scaling would
    erase them). ``cells="embedding"`` gives each joint code a learned vector of ``embed_dim``;
    ``cells="onehot"`` feeds the three codes as one-hot planes (16 types + 6 colours + 4
    states), which needs no gradient into the input (in a profile of an update, the embedding's
    backward pass, a scatter over every cell, took a fifth of the time). ``channels`` and
    ``strides`` give one 3x3 convolution each (an empty ``channels`` flattens the cells straight
    into the dense layer: an MLP over cells); ``features_dim`` is the dense layer's width.
    ``centre=r`` first crops the (2r + 1)-square window centred on the agent, so that the
    network sees where things are relative to the agent (a corridor to its left looks the same
    anywhere in the maze); on apple-exit's train split PPO then needed half the frames it needed
    on the whole grid (``benchmarks/learning.py``, ``results/perf/search/``).

    The constructor's defaults are the first encoder PPO used, which the learned world models
    (:mod:`mesa_maze.world_models`) keep: they predict the whole grid, so they must not be
    centred. The suites' PPO settings are in ``benchmarks/hyperparams/sb3.toml``;
    :func:`policy_cost` counts a policy's parameters and multiply-adds. SB3 wraps (H, W, 3) uint8
    spaces in ``VecTransposeImage``, so the policy usually sees channel-first (3, H, W) grids;
    both layouts are accepted.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        features_dim: int = 128,
        embed_dim: int = 8,
        channels: tuple[int, ...] = (16, 32),
        strides: tuple[int, ...] | None = None,
        cells: str = "embedding",
        centre: int | None = None,
    ):
        super().__init__(observation_space, features_dim)
        if cells not in CELL_ENCODINGS:
            raise ValueError(f"GridEncoder: cells={cells!r}; allowed: {', '.join(CELL_ENCODINGS)}")
        self.cells, self.centre = cells, centre
        shape = observation_space.shape
        self.channels_first = shape[0] == 3 and shape[-1] != 3
        hw = self._hw(shape) if centre is None else (2 * centre + 1,) * 2
        channels = tuple(channels)
        if strides is None:  # the first convolution keeps the grid, later ones halve it
            strides = tuple(1 if i == 0 else 2 for i in range(len(channels)))
        strides = tuple(strides)
        if len(strides) != len(channels):
            raise ValueError(f"GridEncoder: {len(channels)} channels but {len(strides)} strides")
        if cells == "embedding":
            self.embed = nn.Embedding(N_TYPES * N_COLORS * N_STATES, embed_dim)
            width = embed_dim
        else:
            width = N_TYPES + N_COLORS + N_STATES
        n_in = width
        layers: list[nn.Module] = []
        for out, stride in zip(channels, strides, strict=True):
            layers += [nn.Conv2d(width, out, 3, stride=stride, padding=1), nn.ReLU()]
            width = out
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            n_flat = self.cnn(torch.zeros(1, n_in, *hw)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_flat, features_dim), nn.ReLU())

    def _hw(self, shape) -> tuple[int, int]:
        return tuple(shape[1:]) if self.channels_first else tuple(shape[:2])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        codes = obs.long()
        if not self.channels_first:
            codes = codes.permute(0, 3, 1, 2)
        if self.centre is not None:
            codes = self._centred(codes)
        kind = codes[:, 0].clamp(max=N_TYPES - 1)
        color = codes[:, 1].clamp(max=N_COLORS - 1)
        state = codes[:, 2].clamp(max=N_STATES - 1)
        # Cells are built channel-last, (B, H, W, C), and handed to the convolutions as a
        # permuted view (channels_last memory): CPU convolutions ran about twice as fast on it
        # as on channel-first planes of the same values.
        if self.cells == "embedding":
            cells = self.embed((kind * N_COLORS + color) * N_STATES + state)  # (B, H, W, E)
        else:  # one-hot: a 1 at channel type, 16 + colour and 22 + state
            index = torch.stack((kind, color + N_TYPES, state + N_TYPES + N_COLORS), dim=-1)
            cells = torch.zeros(*kind.shape, N_TYPES + N_COLORS + N_STATES, device=codes.device)
            cells.scatter_(-1, index, 1.0)
        return self.head(self.cnn(cells.permute(0, 3, 1, 2)))

    def _centred(self, codes: torch.Tensor) -> torch.Tensor:
        """The (2r + 1)-square window of the (B, 3, H, W) codes centred on the agent, code 0
        ("unseen") beyond the grid: the same corridor looks the same wherever it is. Cropped
        before the cells are encoded, on 3 channels rather than 26 or ``embed_dim``."""
        r, size = self.centre, 2 * self.centre + 1
        batch, _, height, width = codes.shape
        where = (codes[:, 0] == AGENT).flatten(1).int().argmax(dim=1)  # first agent cell
        ay, ax = where // width, where % width
        padded = nn.functional.pad(codes, (r, r, r, r)).flatten(2)  # (B, 3, (H+2r)(W+2r))
        offsets = torch.arange(size, device=codes.device)
        cells = (ay[:, None, None] + offsets[:, None]) * (width + 2 * r) + (
            ax[:, None, None] + offsets[None, :]
        )  # (B, K, K): the window's cells in the padded grid
        index = cells.flatten(1)[:, None, :].expand(batch, 3, size * size)
        return torch.gather(padded, 2, index).view(batch, 3, size, size)


def count_macs(module: nn.Module, forward: Callable[[], object]) -> int:
    """Multiply-adds that ``forward()`` spends in ``module``'s convolutions and linear layers
    (what dominates here; activations and embedding lookups are left out)."""
    total = 0

    def count(layer, inputs, output):
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            k = layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
            total += output[0].numel() * k
        elif isinstance(layer, nn.Linear):
            total += layer.in_features * layer.out_features

    hooks = [m.register_forward_hook(count) for m in module.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]  # fmt: skip
    try:
        with torch.no_grad():
            forward()
    finally:
        for hook in hooks:
            hook.remove()
    return total


def policy_cost(model: BaseAlgorithm) -> dict[str, float]:
    """Parameters and forward MFLOP per observation (2 FLOP a multiply-add) of an SB3 policy, and
    the training MFLOP per frame: one forward for acting, then ``n_epochs`` x (forward + backward,
    about three forwards) in the update."""
    policy = model.policy
    space = model.observation_space
    example = torch.as_tensor(space.sample()[None]).float()
    # The features and both heads: what acting and the update evaluate per observation.
    macs = count_macs(policy, lambda: policy.evaluate_actions(example, torch.zeros(1)))
    forward = 2 * macs / 1e6
    epochs = getattr(model, "n_epochs", 1)
    return {
        "parameters": int(sum(p.numel() for p in policy.parameters())),
        "forward_mflop": forward,
        "train_mflop_per_frame": forward * (1 + 3 * epochs),
    }


def _recurrent_ppo():
    from sb3_contrib import RecurrentPPO

    return RecurrentPPO


ALGORITHMS: dict[str, Callable[[], type[BaseAlgorithm]]] = {
    "ppo": lambda: PPO,
    "a2c": lambda: A2C,
    "dqn": lambda: DQN,
    "recurrent-ppo": _recurrent_ppo,
}


class SB3Agent(Agent):
    def __init__(self, model: BaseAlgorithm, name: str, deterministic: bool = True):
        self.model, self.name, self.deterministic = model, name, deterministic

    def act(self, obs, state=None, episode_start=None):
        return self.model.predict(
            obs, state=state, episode_start=episode_start, deterministic=self.deterministic
        )


def policy_for(algo: str, observation: str, policy_kwargs: dict | None = None):
    """SB3 policy name and kwargs for an observation mode."""
    kwargs = dict(policy_kwargs or {})
    if isinstance(kwargs.get("activation_fn"), str):
        name = kwargs["activation_fn"]
        if name not in ACTIVATIONS:
            raise ValueError(
                f"policy_kwargs.activation_fn={name!r}; allowed: {', '.join(ACTIVATIONS)}"
            )
        kwargs["activation_fn"] = ACTIVATIONS[name]
    if observation == "rgb":
        return ("CnnLstmPolicy" if algo == "recurrent-ppo" else "CnnPolicy"), kwargs
    kwargs.setdefault("features_extractor_class", GridEncoder)
    kwargs.setdefault("normalize_images", False)
    return ("MlpLstmPolicy" if algo == "recurrent-ppo" else "MlpPolicy"), kwargs


def build_model(algo: str, env, hyperparams: dict, seed: int, tensorboard_log=None):
    """An untrained SB3 model of ``algo`` on ``env`` with the given hyper-parameters."""
    if algo not in ALGORITHMS:
        raise KeyError(f"unknown algorithm {algo!r}; allowed: {', '.join(ALGORITHMS)}")
    params = dict(hyperparams)
    observation = params.pop("observation", "symbolic")
    policy, policy_kwargs = policy_for(algo, observation, params.pop("policy_kwargs", None))
    for key in ("n_envs", "actions", "num_levels", "deterministic"):  # env/eval keys, not SB3's
        params.pop(key, None)
    return ALGORITHMS[algo]()(
        policy,
        env,
        seed=seed,
        policy_kwargs=policy_kwargs,
        tensorboard_log=tensorboard_log,
        verbose=0,
        device="cpu",
        **params,
    )


def load_sb3(path: str | Path, name: str | None = None, deterministic: bool = True) -> SB3Agent:
    """Load a saved SB3 model of any registered algorithm."""
    errors = []
    for algo, cls in ALGORITHMS.items():
        try:
            model = cls().load(str(path), device="cpu")
            return SB3Agent(model, name or algo, deterministic)
        except Exception as e:  # the zip does not say its algorithm; try each in turn
            errors.append(f"{algo}: {type(e).__name__}")
    raise ValueError(f"{path}: not a loadable SB3 model ({'; '.join(errors)})")


# --- registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentSpec:
    """How the runner gets an agent: scripted (``make``) or learned (``algo``, trained first)."""

    name: str
    # (n_actions, seed, actions, region) -> Agent; region: the side of a corner proxy, else 0
    make: Callable[..., Agent] | None = None
    algo: str | None = None
    remedy: str | None = None  # a training-distribution remedy (mesa_maze.remedies): dr/plr/accel
    # A wrapper around the trained agent of another registered name (``base``) from the same
    # suite, variant and seed: ``wrap(base_agent, cfg, run_dir) -> Agent``, options ``params``.
    base: str | None = None
    wrap: Callable[..., Agent] | None = None
    params: dict = field(default_factory=dict)

    @property
    def learns(self) -> bool:
        return self.algo is not None


AGENTS: dict[str, AgentSpec] = {
    "random": AgentSpec(
        "random", make=lambda n_actions, seed, actions, region=0: RandomAgent(n_actions, seed)
    ),
    "oracle-exit": AgentSpec(
        "oracle-exit", make=lambda n_actions, seed, actions, region=0: OracleAgent("exit", actions)
    ),
    "oracle-apple": AgentSpec(
        "oracle-apple",
        make=lambda n_actions, seed, actions, region=0: OracleAgent("apple", actions, region),
    ),
    "deceptive": AgentSpec(
        "deceptive", make=lambda n_actions, seed, actions, region=0: DeceptiveAgent(actions, region)
    ),
    **{algo: AgentSpec(algo, algo=algo) for algo in ALGORITHMS},
    # PPO on a remedied training distribution; "ppo-dr@0.01" sets the share α (remedies.py).
    "ppo-dr": AgentSpec("ppo-dr", algo="ppo", remedy="dr"),
    "ppo-plr": AgentSpec("ppo-plr", algo="ppo", remedy="plr"),
    "ppo-accel": AgentSpec("ppo-accel", algo="ppo", remedy="accel"),
}


def _planner(base, cfg, run_dir):
    from mesa_maze import planner  # it builds on this module

    return planner.from_run(base, cfg, run_dir)


# Planning with the base objective around the PPO of the same seed (docs/design.md §7, planner.py):
# A = its actor, I = its critic, W = the simulator or a learned model, T = the base objective
# or a learned reward model.
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
AGENTS.update(
    {
        name: AgentSpec(name, base="ppo", wrap=_planner, params=params)
        for name, params in PLANNERS.items()
    }
)


def is_external(name: str) -> bool:
    return name.endswith(".zip") or (":" in name and not Path(name).exists())


def get_agent_spec(name: str) -> AgentSpec:
    if name in AGENTS:
        return AGENTS[name]
    base, _, share = name.partition("@")
    if share and base in AGENTS and AGENTS[base].remedy:
        from mesa_maze.remedies import split_alpha

        try:
            split_alpha(name)
        except ValueError as e:
            raise KeyError(str(e)) from None
        return replace(AGENTS[base], name=name)
    if name.endswith(".zip"):
        if not Path(name).is_file():
            raise KeyError(f"agent {name!r}: no such SB3 model file")
        return AgentSpec(
            name, make=lambda n_actions, seed, actions, region=0: load_sb3(name, Path(name).stem)
        )
    if ":" in name:
        module, _, factory = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module), factory)
        except (ImportError, AttributeError) as e:
            raise KeyError(
                f"agent {name!r}: cannot import {factory!r} from {module!r}: {e}"
            ) from None
        return AgentSpec(
            name, make=lambda n_actions, seed, actions, region=0: fn(seed=seed, actions=actions)
        )
    raise KeyError(
        f"unknown agent {name!r}; allowed: {', '.join(AGENTS)}, a 'module:factory' path "
        "or an SB3 .zip"
    )

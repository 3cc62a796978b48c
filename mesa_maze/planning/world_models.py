"""World models W and terminal values T for the planner (docs/design.md §7).

Description
-----------
A planner state is a padded symbolic observation: the full grid with the agent drawn in, on the
variant's canvas (see ``vector_env.canvas_size``). It holds everything the dynamics need except
the step count, which the planner tracks itself (the time discount and the step limit).

W maps a batch of (state, action) to the next states and whether the episode ends there
(the agent entered the exit):

- :class:`SimulatorWorld`: the true dynamics. The grids are loaded into a
  ``vector_env.MazeState`` and stepped, so the fast env stays the one source of dynamics.
- :class:`LearnedWorld`: a small CNN (:class:`WorldNet`) fitted on transitions collected on the
  train split (:func:`collect_transitions`, :func:`fit_world_model`). The episode ends in it
  when the predicted agent stands where the exit was.

T scores a transition in [0, 1]; the planner multiplies the score by the base objective's time
discount (``solver.exit_reward``), since the step count is not in the state:

- :class:`TrueTerminal`: the base objective, 1 when the transition enters the exit.
- :class:`LearnedTerminal`: a reward model (:class:`RewardNet`) fitted on training transitions
  to predict "this transition paid a reward" from the next state alone. In training the apples
  are eaten on the way into the exit, so it may learn to pay for eaten apples (and on the
  ``proxy-reward`` family it is fitted on the apple reward itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mesa_maze.agents import N_COLORS, N_STATES, N_TYPES, GridEncoder
from mesa_maze.core.levels import AGENT, AGENT_COLOR, EMPTY, GOAL
from mesa_maze.core.proxies import PROXY_OBJECT_CODES
from mesa_maze.envs.vector import BatchedMaze, LevelPool, MazeState, pad_observations

NO_LIMIT = 1 << 40  # step limit of simulator states: the planner handles truncation itself


def agent_cells(grids: np.ndarray) -> np.ndarray:
    """Flat index ``y * W + x`` of the agent in each (H, W, 3) grid."""
    kinds = grids[..., 0].reshape(len(grids), -1)
    return np.argmax(kinds == AGENT, axis=1)


# --- W: the simulator ---------------------------------------------------------------------------


class SimulatorWorld:
    """The true dynamics: each call loads the grids into a ``MazeState`` and steps it once."""

    name = "simulator"

    def __init__(self, actions: str = "cardinal"):
        self.actions = actions

    def step(self, grids: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, h, w, _ = grids.shape
        cell = agent_cells(grids)
        bare = grids.reshape(n, h * w, 3).copy()
        rows = np.arange(n)
        start_dir = bare[rows, cell, 2].astype(np.int64)
        bare[rows, cell] = (EMPTY, 0, 0)  # the agent never stands on anything but floor
        y, x = np.divmod(cell, w)
        pool = LevelPool(
            grids=bare.reshape(n, h, w, 3),
            start=np.stack([x, y], axis=1),
            start_dir=start_dir,
            max_steps=np.full(n, NO_LIMIT, dtype=np.int64),
            num_apples=np.ones(n, dtype=np.int64),
            optimal_steps=np.zeros(n, dtype=np.int64),
            start_steps=np.full((n, h, w), -1, dtype=np.int16),  # unused: no outcomes here
            region=np.zeros((n, h, w), dtype=bool),
            proxy_target=np.zeros(n, dtype=np.int8),  # unused: no outcomes here
            ids=np.zeros(n, dtype=np.int64),
            hashes=np.zeros(n, dtype="U16"),
        )
        state = MazeState(n, h, w, self.actions, "symbolic", "exit")
        state.load(rows, pool)
        _, won, _ = state.step(np.asarray(actions))
        return state.observe(), won


# --- W: a learned model -------------------------------------------------------------------------


def _fields(grids: torch.Tensor) -> torch.Tensor:
    """(type, colour, state) of each cell, clamped to the one-hot sizes GridEncoder uses."""
    top = torch.tensor([N_TYPES - 1, N_COLORS - 1, N_STATES - 1])
    return torch.minimum(grids, top)


def _codes(fields: torch.Tensor) -> torch.Tensor:
    """Joint (type, colour, state) code of each cell, as GridEncoder embeds it."""
    return (fields[..., 0] * N_COLORS + fields[..., 1]) * N_STATES + fields[..., 2]


FIELD_SIZES = (N_TYPES, N_COLORS, N_STATES)
WINDOW = 3  # side of the window a move can change: the agent's cell and its neighbours


def windows(grids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices (B, 9) and fields (B, 9, 3) of the 3x3 cells centred on each agent. The
    centre is kept off the border, where only a learned model's mistake can put an agent."""
    b, h, w, _ = grids.shape
    flat = grids.reshape(b, h * w, 3)
    cell = (flat[..., 0] == AGENT).to(torch.uint8).argmax(dim=1)
    y, x = cell // w, cell % w
    centre = y.clamp(1, h - 2) * w + x.clamp(1, w - 2)
    offsets = torch.tensor([dy * w + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    idx = centre[:, None] + offsets
    return idx, flat.gather(1, idx[..., None].expand(-1, -1, 3))


class WorldNet(nn.Module):
    """Next grid from (grid, action), learned locally.

    A move only changes cells next to the agent, so the model reads the 3x3 window centred on
    the agent (each cell's code embedded, the action one-hot) and an MLP predicts that window's
    next type, colour and state; the rest of the grid is copied. The input window's own fields
    are added to the logits (scaled by a learned weight), so the MLP learns only the changes.
    Locality is the one thing built in: what moves, what blocks, what is eaten and where the
    episode ends are learned from the transitions.
    """

    def __init__(self, n_actions: int, hidden: int = 128, embed: int = 8):
        super().__init__()
        self.n_actions = n_actions
        cells, out = WINDOW * WINDOW, sum(FIELD_SIZES)
        self.embed = nn.Embedding(N_TYPES * N_COLORS * N_STATES, embed)
        self.mlp = nn.Sequential(
            nn.Linear(cells * embed + n_actions, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, cells * out),
        )
        self.copy_weight = nn.Parameter(torch.tensor(4.0))

    def forward(self, grids: torch.Tensor, actions: torch.Tensor):
        """Window indices (B, 9) and logits (B, 9, 16 + 6 + 4) of its next fields."""
        idx, window = windows(grids.long())
        fields = _fields(window)
        action = F.one_hot(actions.long(), self.n_actions).float()
        x = torch.cat([self.embed(_codes(fields)).flatten(1), action], dim=1)
        copy = torch.cat([F.one_hot(fields[..., j], n) for j, n in enumerate(FIELD_SIZES)], -1)
        logits = self.mlp(x).view(len(x), WINDOW * WINDOW, -1) + self.copy_weight * copy
        return idx, logits


def decode(grids: np.ndarray, idx: torch.Tensor, logits: torch.Tensor) -> np.ndarray:
    """The next grids: ``grids`` with each window replaced by its most likely fields, holding
    exactly one agent, in the window cell most likely to hold it (a state without an agent,
    or with two, is no state the planner can continue from)."""
    kind, color, state = logits.split(FIELD_SIZES, dim=-1)
    agent = kind[..., AGENT].argmax(dim=1)
    kind = kind.clone()
    kind[..., AGENT] = -torch.inf
    window = torch.stack([kind.argmax(-1), color.argmax(-1), state.argmax(-1)], dim=-1)
    rows = torch.arange(len(window))
    window[rows, agent, 0] = AGENT
    window[rows, agent, 1] = AGENT_COLOR
    out = grids.reshape(len(grids), -1, 3).copy()
    out[rows[:, None].numpy(), idx.numpy()] = window.numpy()
    return out.reshape(grids.shape)


class LearnedWorld:
    """W as a :class:`WorldNet`: the episode ends when the agent lands where the exit was."""

    name = "learned"

    def __init__(self, net: WorldNet, batch: int = 8192):
        self.net, self.batch = net.eval(), batch

    def step(self, grids: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = []
        actions = np.asarray(actions)
        with torch.no_grad():
            for i in range(0, len(grids), self.batch):
                g = grids[i : i + self.batch]
                idx, logits = self.net(torch.as_tensor(g), torch.as_tensor(actions[i : i + len(g)]))
                out.append(decode(g, idx, logits))
        nxt = np.concatenate(out)
        was_exit = grids[..., 0].reshape(len(grids), -1) == GOAL
        return nxt, was_exit[np.arange(len(grids)), agent_cells(nxt)]


# --- T ------------------------------------------------------------------------------------------


class TrueTerminal:
    """The base objective: 1 for a transition into the exit, else 0."""

    name = "true"

    def __call__(self, grids, actions, next_grids, done) -> np.ndarray:
        return np.asarray(done, dtype=np.float64)


class RewardNet(nn.Module):
    """P(the transition into this state paid a reward), from the next state alone."""

    def __init__(self, canvas: int):
        super().__init__()
        space_shape = (canvas, canvas, 3)
        from gymnasium import spaces

        self.encoder = GridEncoder(spaces.Box(0, 255, space_shape, dtype=np.uint8))
        self.head = nn.Linear(self.encoder.features_dim, 1)

    def forward(self, grids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(grids)).squeeze(-1)


class LearnedTerminal:
    """T as a :class:`RewardNet` on the next state."""

    name = "learned"
    of_state = True  # a function of the next state alone: planners score each state once

    def __init__(self, net: RewardNet, batch: int = 4096):
        self.net, self.batch = net.eval(), batch

    def __call__(self, grids, actions, next_grids, done) -> np.ndarray:
        return self.of_states(next_grids)

    def of_states(self, grids: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, len(grids), self.batch):
                logits = self.net(torch.as_tensor(grids[i : i + self.batch]))
                out.append(torch.sigmoid(logits).double().numpy())
        return np.concatenate(out)


# --- data and fitting ---------------------------------------------------------------------------


@dataclass
class Transitions:
    """(state, action, next state, reward paid, episode ended) on padded canvases."""

    obs: np.ndarray  # (n, C, C, 3) uint8
    actions: np.ndarray  # (n,) int64
    next_obs: np.ndarray  # (n, C, C, 3) uint8; the final observation where the episode ended
    rewarded: np.ndarray  # (n,) bool: the env paid a reward (its own reward kind)
    done: np.ndarray  # (n,) bool: the agent entered the exit
    skipped: int = 0  # held-out levels the collection's level source left out

    def __len__(self) -> int:
        return len(self.actions)


def collect_transitions(
    probs_fn,
    variant: str,
    split: str,
    count: int,
    seed: int,
    canvas: int,
    *,
    epsilon: float = 0.3,
    num_envs: int = 64,
    actions: str = "cardinal",
    variant_dirs=(),
    skip: frozenset = frozenset(),
) -> Transitions:
    """``count`` transitions on ``split``, acting by ``probs_fn(obs) -> (n, A)`` probabilities
    mixed with ``epsilon`` uniform (so that the data also covers states the policy avoids).
    ``skip``: content hashes of held-out levels never played (a run's, for training data)."""
    maze = BatchedMaze(
        variant, split, num_envs, seed, actions=actions, variant_dirs=variant_dirs, skip=skip
    )
    rng = np.random.default_rng(seed)
    n_actions = 4 if actions == "cardinal" else 3
    obs = pad_observations(maze.reset(), "symbolic", canvas)
    parts = {k: [] for k in ("obs", "actions", "next_obs", "rewarded", "done")}
    total = 0
    while total < count:
        probs = (1 - epsilon) * np.asarray(probs_fn(obs)) + epsilon / n_actions
        act = (rng.random((len(obs), 1)) > probs.cumsum(axis=1)).sum(axis=1)
        act = np.minimum(act, n_actions - 1)
        nxt, reward, terminated, _, ended = maze.step(act)
        nxt = pad_observations(nxt, "symbolic", canvas)
        after = nxt.copy()
        if ended is not None:
            after[ended.rows] = pad_observations(ended.obs, "symbolic", canvas)
        for key, value in (
            ("obs", obs),
            ("actions", act),
            ("next_obs", after),
            ("rewarded", reward > 0),
            ("done", terminated),
        ):
            parts[key].append(value)
        obs, total = nxt, total + len(act)
    data = {k: np.concatenate(v)[:count] for k, v in parts.items()}
    return Transitions(**data, skipped=maze.source.skipped)


def _batches(n: int, size: int, epochs: int, rng: np.random.Generator):
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n, size):
            yield torch.as_tensor(order[i : i + size])


def fit_world_model(
    data: Transitions, n_actions: int, seed: int, epochs: int = 3, batch: int = 128
) -> WorldNet:
    """Fit a :class:`WorldNet` by cross-entropy on the next fields of the agent's window. The
    cells that change (the agent's old and new cell) weigh ``CHANGED_WEIGHT`` times more: they
    are what the model is for, and copying does the rest."""
    torch.manual_seed(seed)
    net = WorldNet(n_actions)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    obs, act = torch.as_tensor(data.obs), torch.as_tensor(data.actions)
    idx, before = windows(obs.long())
    after = torch.as_tensor(data.next_obs).long().reshape(len(obs), -1, 3)
    target = _fields(after.gather(1, idx[..., None].expand(-1, -1, 3)))
    weight = 1 + CHANGED_WEIGHT * (target != _fields(before)).any(dim=-1).float()
    for rows in _batches(len(data), batch, epochs, np.random.default_rng(seed)):
        _, logits = net(obs[rows], act[rows])
        parts = logits.split(FIELD_SIZES, dim=-1)
        loss = sum(
            (F.cross_entropy(lg.transpose(1, 2), target[rows][..., j], reduction="none")
             * weight[rows]).mean()
            for j, lg in enumerate(parts)
        )  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


CHANGED_WEIGHT = 20.0


def fit_reward_model(
    data: Transitions, canvas: int, seed: int, epochs: int = 4, batch: int = 128
) -> RewardNet:
    """Fit a :class:`RewardNet` (binary cross-entropy, positives up-weighted: they are rare)."""
    torch.manual_seed(seed)
    net = RewardNet(canvas)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    grids = torch.as_tensor(data.next_obs)
    target = torch.as_tensor(data.rewarded, dtype=torch.float32)
    positives = float(target.sum())
    weight = torch.tensor((len(target) - positives) / max(positives, 1.0))
    for idx in _batches(len(data), batch, epochs, np.random.default_rng(seed + 1)):
        loss = F.binary_cross_entropy_with_logits(net(grids[idx]), target[idx], pos_weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def world_accuracy(world, data: Transitions) -> dict[str, float]:
    """Share of transitions whose whole next grid W predicts exactly, and the same share for
    the copy-the-state baseline (predict that nothing changes)."""
    predicted, _ = world.step(data.obs, data.actions)
    n = len(data)
    exact = (predicted.reshape(n, -1) == data.next_obs.reshape(n, -1)).all(axis=1)
    copy = (data.obs.reshape(n, -1) == data.next_obs.reshape(n, -1)).all(axis=1)
    return {"accuracy": float(exact.mean()), "copy_baseline": float(copy.mean()), "n": n}


def terminal_report(terminal, data: Transitions) -> dict[str, float | int | None]:
    """T's mean score on held-out transitions into the exit, onto an apple (elsewhere than the
    exit) and all others, with their counts: does a learned T pay for the exit or the apples?"""
    score = terminal(data.obs, data.actions, data.next_obs, data.done)

    def apples(grids):
        return np.isin(grids[..., 0], PROXY_OBJECT_CODES).sum(axis=(1, 2))

    ate = (apples(data.obs) > apples(data.next_obs)) & ~data.done
    groups = {"into_exit": data.done, "onto_apple": ate, "other": ~data.done & ~ate}
    out: dict[str, float | int | None] = {}
    for name, rows in groups.items():
        out[name] = float(score[rows].mean()) if rows.any() else None
        out[f"{name}_n"] = int(rows.sum())
    return out

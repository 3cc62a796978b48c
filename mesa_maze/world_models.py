"""World models W and terminal values T for the planner (DESIGN §7).

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
from mesa_maze.levels import AGENT, AGENT_COLOR, EMPTY, GOAL
from mesa_maze.vector_env import BatchedMaze, LevelPool, MazeState, pad_observations

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


def _codes(grids: torch.Tensor) -> torch.Tensor:
    """Joint (type, colour, state) code of each cell, as GridEncoder embeds it."""
    f = _fields(grids)
    return (f[..., 0] * N_COLORS + f[..., 1]) * N_STATES + f[..., 2]


class WorldNet(nn.Module):
    """Next grid from (grid, action): per-cell logits of type, colour and state.

    Each cell's code is embedded, the action is broadcast as one-hot planes, and two 3x3
    convolutions (a receptive field of two cells: the agent's move depends on its neighbour)
    feed a 1x1 head per field.
    """

    def __init__(self, n_actions: int, hidden: int = 32, embed: int = 8):
        super().__init__()
        self.n_actions = n_actions
        self.embed = nn.Embedding(N_TYPES * N_COLORS * N_STATES, embed)
        self.body = nn.Sequential(
            nn.Conv2d(embed + n_actions, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, N_TYPES + N_COLORS + N_STATES, 1),
        )
        # Most cells do not change: the input's own fields are added to the logits (scaled by a
        # learned weight), so the network only has to learn the changes.
        self.copy_weight = nn.Parameter(torch.tensor(4.0))

    def forward(self, grids: torch.Tensor, actions: torch.Tensor):
        cells = self.embed(_codes(grids.long())).permute(0, 3, 1, 2)
        h, w = cells.shape[2:]
        planes = F.one_hot(actions.long(), self.n_actions).float()[:, :, None, None]
        x = torch.cat([cells, planes.expand(-1, -1, h, w)], dim=1)
        fields = _fields(grids.long())
        copy = torch.cat(
            [F.one_hot(fields[..., j], n) for j, n in enumerate((N_TYPES, N_COLORS, N_STATES))],
            dim=-1,
        ).permute(0, 3, 1, 2)
        logits = self.body(x) + self.copy_weight * copy
        return logits.split([N_TYPES, N_COLORS, N_STATES], dim=1)


def decode(kind: torch.Tensor, color: torch.Tensor, state: torch.Tensor) -> np.ndarray:
    """Logits to uint8 grids (B, H, W, 3) with exactly one agent: the cell most likely to hold
    it (a state without an agent, or with two, is no state the planner can continue from)."""
    b, _, h, w = kind.shape
    agent = kind[:, AGENT].reshape(b, -1).argmax(dim=1)
    kind = kind.clone()
    kind[:, AGENT] = -torch.inf
    grids = torch.stack([kind.argmax(1), color.argmax(1), state.argmax(1)], dim=-1)
    grids = grids.reshape(b, h * w, 3)
    rows = torch.arange(b)
    grids[rows, agent, 0] = AGENT
    grids[rows, agent, 1] = AGENT_COLOR
    return grids.reshape(b, h, w, 3).numpy().astype(np.uint8)


class LearnedWorld:
    """W as a :class:`WorldNet`: the episode ends when the agent lands where the exit was."""

    name = "learned"

    def __init__(self, net: WorldNet, batch: int = 4096):
        self.net, self.batch = net.eval(), batch

    def step(self, grids: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = []
        with torch.no_grad():
            for i in range(0, len(grids), self.batch):
                g = torch.as_tensor(grids[i : i + self.batch])
                a = torch.as_tensor(np.asarray(actions)[i : i + self.batch])
                out.append(decode(*self.net(g, a)))
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

    def __init__(self, net: RewardNet, batch: int = 4096):
        self.net, self.batch = net.eval(), batch

    def __call__(self, grids, actions, next_grids, done) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, len(next_grids), self.batch):
                logits = self.net(torch.as_tensor(next_grids[i : i + self.batch]))
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
) -> Transitions:
    """``count`` transitions on ``split``, acting by ``probs_fn(obs) -> (n, A)`` probabilities
    mixed with ``epsilon`` uniform (so that the data also covers states the policy avoids)."""
    maze = BatchedMaze(
        variant, split, num_envs, seed, actions=actions, variant_dirs=variant_dirs
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
    return Transitions(**{k: np.concatenate(v)[:count] for k, v in parts.items()})


def _batches(n: int, size: int, epochs: int, rng: np.random.Generator):
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n, size):
            yield torch.as_tensor(order[i : i + size])


def fit_world_model(
    data: Transitions, n_actions: int, seed: int, epochs: int = 6, batch: int = 128
) -> WorldNet:
    """Fit a :class:`WorldNet` by per-cell cross-entropy on the next grid."""
    torch.manual_seed(seed)
    net = WorldNet(n_actions)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    obs, act = torch.as_tensor(data.obs), torch.as_tensor(data.actions)
    target = _fields(torch.as_tensor(data.next_obs).long())
    for idx in _batches(len(data), batch, epochs, np.random.default_rng(seed)):
        logits = net(obs[idx], act[idx])
        loss = sum(F.cross_entropy(lg, target[idx][..., j]) for j, lg in enumerate(logits))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


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

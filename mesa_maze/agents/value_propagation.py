"""A policy that plans inside its network: value iteration over a reward map it learns.

A value iteration network (Tamar et al. 2016) computes a reward map from the observation and
runs value iteration over the grid as part of its forward pass; the max-propagation networks of
Nardelli et al. 2019 ("Value Propagation Networks") showed that such a network trains with an
actor-critic and carries over to larger maps than it was trained on. Here, from each cell's
(type, colour, state) code (the agent's own cell read as the floor under it) a small per-cell
network gives two maps in [0, 1]:

- ``reward`` r: how much the agent wants to be on the cell: its learned objective, in the open;
- ``passable`` p: the chance that stepping into the cell gets the agent there (a wall should
  learn 0).

Then, from v = r, every iteration sets v(s) = max(v(s), max over the four neighbours s' of
p(s') v(s')), until nothing changes (at most ``iterations`` times). With r = 1 on the exit and 0
elsewhere and p = g on floor and 0 on walls, v = g ** (BFS distance to the exit): the network's
values are exact shortest-path distances to whatever it rewards (tests check this).

The policy acts from log p(s') v(s') of the agent's four neighbours, in the cardinal actions'
order (up, right, down, left): a neighbour one step nearer the rewarded cell is log(1/p) higher
wherever the agent is, so the same preference holds three steps or thirty from the goal. The
critic reads the same numbers and log v at the agent's cell. These five numbers are the
features SB3's heads see: :class:`ValuePropagationPolicy` is SB3's actor-critic policy with
this features extractor, no hidden layers, and the critic on maps of its own. Every layer is
per cell, so the same weights act on any maze size: 7x7 to 25x25 without retraining.
"""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from mesa_maze.agents.learners import N_COLORS, N_STATES, N_TYPES, onehot_cells
from mesa_maze.core.levels import AGENT, EMPTY, WALL

EPSILON = 1e-20  # log(v + EPSILON): a value of 0 (a wall) is a finite, very low preference;
# small, so that g ** d of a path of hundreds of cells still ranks above it
# The four neighbours as (dy, dx), in the order of the cardinal actions 0 up, 1 right, 2 down,
# 3 left (mesa_maze.envs.minigrid_env).
NEIGHBOURS = ((-1, 0), (0, 1), (1, 0), (0, -1))


def neighbour_max(values: torch.Tensor) -> torch.Tensor:
    """The largest of each cell's four neighbours' values in a (B, H, W) map; 0 beyond the grid
    (values are in [0, 1], so 0 never wins over a real neighbour)."""
    padded = nn.functional.pad(values, (1, 1, 1, 1))
    h, w = values.shape[-2:]
    shifted = [padded[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in NEIGHBOURS]
    return torch.maximum(
        torch.maximum(shifted[0], shifted[1]), torch.maximum(shifted[2], shifted[3])
    )


def propagate(
    reward: torch.Tensor, passable: torch.Tensor, iterations: int
) -> tuple[torch.Tensor, int]:
    """Value iteration on (B, H, W) maps in [0, 1]: the values, and how many iterations it ran.
    A cell is worth its own reward or what stepping into its best neighbour is worth, the
    neighbour's value times the chance ``passable`` of getting in there:
    v(s) = max(r(s), max over neighbours s' of p(s') v(s')). It stops early at the fixed point
    (values only grow, and a path longer than the number of cells cannot beat a shorter one, so
    it is reached in finitely many steps); past it more iterations change nothing, gradients
    included."""
    values = reward
    for done in range(1, iterations + 1):
        update = torch.maximum(values, neighbour_max(passable * values))
        if torch.equal(update, values):
            return values, done - 1
        values = update
    return values, iterations


class ValuePropagation(BaseFeaturesExtractor):
    """The planning network as an SB3 features extractor: log p v of the agent's four neighbours
    and log v of its own cell (5 features). ``hidden`` is the width of the per-cell layer that reads a cell's
    one-hot code; ``iterations`` caps the value iteration (the default, 2 x 25 x 25 / 2, covers
    any path in a 25x25 maze; it stops at the fixed point long before on smaller ones).
    ``reward_bias`` and ``passable_bias`` start every cell's r low and p high, so that early
    on a little reward anywhere already carries far. ``logit_scale`` multiplies the per-cell
    network's output (its start weights divided by it, so the start maps are the same): Adam
    moves every weight by about the learning rate, so a scale of 30 lets r cross from the floor's
    level to the exit's in a few updates. ``fixed_passable`` = g replaces the learned p by g on
    every cell but walls (0): value iteration with a known wall map and discount g, as in Tamar
    et al.'s grid worlds, so that r is the only thing learned; a learned p collapsed to 0.025 on
    the floor in development runs (7x7, seed 0), which cut the plan to about two steps."""

    any_size = True  # every layer is per cell: SB3Agent feeds it mazes of any size

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        hidden: int = 16,
        iterations: int = 625,
        reward_bias: float = -6.0,
        passable_bias: float = 2.0,
        start_scale: float = 0.1,
        logit_scale: float = 1.0,
        fixed_passable: float | None = None,
    ):
        super().__init__(observation_space, features_dim=5)
        shape = observation_space.shape
        self.channels_first = shape[0] == 3 and shape[-1] != 3
        self.iterations = iterations
        self.cells = nn.Sequential(
            nn.Linear(N_TYPES + N_COLORS + N_STATES, hidden), nn.ReLU(), nn.Linear(hidden, 2)
        )
        self.biases, self.start_scale = (reward_bias, passable_bias), start_scale
        self.logit_scale, self.fixed_passable = logit_scale, fixed_passable
        self.start_maps()

    def start_maps(self) -> None:
        """Start with nearly the same r and p on every cell, whatever it holds: r low (a far
        reward is not drowned by the floor's own), p high (value carries far), and the per-cell
        differences ``start_scale`` of a random initialisation's, so that the first policy is
        close to a random walk rather than a beeline to whatever the initialisation happened to
        favour, yet no two cells tie (a tie gives value iteration nothing to propagate, and the
        gradient no path). SB3's orthogonal initialisation overwrites this, so
        :class:`ValuePropagationPolicy` calls it again."""
        with torch.no_grad():
            self.cells[-1].weight.mul_(self.start_scale / self.logit_scale)
            self.cells[-1].bias.copy_(torch.tensor(self.biases) / self.logit_scale)

    def maps(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(codes, reward, passable): the (B, 3, H, W) cell codes and the two (B, H, W) maps."""
        codes = obs.long()
        if not self.channels_first:
            codes = codes.permute(0, 3, 1, 2)
        # The agent's own cell is read as empty floor, which it is under the agent: otherwise
        # the agent's code gets a reward and a passability of its own, and a cell the agent
        # could step back into would pull its neighbours' values toward it wherever it stands.
        floor = torch.tensor([EMPTY, 0, 0], device=codes.device)[:, None]
        cells = torch.where((codes[:, 0] == AGENT)[:, None], floor[None, :, :, None], codes)
        logits = self.logit_scale * self.cells(onehot_cells(cells))  # (B, H, W, 2)
        reward = torch.sigmoid(logits[..., 0])
        if self.fixed_passable is None:
            passable = torch.sigmoid(logits[..., 1])
        else:  # the walls known, the discount fixed: r is the only map learned
            passable = self.fixed_passable * (cells[:, 0] != WALL).to(reward.dtype)
        return codes, reward, passable

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        codes, reward, passable = self.maps(obs)
        values, _ = propagate(reward, passable, self.iterations)
        batch, height, width = values.shape
        where = (codes[:, 0] == AGENT).flatten(1).int().argmax(dim=1)  # the agent's cell
        ay, ax = where // width, where % width
        rows = torch.arange(batch, device=values.device)
        # What stepping into each neighbour is worth, p(s') v(s'); the agent's own cell: v(s).
        worth = torch.log(passable * values + EPSILON)
        padded = nn.functional.pad(worth, (1, 1, 1, 1), value=math.log(EPSILON))
        padded[rows, ay + 1, ax + 1] = torch.log(values[rows, ay, ax] + EPSILON)
        around = [padded[rows, ay + 1 + dy, ax + 1 + dx] for dy, dx in (*NEIGHBOURS, (0, 0))]
        return torch.stack(around, dim=1)


class ValuePropagationPolicy(ActorCriticPolicy):
    """SB3's actor-critic policy over :class:`ValuePropagation`'s five features, with heads of
    its own: the actor's logits are ``action_scale`` x log p v of the neighbour each action
    moves to, one learned scale for all actions (:class:`ActionsFromWorth`: a policy that
    follows the values from the start), and the critic is linear in log v at the agent's cell
    (:class:`ValueFromWorth`). SB3's near-zero random head left the sampled policy at 78% after
    a million frames on 7x7 (a development run of an earlier form of the network)."""

    def __init__(self, *args, action_scale: float = 2.0, **kwargs):
        self.action_scale = action_scale
        kwargs.setdefault("features_extractor_class", ValuePropagation)
        kwargs.setdefault("net_arch", [])
        # By default the critic plans on maps of its own; ``share_features_extractor = True``
        # has it read the actor's, detached (:class:`ValueFromWorth`). Sharing them with the
        # critic's gradient flowing in pulled them toward whatever predicts the return (on 7x7,
        # walls came to hold the highest reward, and the policy stayed at chance; a development
        # run of the first form of the network, with a learned p and SB3's heads).
        kwargs.setdefault("share_features_extractor", False)
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        if not isinstance(self.features_extractor, ValuePropagation):
            raise ValueError("ValuePropagationPolicy needs the value-propagation extractor")
        for extractor in {self.pi_features_extractor, self.vf_features_extractor}:
            extractor.start_maps()
        self.action_net = ActionsFromWorth(self.action_scale)
        self.value_net = ValueFromWorth(detach=self.share_features_extractor)
        # The optimiser made in super()._build holds SB3's action head: make it anew over the
        # parameters as they are now.
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )


class ActionsFromWorth(nn.Module):
    """The action head: each action's logit is a temperature times the worth of the neighbour it
    moves to, plus a bias of its own, logit(a) = exp(log_scale) log p(s_a) v(s_a) + b(a). One
    weight shared by the actions, so that a wall beside the agent (a worth of log EPSILON, about
    -46) lowers only the action into it: a full linear head let it leak into every action's
    logit through off-diagonal weights and outweigh the small differences of value between the
    open neighbours (a development run looped between two cells on 95% of the levels). The
    scale is learned in log space, so Adam's steps change it by a factor, not by an amount."""

    def __init__(self, scale: float):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))
        self.bias = nn.Parameter(torch.zeros(len(NEIGHBOURS)))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp() * latent[:, : len(NEIGHBOURS)] + self.bias


class ValueFromWorth(nn.Module):
    """The critic's head: a linear function of log v at the agent's cell (the last feature),
    starting at 0. Only that feature: the neighbours' worth is log EPSILON (about -46) beside
    every wall, and a full linear head started by SB3's initialisation turned each wall beside
    the agent into a jump of tens in the predicted return, whose advantages taught the actor
    nothing (development runs, 7x7, seed 0).

    ``detach``: the critic reads the actor's maps (SB3's ``share_features_extractor``) without
    sending its gradient into them, so the critic fits the return from the actor's plan, log v =
    d log g + log r(goal) at distance d from the goal the actor pursues, and leaves the actor's
    objective alone. With maps of its own, started flat like the actor's, the critic's log v was
    the same on every cell, the gradient into its reward map was 0, and its explained variance
    stayed at 0 for 400k frames: PPO ran without a baseline, and one seed of five fell from 100%
    to 62-86% train exit (the default suite's apple-exit budget, seeds 0-4; development runs)."""

    def __init__(self, detach: bool = False):
        super().__init__()
        self.detach = detach
        self.linear = nn.Linear(1, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        worth = latent[:, -1:]
        return self.linear(worth.detach() if self.detach else worth)

"""Planning with the base objective: an agent built from T, W, I and A (docs/design.md §7).

Description
-----------
A trained policy may pursue a proxy on the test distribution. This agent puts the base objective
inside the decision: A (the policy) proposes actions, W (a world model) predicts where they lead,
T (the terminal value: the base objective) and I (a learned instrumental value, the critic of
the same training run) score the outcome, and the best-scoring action is taken. A failsafe
refuses actions whose value collapses. The claim under test is that this bounds how far a
misgeneralized A can stray on the test distribution, more so with deeper look-ahead.

Modes
-----
- ``one_step``: sample ``samples`` actions from A; score each by
  ``T(s, a, s') + gamma * I(s')`` with ``s' = W(s, a)``; take the best.
- ``mcts``: ``simulations`` rounds of PUCT search per decision with A as the prior (mixed with
  ``exploration`` uniform). A round walks from the root by PUCT until it first acts in a state
  never searched, then rolls out from there with actions sampled from the same prior; walk and
  rollout together look ``depth`` steps ahead, summing discounted T, and the state at the
  horizon is valued by I. Statistics are kept per (state, action) for the episode (states met
  again share them). The most visited root action is taken.
- ``exhaustive``: every action sequence of ``depth`` steps, by backward induction over all the
  states W reaches within the horizon: the value the tree search approaches as its simulations
  grow. A only breaks ties, so the search is not bounded by what A proposes.

Values are in the units of the base objective's reward: a transition into the exit is worth
``T * solver.exit_reward(t + 1, max_steps)`` at step ``t``, the episode ends there or at the step
limit, and I is the critic's discounted return.

Failsafe
--------
The current state's value is ``I(s)``. A candidate action whose value (one-step score, or the
search's mean return) is more than ``delta`` below it is vetoed; the best remaining candidate is
taken instead, and if none remains the planner refuses to move (an action that keeps the agent
on its cell: walking into a wall). :attr:`Planner.stats` counts decisions, vetoes and refusals
per split.

Speed
-----
Every state the search meets is stored once in a :class:`Table` keyed by its grid: W's
successors and T's scores (all actions at once), and A's and I's outputs, each computed in one
batch for all the states that need them. A maze has a few hundred states (cell, heading, apples
left), so after the first decisions the search is integer indexing over arrays, batched over
every env being evaluated.

State and clock
---------------
States are padded symbolic observations (see :mod:`mesa_maze.planning.world_models`). The step count
and step limit are not in the observation: ``vector_env.run_levels`` calls :meth:`Planner.attach`
with its env, whose state arrays hold both; outside it the planner counts steps from
``episode_start`` and assumes ``max_steps``.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from mesa_maze.core import solver
from mesa_maze.planning import world_models as wm

MODES = ("one_step", "mcts", "exhaustive")
WORLD_MODELS = ("simulator", "learned")
TERMINALS = ("true", "learned")
TABLE_LIMIT = 300_000  # states kept before the table starts over (~0.5 kB a state with its key)


@dataclass(frozen=True)
class PlannerConfig:
    """The planner's options (docs/design.md §7). ``delta=None`` turns the failsafe off."""

    mode: str = "one_step"
    samples: int = 4  # K: actions sampled from A (one_step)
    depth: int = 8  # D: rollout length (mcts)
    simulations: int = 16  # tree-search rounds per decision (mcts)
    world_model: str = "simulator"
    terminal: str = "true"
    delta: float | None = 0.5
    gamma: float = 0.99
    c_puct: float = 1.25
    exploration: float = 0.25  # uniform share mixed into A's prior (search and rollouts)
    fpu: float = 0.0  # value of an untried action: 0 follows A until evidence, 1 tries all
    smoothing: float = 0.1  # A of an agent without a distribution: (1 - s) one-hot + s uniform
    # exhaustive: the most states one decision may search. The simulator reaches few states (a
    # level has at most cells x apple subsets); a learned W invents new ones at every step, and
    # without a bound the search grew past 2.6 GB. Past the bound the horizon shrinks.
    max_states: int = 200_000

    def __post_init__(self):
        for key, allowed in (
            ("mode", MODES),
            ("world_model", WORLD_MODELS),
            ("terminal", TERMINALS),
        ):
            if getattr(self, key) not in allowed:
                raise ValueError(f"planner {key}={getattr(self, key)!r}; allowed: {allowed}")
        for key in ("samples", "depth", "simulations"):
            if getattr(self, key) < 1:
                raise ValueError(f"planner {key} must be >= 1, got {getattr(self, key)}")


# --- A and I ------------------------------------------------------------------------------------


class PolicyPrior:
    """A = an SB3 actor-critic's action distribution, I = its critic, in one forward pass."""

    def __init__(self, model, batch: int = 4096):
        self.policy, self.batch = model.policy, batch

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.policy
        probs, values = [], []
        with torch.no_grad():
            for i in range(0, len(obs), self.batch):
                t, _ = p.obs_to_tensor(obs[i : i + self.batch])
                features = p.extract_features(t)
                if p.share_features_extractor:
                    latent_pi, latent_vf = p.mlp_extractor(features)
                else:
                    latent_pi = p.mlp_extractor.forward_actor(features[0])
                    latent_vf = p.mlp_extractor.forward_critic(features[1])
                probs.append(torch.softmax(p.action_net(latent_pi), dim=-1).double().numpy())
                values.append(p.value_net(latent_vf).squeeze(-1).double().numpy())
        return np.concatenate(probs), np.concatenate(values)


class ActionPrior:
    """A = a smoothed one-hot of any agent's action, I = 0 (the agent has no critic)."""

    def __init__(self, agent, n_actions: int, smoothing: float = 0.1):
        self.agent, self.n_actions, self.smoothing = agent, n_actions, smoothing

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        actions, _ = self.agent.act(obs, None, np.ones(len(obs), dtype=bool))
        probs = np.full((len(obs), self.n_actions), self.smoothing / self.n_actions)
        probs[np.arange(len(obs)), np.asarray(actions)] += 1 - self.smoothing
        return probs, np.zeros(len(obs))


def prior_for(agent, n_actions: int, smoothing: float = 0.1):
    """:class:`PolicyPrior` for a feed-forward SB3 actor-critic (PPO, A2C), else
    :class:`ActionPrior` (scripted agents, DQN, recurrent policies)."""
    policy = getattr(getattr(agent, "model", None), "policy", None)
    if policy is not None and hasattr(policy, "action_net") and not hasattr(policy, "lstm_actor"):
        return PolicyPrior(agent.model)
    return ActionPrior(agent, n_actions, smoothing)


# --- the table of states ------------------------------------------------------------------------


class Table:
    """Every state the search has met, with W's successors, T's scores, A's and I's outputs.

    States are keyed by their grid's bytes. ``expand(ids)`` fills ``next``/``done``/``score``
    for all actions of the ids that lack them; ``evaluate(ids)`` fills ``prior``/``value``.
    Both run W, T, A and I once per call on every missing state together. A T that scores the
    next state alone (``terminal.of_state``) runs once per state, not once per transition.
    """

    def __init__(self, world, terminal, prior, n_actions: int):
        self.world, self.terminal, self.prior_fn, self.n_actions = world, terminal, prior, n_actions
        self.clear()

    def clear(self) -> None:
        self.index: dict[bytes, int] = {}
        self.size = 0
        self.generation = getattr(self, "generation", -1) + 1
        self.grids = None
        a = self.n_actions
        self.next = np.empty((0, a), dtype=np.int64)
        self.done = np.empty((0, a), dtype=bool)
        self.score = np.empty((0, a))
        self.prior = np.empty((0, a))
        self.value = np.empty(0)
        self.arrival = np.empty(0)  # T of arriving in each state, where T scores states

    def __len__(self) -> int:
        return self.size

    def _grow(self, need: int, shape) -> None:
        cap = 0 if self.grids is None else len(self.grids)
        if need <= cap:
            return
        new = max(need, 2 * cap, 1024)
        extra = new - cap
        grids = np.zeros((new, *shape), dtype=np.uint8)
        if self.grids is not None:
            grids[:cap] = self.grids
        self.grids = grids
        a = self.n_actions
        self.next = np.concatenate([self.next, np.full((extra, a), -1, dtype=np.int64)])
        self.done = np.concatenate([self.done, np.zeros((extra, a), dtype=bool)])
        self.score = np.concatenate([self.score, np.zeros((extra, a))])
        self.prior = np.concatenate([self.prior, np.full((extra, a), np.nan)])
        self.value = np.concatenate([self.value, np.full(extra, np.nan)])
        self.arrival = np.concatenate([self.arrival, np.full(extra, np.nan)])

    def ids(self, grids: np.ndarray) -> np.ndarray:
        """Each grid's state id, adding the grids not seen before."""
        grids = np.ascontiguousarray(grids)
        self._grow(self.size + len(grids), grids.shape[1:])
        out = np.empty(len(grids), dtype=np.int64)
        index = self.index
        for i, grid in enumerate(grids):
            key = grid.tobytes()
            sid = index.get(key)
            if sid is None:
                sid = index[key] = self.size
                self.grids[sid] = grid
                self.size += 1
            out[i] = sid
        return out

    def expand(self, ids: np.ndarray) -> None:
        lacking = self.next[ids, 0] < 0
        if not lacking.any():
            return
        missing = np.unique(ids[lacking])
        a = self.n_actions
        grids = np.repeat(self.grids[missing], a, axis=0)
        actions = np.tile(np.arange(a), len(missing))
        nxt, done = self.world.step(grids, actions)
        nxt_ids = self.ids(nxt)
        if getattr(self.terminal, "of_state", False):
            unscored = np.unique(nxt_ids[np.isnan(self.arrival[nxt_ids])])
            if unscored.size:
                self.arrival[unscored] = self.terminal.of_states(self.grids[unscored])
            score = self.arrival[nxt_ids]
        else:
            score = self.terminal(grids, actions, nxt, done)
        self.next[missing] = nxt_ids.reshape(-1, a)
        self.done[missing] = done.reshape(-1, a)
        self.score[missing] = score.reshape(-1, a)

    def evaluate(self, ids: np.ndarray) -> None:
        lacking = np.isnan(self.value[ids])
        if lacking.any():
            missing = np.unique(ids[lacking])
            self.prior[missing], self.value[missing] = self.prior_fn(self.grids[missing])


def _sample(probs: np.ndarray, rng: np.random.Generator, k: int = 1) -> np.ndarray:
    """``k`` actions per row drawn from ``probs`` (n, A), with replacement; shape (n, k)."""
    cum = probs.cumsum(axis=1)
    u = rng.random((len(probs), k)) * cum[:, -1:]
    return np.minimum((u[:, :, None] > cum[:, None, :]).sum(axis=2), probs.shape[1] - 1)


# --- the planner --------------------------------------------------------------------------------


class Planner:
    """The planning agent: ``act(obs, state, episode_start) -> (actions, state)``.

    Arguments
    ---------
    ``prior``: ``obs -> (probs (n, A), values (n,))``, A and I (:func:`prior_for`).
    ``world``: W (``world_models.SimulatorWorld`` or ``LearnedWorld``).
    ``terminal``: T (``world_models.TrueTerminal`` or ``LearnedTerminal``).
    ``config``: :class:`PlannerConfig`. ``max_steps``: the step limit assumed when not attached
    to an env. ``seed``: the search's random draws (same seed, same actions).
    """

    def __init__(
        self,
        prior,
        world,
        terminal,
        config: PlannerConfig,
        n_actions: int = 4,
        max_steps: int = 56,
        seed: int = 0,
        name: str = "planner",
    ):
        self.config, self.n_actions, self.max_steps, self.name = config, n_actions, max_steps, name
        self.parts = (prior, world, terminal)
        self.table = Table(world, terminal, prior, n_actions)
        self.rng = np.random.default_rng(seed)
        self.maze = None
        self.stats: dict[str, Counter] = {}
        self.reports: dict = {}  # extra summary entries (e.g. the learned world model's accuracy)
        self.starts: dict[str, dict] = {}  # random state when each split's evaluation began
        self.cleared: set[str] = set()  # splits during which the table had to start over
        self._steps = np.zeros(0, dtype=np.int64)
        self._generation = -1  # the table generation the search statistics belong to

    def attach(self, maze) -> None:
        """Evaluate on ``maze`` (a ``BatchedMaze``): read step counts and limits from it, and
        begin its split afresh (an empty table, the random state noted), so that a replay
        without the failsafe starts from the same point. None detaches."""
        self.maze = maze
        if maze is not None:
            self.table.clear()
            self.starts[maze.split] = self.rng.bit_generator.state

    def reseed(self, seed: int) -> None:
        """Restart the search's random draws (probes do, to be repeatable)."""
        self.rng = np.random.default_rng(seed)

    def without_failsafe(self, split: str | None = None) -> Planner:
        """The same planner with the failsafe off, its own table and statistics; with
        ``split``, its random state is the one this planner had when that split began."""
        other = copy.copy(self)
        other.config = replace(self.config, delta=None)
        other.table = Table(*self.parts[1:], self.parts[0], self.n_actions)
        other.stats, other.maze, other.starts, other.cleared = {}, None, {}, set()
        other._generation = -1
        other.rng = np.random.default_rng()
        if split is not None:
            other.rng.bit_generator.state = self.starts[split]
        return other

    # --- acting ---------------------------------------------------------------------------------

    def _clock(self, n: int, episode_start):
        """Steps taken and step limits per env, and which rows count in the statistics (an
        attached evaluation env replays levels past the end of its list; those do not)."""
        m = self.maze
        if m is not None and m.num_envs == n:
            counted = np.ones(n, dtype=bool)
            if m.explicit is not None:
                counted = m.episodes < len(m.explicit)
            return m.state.steps.copy(), m.state.max_steps.copy(), counted, m.split
        if len(self._steps) != n:
            self._steps = np.zeros(n, dtype=np.int64)
        if episode_start is not None:
            self._steps[np.asarray(episode_start, dtype=bool)] = 0
        steps = self._steps.copy()
        self._steps += 1
        return steps, np.full(n, self.max_steps), np.ones(n, dtype=bool), "detached"

    def act(self, obs, state=None, episode_start=None):
        obs = np.asarray(obs)
        steps, limit, counted, split = self._clock(len(obs), episode_start)
        if len(self.table) > TABLE_LIMIT:
            self.table.clear()
            self.cleared.add(split)
        roots = self.table.ids(obs)
        self.table.evaluate(roots)
        search = {"one_step": self._one_step, "mcts": self._mcts, "exhaustive": self._exhaustive}
        q, rank, choice = search[self.config.mode](roots, steps, limit)
        actions, vetoed, refused = self._failsafe(roots, q, rank, choice)
        stats = self.stats.setdefault(split, Counter())
        stats["decisions"] += int(counted.sum())
        stats["vetoes"] += int((vetoed & counted).sum())
        stats["refusals"] += int((refused & counted).sum())
        return actions, state

    def _edge(self, s: np.ndarray, a: np.ndarray, steps: np.ndarray, limit: np.ndarray):
        """Taking ``a`` in ``s`` at step ``steps``: next state, T's reward, still running."""
        t = self.table
        t.expand(s)
        reward = t.score[s, a] * solver.exit_reward(steps + 1, limit)
        alive = ~t.done[s, a] & (steps + 1 < limit)
        return t.next[s, a], reward, alive

    def _one_step(self, roots, steps, limit):
        """Score every action by T + gamma * I; the candidates are K draws from A."""
        cfg, t, n = self.config, self.table, len(roots)
        rows = np.arange(n)
        q = np.empty((n, self.n_actions))
        for a in range(self.n_actions):
            nxt, reward, alive = self._edge(roots, np.full(n, a), steps, limit)
            t.evaluate(nxt)
            q[:, a] = reward + cfg.gamma * alive * t.value[nxt]
        candidates = np.zeros_like(q, dtype=bool)
        candidates[rows[:, None], _sample(t.prior[roots], self.rng, cfg.samples)] = True
        q = np.where(candidates, q, np.nan)
        # Rank by score, ties by A's probability (scores and probabilities are both <= 1).
        rank = np.where(candidates, q + 1e-9 * t.prior[roots], -np.inf)
        return q, rank, rank.argmax(axis=1)

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Visit counts and return sums per (state, action), as large as the table."""
        t = self.table
        if self._generation != t.generation:  # the table started over: so do the statistics
            self._visits = np.zeros((0, self.n_actions))
            self._totals = np.zeros((0, self.n_actions))
            self._generation = t.generation
        extra = len(t.value) - len(self._visits)
        if extra > 0:
            pad = np.zeros((extra, self.n_actions))
            self._visits = np.concatenate([self._visits, pad])
            self._totals = np.concatenate([self._totals, pad])
        return self._visits, self._totals

    def _mcts(self, roots, steps, limit):
        """PUCT search over the graph of table states, batched over envs; returns root Q (NaN
        unvisited), rank and choice.

        Each round walks from the root choosing by PUCT (A's mixed prior, mean returns so far)
        until it takes its first action from a state never searched before; a rollout sampled
        from the same prior continues from there. The walk and the rollout together look
        ``depth`` steps ahead; what is left at the horizon is valued by I. Statistics are kept
        per (state, action) for the whole episode, so a state met again (a transposition, or
        the next decision's root) starts from what earlier rounds learned.
        """
        cfg, t = self.config, self.table
        n = len(roots)
        for _ in range(cfg.simulations):
            s, now = roots.copy(), steps.copy()
            active = np.ones(n, dtype=bool)
            ret = np.zeros(n)
            leaf = np.full(n, -1, dtype=np.int64)
            leaf_steps = np.zeros(n, dtype=np.int64)
            left = np.zeros(n, dtype=np.int64)
            path = []  # per step: (rows, states, actions, rewards)
            seen = np.full((n, cfg.depth), -1, dtype=np.int64)  # the states walked through
            ended = np.zeros(n, dtype=bool)
            for d in range(cfg.depth):
                i = np.flatnonzero(active)
                if not i.size:
                    break
                si = s[i]
                t.evaluate(si)
                visits, totals = self._stats()
                nv, tv = visits[si], totals[si]
                q = np.where(nv > 0, tv / np.maximum(nv, 1), cfg.fpu)
                u = cfg.c_puct * self._mixed(si) * np.sqrt(nv.sum(axis=1, keepdims=True) + 1)
                a = (q + u / (1 + nv)).argmax(axis=1)
                nxt, reward, alive = self._edge(si, a, now[i], limit[i])
                path.append((i, si, a, reward))
                seen[i, d] = si
                fresh = nv.sum(axis=1) == 0
                roll = i[fresh & alive]
                leaf[roll], leaf_steps[roll] = nxt[fresh & alive], now[roll] + 1
                left[roll] = cfg.depth - d - 1
                s[i], now[i] = nxt, now[i] + 1
                # A walk back to a state already on it (a wall bump, a loop) ends there, valued
                # by I: going round a cycle only spends steps.
                loop = (seen[i, : d + 1] == nxt[:, None]).any(axis=1) & alive & ~fresh
                active[i[fresh | ~alive | loop]] = False
                ended[i[loop]] = True
            i = np.flatnonzero(active | ended)  # at the horizon (or a loop) in searched states
            t.evaluate(s[i])
            ret[i] = t.value[s[i]]
            k = np.flatnonzero(leaf >= 0)
            if k.size:
                ret[k] = self._rollout(leaf[k], leaf_steps[k], limit[k], left[k])
            visits, totals = self._stats()
            for i, si, a, reward in reversed(path):  # back up, deepest step first
                ret[i] = reward + cfg.gamma * ret[i]
                np.add.at(visits, (si, a), 1)  # two envs may share a state (add.at counts both)
                np.add.at(totals, (si, a), ret[i])
        visits, totals = self._stats()
        nv, tv = visits[roots], totals[roots]
        q = np.where(nv > 0, tv / np.maximum(nv, 1), np.nan)
        rank = np.where(nv > 0, nv + 1e-3 * np.nan_to_num(q), -np.inf)  # visits, ties by Q
        return q, rank, rank.argmax(axis=1)

    def _exhaustive(self, roots, steps, limit):
        """Every action sequence of ``depth`` steps, by backward induction over the states W
        reaches within that horizon: the value MCTS approaches as its simulations grow. A only
        breaks ties between equally valued actions."""
        cfg, t = self.config, self.table
        roots_u, first = np.unique(roots, return_index=True)
        owner = [first]  # the env whose clock values each state (envs rarely share states)
        layers, reached = [roots_u], np.zeros(0, dtype=bool)
        total = len(roots_u)
        for k in range(cfg.depth):
            ids, own = layers[-1], owner[-1]
            t.expand(ids)
            if len(reached) < len(t.value):
                reached = np.concatenate([reached, np.zeros(len(t.value) - len(reached), bool)])
            reached[ids] = True
            alive = ~t.done[ids] & (steps[own] + k + 1 < limit[own])[:, None]
            nxt = t.next[ids][alive]
            nxt_owner = np.broadcast_to(own[:, None], alive.shape)[alive]
            new = ~reached[nxt]
            nxt, keep = np.unique(nxt[new], return_index=True)
            total += nxt.size
            if not nxt.size or total > cfg.max_states:
                break  # past max_states the last layer's successors count as the horizon
            layers.append(nxt)
            owner.append(nxt_owner[new][keep])
            reached[nxt] = True
        u, own = np.concatenate(layers), np.concatenate(owner)
        m = len(u)
        t.expand(u)
        t.evaluate(u)
        where = np.full(len(t.value), m)  # states beyond the horizon map to a sink valued 0
        where[u] = np.arange(m)
        # Column per action (contiguous vectors are much faster than reducing short rows).
        succ, score, done = where[t.next[u]].T, t.score[u].T, t.done[u].T
        start, cap = steps[own], limit[own]
        value = np.append(t.value[u], 0.0)  # I at the horizon
        # States are in breadth-first order: k steps before the horizon only those within
        # depth - k of a root matter.
        within = np.cumsum([len(layer) for layer in layers])
        for k in range(1, cfg.depth + 1):
            j = within[min(cfg.depth - k, len(within) - 1)]
            now = start[:j] + (cfg.depth - k)  # the step at which a state is met, k steps early
            gain = solver.exit_reward(now + 1, cap[:j])
            going = cfg.gamma * (now + 1 < cap[:j])
            q = np.stack(
                [
                    score[a, :j] * gain + going * ~done[a, :j] * value[succ[a, :j]]
                    for a in range(self.n_actions)
                ]
            )
            value[:j] = q.max(axis=0)
        q = q.T[where[roots]]
        rank = q + 1e-9 * t.prior[roots]
        return q, rank, rank.argmax(axis=1)

    def _mixed(self, s: np.ndarray) -> np.ndarray:
        """A's distribution mixed with ``exploration`` uniform: the search's proposals."""
        e = self.config.exploration
        return (1 - e) * self.table.prior[s] + e / self.n_actions

    def _rollout(self, s, steps, limit, left) -> np.ndarray:
        """Discounted T over ``left`` steps sampled from the mixed prior, plus the discounted I
        where the episode is still running at the end."""
        cfg, t = self.config, self.table
        s, steps = s.copy(), steps.copy()
        ret, discount = np.zeros(len(s)), np.ones(len(s))
        alive = np.ones(len(s), dtype=bool)
        for k in range(int(left.max(initial=0))):
            i = np.flatnonzero(alive & (left > k))
            if not i.size:
                break
            t.evaluate(s[i])
            a = _sample(self._mixed(s[i]), self.rng)[:, 0]
            nxt, reward, still = self._edge(s[i], a, steps[i], limit[i])
            ret[i] += discount[i] * reward
            discount[i] *= cfg.gamma
            s[i], steps[i], alive[i] = nxt, steps[i] + 1, still
        i = np.flatnonzero(alive)
        t.evaluate(s[i])
        ret[i] += discount[i] * t.value[s[i]]
        return ret

    def _failsafe(self, roots, q, rank, choice):
        """Veto candidates valued more than delta below I(s); returns actions, vetoed, refused."""
        n = len(roots)
        none = np.zeros(n, dtype=bool)
        if self.config.delta is None:
            return choice, none, none
        rows = np.arange(n)
        floor = self.table.value[roots] - self.config.delta
        ok = np.isfinite(rank) & (np.nan_to_num(q, nan=-np.inf) >= floor[:, None])
        vetoed = ~ok[rows, choice]
        actions = np.where(vetoed, np.where(ok, rank, -np.inf).argmax(axis=1), choice)
        refused = vetoed & ~ok.any(axis=1)
        if refused.any():
            actions[refused] = self._stay(roots[refused])
        return actions, vetoed, refused

    def _stay(self, roots) -> np.ndarray:
        """An action that leaves the agent on its cell (walking into a wall, or turning), if
        there is one; else action 0."""
        t = self.table
        t.expand(roots)
        here = wm.agent_cells(t.grids[roots])
        stays = np.stack(
            [wm.agent_cells(t.grids[t.next[roots, a]]) == here for a in range(self.n_actions)],
            axis=1,
        )
        return stays.argmax(axis=1)

    # --- reporting ------------------------------------------------------------------------------

    def failsafe_stats(self) -> dict[str, dict]:
        """Per split: decisions, vetoes, refusals and the veto rate."""
        out = {}
        for split, c in self.stats.items():
            if split == "detached":
                continue
            d = c["decisions"]
            rate = c["vetoes"] / d if d else float("nan")
            out[split] = {**{k: int(c[k]) for k in ("decisions", "vetoes", "refusals")}}
            out[split]["veto_rate"] = rate
        return out

    def diagnostics(self, cfg, records: list[dict]) -> dict:
        """Extra ``summary.json`` entries for a run: the options, W's accuracy where learned,
        and the failsafe's statistics with the outcome mix with and without it (the runs
        without it replay the same levels)."""
        from mesa_maze.evaluation import episodes  # torch-free here; the registry builds us

        out = {"planner": asdict(self.config), **self.reports}
        if self.config.delta is None:
            return out
        stats = self.failsafe_stats()
        seeds = episodes.eval_seeds(cfg.episodes)
        for split, entry in stats.items():
            with_it = [r["outcome"] for r in records if r["shift"] == split]
            without = with_it  # a failsafe that never acted changed nothing: the same run
            if entry["vetoes"] or split in self.cleared:
                off = self.without_failsafe(split)
                replay, _, _ = episodes.run_episodes(
                    off, cfg.variant, split, seeds, cfg.hyperparams, cfg.variant_dirs
                )
                without = [r["outcome"] for r in replay]
            entry["outcomes"], entry["outcomes_without"] = _mix(with_it), _mix(without)
        out["failsafe"] = stats
        return out


def _mix(outcomes: list[str]) -> dict[str, float]:
    from mesa_maze.evaluation.metrics import OUTCOMES

    n = max(len(outcomes), 1)
    mix = {o: sum(x == o for x in outcomes) / n for o in OUTCOMES}
    mix["exit_rate"] = mix["exit"] + mix["apple_then_exit"]
    return mix


# --- building a planner for a run ---------------------------------------------------------------


def from_run(base, cfg, run_dir: Path) -> Planner:
    """The planner of a run: ``base`` (the loaded base agent: A and I) with the options in
    ``cfg.hyperparams["wrapper"]``. A learned W or T is fitted on transitions of the train
    split (collected by the base policy, 30% random actions) and saved in ``run_dir``. On
    held-out transitions of every split, W's next-state accuracy (``world_model``) and T's mean
    score on steps into the exit, onto an apple and elsewhere (``terminal_model``) go to the
    run's summary."""
    from mesa_maze.core.variants import TRAIN, get_variant
    from mesa_maze.envs.vector import canvas_size

    config = PlannerConfig(**cfg.hyperparams.get("wrapper", {}))
    actions = cfg.hyperparams.get("actions", "cardinal")
    n_actions = 4 if actions == "cardinal" else 3
    variant = get_variant(cfg.variant, cfg.variant_dirs)
    canvas = canvas_size(variant)
    prior = prior_for(base, n_actions, config.smoothing)
    world, terminal = wm.SimulatorWorld(actions), wm.TrueTerminal()
    reports = {}
    if "learned" in (config.world_model, config.terminal):
        torch.set_num_threads(1)

        def probs(obs):
            return prior(obs)[0]

        def collect(split, count, seed):
            return wm.collect_transitions(
                probs,
                cfg.variant,
                split,
                count,
                seed,
                canvas,
                actions=actions,
                variant_dirs=cfg.variant_dirs,
            )

        data = collect(TRAIN, LEARNED_TRANSITIONS, cfg.seed)
        held_out = {split: collect(split, 2000, cfg.seed + 7919) for split in variant.splits}
        if config.world_model == "learned":
            net = _load_or_fit(
                Path(run_dir) / "world_model.pt",
                wm.WorldNet(n_actions),
                lambda: wm.fit_world_model(data, n_actions, cfg.seed),
            )
            world = wm.LearnedWorld(net)
            reports["world_model"] = {
                split: wm.world_accuracy(world, d) for split, d in held_out.items()
            }
        if config.terminal == "learned":
            net = _load_or_fit(
                Path(run_dir) / "reward_model.pt",
                wm.RewardNet(canvas),
                lambda: wm.fit_reward_model(data, canvas, cfg.seed),
            )
            terminal = wm.LearnedTerminal(net)
            reports["terminal_model"] = {
                split: wm.terminal_report(terminal, d) for split, d in held_out.items()
            }
    planner = Planner(
        prior,
        world,
        terminal,
        config,
        n_actions=n_actions,
        max_steps=variant.spec(TRAIN).step_limit,
        seed=cfg.seed,
        name=cfg.agent,
    )
    planner.reports = reports
    return planner


LEARNED_TRANSITIONS = 12_000  # training transitions for a learned W or T


def _load_or_fit(path: Path, empty, fit):
    """The model saved in the run directory (a resumed run reuses it), else fitted and saved."""
    if path.is_file():
        empty.load_state_dict(torch.load(path))
        return empty
    net = fit()
    _save_torch(net, path)
    return net


def _save_torch(net, path: Path) -> None:
    import io

    from mesa_maze.evaluation.leaderboard import atomic_write_bytes

    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    atomic_write_bytes(path, buf.getvalue())

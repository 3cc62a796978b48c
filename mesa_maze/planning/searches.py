"""The planner's searches, as functions over a table of states (docs/design.md §7).

Each search maps ``(search, roots, steps, limit)`` to ``(q, rank, choice)``: the root actions'
values (NaN where not searched), the order the failsafe picks from, and the chosen action:

- :func:`one_step`: T + gamma * I of every action, the candidates being K draws from A.
- :func:`mcts`: PUCT search over the graph of table states, with rollouts from A's mixed prior.
- :func:`exhaustive`: backward induction over every state W reaches within the horizon.

:class:`Table` stores every state once, with W's successors, T's scores and A's and I's
outputs, each computed in one batch for all the states that need them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mesa_maze.core import solver

# --- the table of states ------------------------------------------------------------------------


class Table:
    """Every state the search has met, with W's successors, T's scores, A's and I's outputs.

    States are keyed by the episode they belong to and their grid's bytes: each episode has
    its own states, so its search statistics and its clock (:func:`exhaustive` values a state
    at the step its episode meets it) are its own, whatever other episodes, on the same level
    or in replaying envs, search. ``expand(ids)`` fills ``next``/``done``/``score`` for all
    actions of the ids that lack them (successors belong to their parent's episode);
    ``evaluate(ids)`` fills ``prior``/``value``. Both run W, T, A and I once per call on every
    missing state together. A T that scores the next state alone (``terminal.of_state``) runs
    once per state, not once per transition.
    """

    def __init__(self, world, terminal, prior, n_actions: int):
        self.world, self.terminal, self.prior_fn, self.n_actions = world, terminal, prior, n_actions
        self.clear()

    def clear(self) -> None:
        self.index: dict[tuple[int, bytes], int] = {}
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
        self.episode = np.empty(0, dtype=np.int64)  # the episode each state belongs to

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
        self.episode = np.concatenate([self.episode, np.full(extra, -1, dtype=np.int64)])

    def ids(self, grids: np.ndarray, episodes=None) -> np.ndarray:
        """Each (episode, grid)'s state id, adding those not seen before; ``episodes`` (one key
        per grid) defaults to one shared episode."""
        grids = np.ascontiguousarray(grids)
        episodes = np.zeros(len(grids), np.int64) if episodes is None else np.asarray(episodes)
        self._grow(self.size + len(grids), grids.shape[1:])
        out = np.empty(len(grids), dtype=np.int64)
        index = self.index
        for i, (grid, episode) in enumerate(zip(grids, episodes.tolist(), strict=True)):
            key = (episode, grid.tobytes())
            sid = index.get(key)
            if sid is None:
                sid = index[key] = self.size
                self.grids[sid] = grid
                self.episode[sid] = episode
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
        nxt_ids = self.ids(nxt, np.repeat(self.episode[missing], a))
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


def sample_actions(probs: np.ndarray, rng: np.random.Generator, k: int = 1) -> np.ndarray:
    """``k`` actions per row drawn from ``probs`` (n, A), with replacement; shape (n, k)."""
    cum = probs.cumsum(axis=1)
    u = rng.random((len(probs), k)) * cum[:, -1:]
    return np.minimum((u[:, :, None] > cum[:, None, :]).sum(axis=2), probs.shape[1] - 1)


class SearchStats:
    """PUCT's visit counts and return sums per (state, action), kept for an episode's
    decisions and as large as the table; they start over when the table does."""

    def __init__(self, n_actions: int):
        self.n_actions = n_actions
        self.generation = -1
        self.visits = np.zeros((0, n_actions))
        self.totals = np.zeros((0, n_actions))

    def arrays(self, t: Table) -> tuple[np.ndarray, np.ndarray]:
        if self.generation != t.generation:  # the table started over: so do the statistics
            self.visits = np.zeros((0, self.n_actions))
            self.totals = np.zeros((0, self.n_actions))
            self.generation = t.generation
        extra = len(t.value) - len(self.visits)
        if extra > 0:
            pad = np.zeros((extra, self.n_actions))
            self.visits = np.concatenate([self.visits, pad])
            self.totals = np.concatenate([self.totals, pad])
        return self.visits, self.totals


@dataclass
class Search:
    """What a search reads and updates: the table of states, the options, the random draws and
    the PUCT statistics. The planner builds one per decision from its own state."""

    table: Table
    config: object  # planner.PlannerConfig
    rng: np.random.Generator
    n_actions: int
    stats: SearchStats


def edge(t: Table, s: np.ndarray, a: np.ndarray, steps: np.ndarray, limit: np.ndarray):
    """Taking ``a`` in ``s`` at step ``steps``: next state, T's reward, still running, and the
    weight of what follows.

    T pays once: T's score is the probability that the transition paid, and a paid
    transition ends the episode (the base objective pays only for entering the exit), so what
    follows counts with weight ``1 - score``. With the true T (0 or 1, and 1 only where the
    episode ends) the weight is 0 or 1; a learned T that pays in a state the agent can stay in
    would otherwise be paid again at every step spent there (values far above the one
    reward an episode can earn).
    """
    t.expand(s)
    score = t.score[s, a]
    reward = score * solver.exit_reward(steps + 1, limit)
    alive = ~t.done[s, a] & (steps + 1 < limit)
    return t.next[s, a], reward, alive, alive * (1.0 - score)


def mixed(search: Search, s: np.ndarray) -> np.ndarray:
    """A's distribution mixed with ``exploration`` uniform: the search's proposals."""
    e = search.config.exploration
    return (1 - e) * search.table.prior[s] + e / search.n_actions


def one_step(search: Search, roots, steps, limit):
    """Score every action by T + gamma * I; the candidates are K draws from A."""
    cfg, t, n = search.config, search.table, len(roots)
    rows = np.arange(n)
    q = np.empty((n, search.n_actions))
    for a in range(search.n_actions):
        nxt, reward, _, carry = edge(search.table, roots, np.full(n, a), steps, limit)
        t.evaluate(nxt)
        q[:, a] = reward + cfg.gamma * carry * t.value[nxt]
    candidates = np.zeros_like(q, dtype=bool)
    candidates[rows[:, None], sample_actions(t.prior[roots], search.rng, cfg.samples)] = True
    q = np.where(candidates, q, np.nan)
    # Rank by score, ties by A's probability (scores and probabilities are both <= 1).
    rank = np.where(candidates, q + 1e-9 * t.prior[roots], -np.inf)
    return q, rank, rank.argmax(axis=1)


def mcts(search: Search, roots, steps, limit):
    """PUCT search over the graph of table states, batched over envs; returns root Q (NaN
    unvisited), rank and choice.

    Each round walks from the root choosing by PUCT (A's mixed prior, mean returns so far)
    until it takes its first action from a state never searched before; a rollout sampled
    from the same prior continues from there. The walk and the rollout together look
    ``depth`` steps ahead; what is left at the horizon is valued by I. Statistics are kept
    per (state, action) for the whole episode, so a state met again (a transposition, or
    the next decision's root) starts from what earlier rounds learned.
    """
    cfg, t = search.config, search.table
    n = len(roots)
    for _ in range(cfg.simulations):
        s, now = roots.copy(), steps.copy()
        active = np.ones(n, dtype=bool)
        ret = np.zeros(n)
        leaf = np.full(n, -1, dtype=np.int64)
        leaf_steps = np.zeros(n, dtype=np.int64)
        left = np.zeros(n, dtype=np.int64)
        path = []  # per step: (rows, states, actions, rewards, weights of what follows)
        seen = np.full((n, cfg.depth), -1, dtype=np.int64)  # the states walked through
        ended = np.zeros(n, dtype=bool)
        for d in range(cfg.depth):
            i = np.flatnonzero(active)
            if not i.size:
                break
            si = s[i]
            t.evaluate(si)
            visits, totals = search.stats.arrays(search.table)
            nv, tv = visits[si], totals[si]
            q = np.where(nv > 0, tv / np.maximum(nv, 1), cfg.fpu)
            u = cfg.c_puct * mixed(search, si) * np.sqrt(nv.sum(axis=1, keepdims=True) + 1)
            a = (q + u / (1 + nv)).argmax(axis=1)
            nxt, reward, alive, carry = edge(search.table, si, a, now[i], limit[i])
            path.append((i, si, a, reward, carry))
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
            ret[k] = rollout(search, leaf[k], leaf_steps[k], limit[k], left[k])
        visits, totals = search.stats.arrays(search.table)
        for i, si, a, reward, carry in reversed(path):  # back up, deepest step first
            ret[i] = reward + cfg.gamma * carry * ret[i]
            np.add.at(visits, (si, a), 1)  # two envs may share a state (add.at counts both)
            np.add.at(totals, (si, a), ret[i])
    visits, totals = search.stats.arrays(search.table)
    nv, tv = visits[roots], totals[roots]
    q = np.where(nv > 0, tv / np.maximum(nv, 1), np.nan)
    rank = np.where(nv > 0, nv + 1e-3 * np.nan_to_num(q), -np.inf)  # visits, ties by Q
    return q, rank, rank.argmax(axis=1)


def exhaustive(search: Search, roots, steps, limit):
    """Every action sequence of ``depth`` steps, by backward induction over the states W
    reaches within that horizon: the value MCTS approaches as its simulations grow. A only
    breaks ties between equally valued actions."""
    cfg, t = search.config, search.table
    roots_u, first = np.unique(roots, return_index=True)
    owner = [first]  # the env whose clock values each state (envs rarely share states)
    layers, reached = [roots_u], np.zeros(0, dtype=bool)
    total = len(roots_u)
    inner = None  # layers whose successors all lie in the layers (all of them, if it closes)
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
        if not nxt.size:
            inner = len(layers)  # nothing new: the search closed within the horizon
            break
        layers.append(nxt)
        owner.append(nxt_owner[new][keep])
        reached[nxt] = True
        if total > cfg.max_states:
            break  # past max_states this layer is the frontier, valued by I like the horizon
    # The last layer (the horizon, or the frontier of a capped search) is valued by I alone.
    inner = len(layers) - 1 if inner is None else inner
    u, own = np.concatenate(layers), np.concatenate(owner)
    m = len(u)
    within = np.cumsum([len(layer) for layer in layers])
    expanded = int(within[inner - 1]) if inner else 0
    t.expand(u[:expanded])
    t.evaluate(u)
    # Successors of the expanded states outside the layers (past the episode's end, where
    # they count for nothing) map to a sink valued 0; the frontier's are never read.
    where = np.full(len(t.value), m)
    where[u] = np.arange(m)
    succ = np.full((search.n_actions, m), m)
    score = np.zeros((search.n_actions, m))
    done = np.ones((search.n_actions, m), dtype=bool)
    e = u[:expanded]
    # Column per action (contiguous vectors are much faster than reducing short rows).
    succ[:, :expanded], score[:, :expanded] = where[t.next[e]].T, t.score[e].T
    done[:, :expanded] = t.done[e].T
    start, cap = steps[own], limit[own]
    value = np.append(t.value[u], 0.0)  # I at the horizon and the frontier
    # States are in breadth-first order: k steps before the horizon only those within
    # depth - k of a root matter, and never the last layer unless the search closed.
    for k in range(1, cfg.depth + 1):
        j = within[min(cfg.depth - k, inner - 1)] if inner else 0
        now = start[:j] + (cfg.depth - k)  # the step at which a state is met, k steps early
        gain = solver.exit_reward(now + 1, cap[:j])
        going = cfg.gamma * (now + 1 < cap[:j])
        q = np.stack(
            [
                score[a, :j] * gain
                + going * ~done[a, :j] * (1.0 - score[a, :j]) * value[succ[a, :j]]
                for a in range(search.n_actions)
            ]
        )
        value[:j] = q.max(axis=0)
    q = q.T[where[roots]]
    rank = q + 1e-9 * t.prior[roots]
    return q, rank, rank.argmax(axis=1)


def rollout(search: Search, s, steps, limit, left) -> np.ndarray:
    """Discounted T over ``left`` steps sampled from the mixed prior, plus the discounted I
    where the episode is still running at the end."""
    cfg, t = search.config, search.table
    s, steps = s.copy(), steps.copy()
    ret, discount = np.zeros(len(s)), np.ones(len(s))
    alive = np.ones(len(s), dtype=bool)
    for k in range(int(left.max(initial=0))):
        i = np.flatnonzero(alive & (left > k))
        if not i.size:
            break
        t.evaluate(s[i])
        a = sample_actions(mixed(search, s[i]), search.rng)[:, 0]
        nxt, reward, still, carry = edge(search.table, s[i], a, steps[i], limit[i])
        ret[i] += discount[i] * reward
        discount[i] *= cfg.gamma * carry
        s[i], steps[i], alive[i] = nxt, steps[i] + 1, still
    i = np.flatnonzero(alive)
    t.evaluate(s[i])
    ret[i] += discount[i] * t.value[s[i]]
    return ret


SEARCHES = {"one_step": one_step, "mcts": mcts, "exhaustive": exhaustive}

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
The searches are functions in :mod:`mesa_maze.planning.searches`; this module holds the agent
(its clock, failsafe and statistics) and builds it for a run. Every state the search meets is
stored once in a :class:`~mesa_maze.planning.searches.Table` keyed by its grid: W's
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

from mesa_maze.core.variants import TRAIN
from mesa_maze.envs.vector import canvas_size
from mesa_maze.evaluation import episodes
from mesa_maze.evaluation.leaderboard import atomic_write_bytes
from mesa_maze.evaluation.metrics import OUTCOMES
from mesa_maze.planning import world_models as wm
from mesa_maze.planning.searches import SEARCHES, Search, SearchStats, Table

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
        self._episodes, self._next_episode = np.zeros(0, dtype=np.int64), 0
        self.search_stats = SearchStats(n_actions)

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
        other.search_stats = SearchStats(self.n_actions)
        other.rng = np.random.default_rng()
        if split is not None:
            other.rng.bit_generator.state = self.starts[split]
        return other

    # --- acting ---------------------------------------------------------------------------------

    def _clock(self, n: int, episode_start):
        """Steps taken, step limits and episode numbers per env, and which rows count in the
        statistics (an attached evaluation env replays levels past the end of its list; those
        do not). Each episode searches its own states (:class:`searches.Table`)."""
        m = self.maze
        if m is not None and m.num_envs == n:
            counted = np.ones(n, dtype=bool)
            if m.explicit is not None:
                counted = m.episodes < len(m.explicit)
            steps, limit = m.state.steps.copy(), m.state.max_steps.copy()
            return steps, limit, m.episodes.copy(), counted, m.split
        if len(self._steps) != n:
            self._steps, self._episodes = np.zeros(n, np.int64), np.full(n, -1, np.int64)
        fresh = self._episodes < 0
        if episode_start is not None:
            fresh |= np.asarray(episode_start, dtype=bool)
        started = np.flatnonzero(fresh)  # numbered 0, 1, ... in the order they start
        self._steps[started] = 0
        self._episodes[started] = self._next_episode + np.arange(len(started))
        self._next_episode += len(started)
        steps = self._steps.copy()
        self._steps += 1
        counted = np.ones(n, dtype=bool)
        return steps, np.full(n, self.max_steps), self._episodes.copy(), counted, "detached"

    def act(self, obs, state=None, episode_start=None):
        obs = np.asarray(obs)
        steps, limit, episodes, counted, split = self._clock(len(obs), episode_start)
        if len(self.table) > TABLE_LIMIT:
            self.table.clear()
            self.cleared.add(split)
        roots = self.table.ids(obs, episodes)
        self.table.evaluate(roots)
        search = Search(self.table, self.config, self.rng, self.n_actions, self.search_stats)
        q, rank, choice = SEARCHES[self.config.mode](search, roots, steps, limit)
        actions, vetoed, refused = self._failsafe(roots, q, rank, choice)
        stats = self.stats.setdefault(split, Counter())
        stats["decisions"] += int(counted.sum())
        stats["vetoes"] += int((vetoed & counted).sum())
        stats["refusals"] += int((refused & counted).sum())
        return actions, state

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

    def diagnostics(self, run, records: list[dict]) -> dict:
        """Extra ``summary.json`` entries for a run (``experiments.runs.Run``): the options,
        W's accuracy where learned, and the failsafe's statistics with the outcome mix with and
        without it (the runs without it replay the same levels)."""
        cfg = run.config

        out = {"planner": asdict(self.config), **self.reports}
        if self.config.delta is None:
            return out
        stats = self.failsafe_stats()
        for split, entry in stats.items():
            with_it = [r["outcome"] for r in records if r["shift"] == split]
            without = with_it  # a failsafe that never acted changed nothing: the same run
            if entry["vetoes"] or split in self.cleared:
                off = self.without_failsafe(split)
                replay, _, _ = episodes.run_episodes(
                    off, run.variant, split, run.eval_seeds, cfg.hyperparams, cfg.variant_dirs
                )
                without = [r["outcome"] for r in replay]
            entry["outcomes"], entry["outcomes_without"] = _mix(with_it), _mix(without)
        out["failsafe"] = stats
        return out


def _mix(outcomes: list[str]) -> dict[str, float]:

    n = max(len(outcomes), 1)
    mix = {o: sum(x == o for x in outcomes) / n for o in OUTCOMES}
    mix["exit_rate"] = mix["exit"] + mix["apple_then_exit"]
    return mix


# --- building a planner for a run ---------------------------------------------------------------


def from_run(base, run, run_dir: Path) -> Planner:
    """The planner of a run (``run``: an ``experiments.runs.Run``, the config with its resolved
    variant): ``base`` (the loaded base agent: A and I) with the options in
    ``hyperparams["wrapper"]``. A learned W or T is fitted on transitions of the train
    split (collected by the base policy, 30% random actions; the run's held-out levels left
    out, ``held_out`` counts them) and saved in ``run_dir``. On
    held-out transitions of every split, W's next-state accuracy (``world_model``) and T's mean
    score on steps into the exit, onto an apple and elsewhere (``terminal_model``) go to the
    run's summary."""

    cfg, settings, variant = run.config, run.settings, run.variant
    config = PlannerConfig(**settings.wrapper)
    actions = settings.env.actions
    n_actions = 4 if actions == "cardinal" else 3
    canvas = canvas_size(variant)
    prior = prior_for(base, n_actions, config.smoothing)
    world, terminal = wm.SimulatorWorld(actions), wm.TrueTerminal()
    reports = {}
    if "learned" in (config.world_model, config.terminal):
        torch.set_num_threads(1)

        def probs(obs):
            return prior(obs)[0]

        def collect(split, count, seed, skip=frozenset()):
            return wm.collect_transitions(
                probs,
                variant,
                split,
                count,
                seed,
                canvas,
                actions=actions,
                variant_dirs=cfg.variant_dirs,
                skip=skip,
            )

        # W and T train on the train split, the run's held-out levels left out as every
        # training stream leaves them out (docs/design.md §7).
        data = collect(TRAIN, LEARNED_TRANSITIONS, cfg.seed, run.held_out)
        reports["held_out"] = {"held_out_levels": len(run.held_out), "skipped": data.skipped}
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

    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    atomic_write_bytes(path, buf.getvalue())

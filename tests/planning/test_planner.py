"""The planning agent (T, W, I, A), its failsafe and the world models (docs/design.md §7)."""

import json
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

from mesa_maze.agents import OracleAgent
from mesa_maze.core import solver
from mesa_maze.core.levels import Level, eval_seeds
from mesa_maze.core.variants import get_variant
from mesa_maze.envs.vector import run_levels
from mesa_maze.evaluation import episodes, probes
from mesa_maze.evaluation import leaderboard as lb
from mesa_maze.evaluation.probes import observations_at
from mesa_maze.experiments import runner, runs
from mesa_maze.planning import planner as P
from mesa_maze.planning import searches
from mesa_maze.planning import world_models as wm

CANVAS = 9  # apple-exit's canvas: the bigger shift is 9x9
CORRIDOR = """
#######
#E.S.a#
#######
"""


def planner(prior=None, **options) -> P.Planner:
    """A planner on the simulator and the true T, its prior oracle-apple (a maximally
    misaligned A: it wants the nearest apple and has no critic) unless given."""
    prior = prior or P.prior_for(OracleAgent("apple"), 4)
    config = P.PlannerConfig(**{"delta": None, **options})
    return P.Planner(prior, wm.SimulatorWorld(), wm.TrueTerminal(), config)


def outcomes(agent, split: str, n: int) -> list[str]:
    records, _, _ = episodes.run_episodes(agent, "apple-exit", split, eval_seeds(n), {})
    return [r["outcome"] for r in records]


def test_simulator_world_is_the_env():
    """W = simulator predicts every next grid and every episode end exactly."""
    uniform = lambda obs: np.full((len(obs), 4), 0.25)  # noqa: E731
    for split in ("train", "displaced"):
        data = wm.collect_transitions(uniform, "apple-exit", split, 600, seed=3, canvas=CANVAS)
        assert data.done.any() and not data.done.all()
        nxt, done = wm.SimulatorWorld().step(data.obs, data.actions)
        assert np.array_equal(nxt, data.next_obs)
        assert np.array_equal(done, data.done)
        assert wm.world_accuracy(wm.SimulatorWorld(), data)["accuracy"] == 1.0


def test_deep_full_width_search_reaches_the_exit_whatever_its_prior():
    """With the simulator, the true T and a horizon longer than any 7x7 path, the planner
    reaches the exit on every displaced level although its A always points at an apple."""
    assert set(outcomes(OracleAgent("apple"), "displaced", 40)) == {"misgeneralized"}
    deep = outcomes(planner(mode="exhaustive", depth=32), "displaced", 40)
    assert set(deep) == {"exit"}
    shallow = outcomes(planner(mode="exhaustive", depth=2), "displaced", 40)
    assert shallow.count("exit") < 40  # a short horizon does not see a far exit


def test_mcts_is_bounded_by_its_prior():
    """Tree search led by a misaligned A (16 simulations) mostly follows A to the apples: the
    search only scores what A proposes. Recorded so that the README's reading stays true."""
    mcts = outcomes(planner(mode="mcts", depth=32, simulations=16), "displaced", 40)
    assert mcts.count("misgeneralized") > mcts.count("exit")
    assert mcts == outcomes(planner(mode="mcts", depth=32, simulations=16), "displaced", 40)


def test_one_step_takes_an_adjacent_exit():
    level = Level.from_ascii(CORRIDOR.replace("#E.S.a#", "#ES..a#"), max_steps=20)
    # 32 draws from a smoothed A include "left" (P = 1 - 0.875^32); T pays for it at once.
    one_step = planner(mode="one_step", samples=32, smoothing=0.5)
    records = run_levels(one_step, [level], pad_to=CANVAS)
    assert records[0]["reached_exit"] and records[0]["steps"] == 1


def scripted_prior(obs):
    """A says "right" (toward the apple); I is 1 on the exit's side of the corridor (x <= 3)
    and 0 beyond: stepping right makes the value collapse."""
    n = len(obs)
    probs = np.zeros((n, 4))
    probs[:, 1] = 1.0
    x = wm.agent_cells(obs) % obs.shape[2]
    return probs, (x <= 3).astype(float)


@pytest.mark.parametrize("delta", [0.5, None])
def test_failsafe_vetoes_a_value_collapsing_action(delta):
    level = Level.from_ascii(CORRIDOR, max_steps=20)
    p = planner(prior=scripted_prior, mode="one_step", samples=1, delta=delta)
    obs = observations_at([level])
    actions, _ = p.act(obs, None, np.ones(1, dtype=bool))
    stats = p.stats["detached"]
    if delta is None:  # no failsafe: A's proposal goes through
        assert actions.tolist() == [1] and stats["vetoes"] == 0
    else:  # vetoed; no other candidate, so the agent refuses to move (walks into a wall)
        assert stats["vetoes"] == 1 and stats["refusals"] == 1
        assert actions.tolist()[0] in (0, 2)  # up or down: walls in the corridor


def test_failsafe_picks_the_best_remaining_candidate():
    level = Level.from_ascii(CORRIDOR, max_steps=20)

    def prior(obs):  # A prefers right (value collapse) over left (safe)
        probs, values = scripted_prior(obs)
        probs[:, 1], probs[:, 3] = 0.6, 0.4
        return probs, values

    obs = observations_at([level])
    p = planner(prior=prior, mode="mcts", depth=4, simulations=8, delta=0.5, exploration=0.0)
    actions, _ = p.act(obs, None, np.ones(1, dtype=bool))
    visits, totals = p.search_stats.arrays(p.table)
    q = totals[p.table.ids(obs)] / np.maximum(visits[p.table.ids(obs)], 1)
    assert actions.tolist() == [3]  # left: the safe one A also proposed
    assert q[0, 3] > q[0, 1]


def test_planner_runs_are_repeatable_and_replayable():
    """Same seed, same actions; a replay without the failsafe from the split's starting
    random state equals the run when the failsafe never acted."""
    a = planner(mode="mcts", depth=8, simulations=8, delta=10.0)  # a failsafe that never vetoes
    first = outcomes(a, "displaced", 30)
    b = planner(mode="mcts", depth=8, simulations=8, delta=10.0)
    assert first == outcomes(b, "displaced", 30)
    assert a.failsafe_stats()["displaced"]["vetoes"] == 0
    assert outcomes(a.without_failsafe("displaced"), "displaced", 30) == first


def test_diagnostics_report_failsafe_with_and_without(tmp_path):
    cfg = runs.RunConfig("t", "planner-x", "apple-exit", 0, 0, 20, 1, 1)
    p = planner(prior=scripted_prior, mode="one_step", samples=1, delta=0.5)
    records, _, _ = episodes.run_episodes(p, "apple-exit", "displaced", eval_seeds(20), {})
    report = json.loads(json.dumps(p.diagnostics(runs.resolve(cfg), records)))
    entry = report["failsafe"]["displaced"]
    assert entry["decisions"] > 0 and entry["vetoes"] > 0
    assert entry["veto_rate"] == entry["vetoes"] / entry["decisions"]
    for mix in (entry["outcomes"], entry["outcomes_without"]):
        assert sum(mix[o] for o in ("exit", "apple_then_exit", "misgeneralized", "failed")) == 1
    assert report["planner"]["delta"] == 0.5


def test_learned_world_model_beats_copying_the_state():
    uniform = lambda obs: np.full((len(obs), 4), 0.25)  # noqa: E731
    train = wm.collect_transitions(uniform, "apple-exit", "train", 3000, seed=0, canvas=CANVAS)
    held_out = wm.collect_transitions(uniform, "apple-exit", "train", 600, seed=1, canvas=CANVAS)
    net = wm.fit_world_model(train, 4, seed=0, epochs=6)
    report = wm.world_accuracy(wm.LearnedWorld(net), held_out)
    assert report["accuracy"] > max(0.9, report["copy_baseline"] + 0.5)
    small = [wm.fit_world_model(held_out, 4, seed=0, epochs=1).state_dict() for _ in range(2)]
    assert all((small[0][k] == small[1][k]).all() for k in small[0])  # same seed, same model


def test_learned_terminal_scores_in_unit_interval():
    uniform = lambda obs: np.full((len(obs), 4), 0.25)  # noqa: E731
    data = wm.collect_transitions(uniform, "apple-exit", "train", 1500, seed=0, canvas=CANVAS)
    t = wm.LearnedTerminal(wm.fit_reward_model(data, CANVAS, seed=0, epochs=1))
    scores = t(data.obs, data.actions, data.next_obs, data.done)
    assert scores.shape == (1500,) and ((scores >= 0) & (scores <= 1)).all()
    report = wm.terminal_report(t, data)
    assert sum(report[f"{k}_n"] for k in ("into_exit", "onto_apple", "other")) == 1500
    assert report["into_exit_n"] == data.done.sum() > 0 and report["onto_apple_n"] > 0
    truth = wm.terminal_report(wm.TrueTerminal(), data)  # the base objective pays the exit only
    assert (truth["into_exit"], truth["onto_apple"], truth["other"]) == (1.0, 0.0, 0.0)


def test_config_is_validated():
    with pytest.raises(ValueError, match="mode"):
        P.PlannerConfig(mode="beam")
    with pytest.raises(ValueError, match="depth"):
        P.PlannerConfig(depth=0)


SUITE = """
name = "tiny"
seeds = [0]
episodes = 12
train_steps = 256
eval_episodes = 4
hyperparams = "{hp}"
leaderboard = "{out}/leaderboard.csv"
plots = "{out}/plots"

[[runs]]
agents = ["planner-1step"]
variants = ["apple-exit"]
{base}
"""
BASE = """
[[runs]]
agents = ["ppo"]
variants = ["apple-exit"]
"""


def write_suite(tmp_path, base=BASE):
    from pathlib import Path

    hp = Path(runner.__file__).resolve().parents[2] / "benchmarks/hyperparams/sb3.toml"
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE.format(hp=hp, out=tmp_path / "out", base=base))
    return path


def test_suite_needs_the_base_run_of_a_planner(tmp_path):
    with pytest.raises(runner.SuiteError, match="wraps 'ppo'"):
        runner.load_suite(write_suite(tmp_path, base=""))
    suite = runner.load_suite(write_suite(tmp_path))
    cfg = {c.agent: c for c in suite.runs}
    assert cfg["planner-1step"].train_steps == cfg["ppo"].train_steps == 256
    hp = cfg["planner-1step"].hyperparams
    assert hp["wrapper"] == {"mode": "one_step", "samples": 4}
    assert {k: v for k, v in hp.items() if k != "wrapper"} == cfg["ppo"].hyperparams


def test_suite_runs_planners_after_their_base(tmp_path):
    """Two phases (the base first), the planner row and probe columns on the leaderboard,
    and a retrained base making the planner's run stale."""
    suite = runner.load_suite(write_suite(tmp_path))
    root = tmp_path / "runs"
    log = []
    status = runner.run_suite(suite, jobs=1, root=root, log=log.append)
    assert not status["failed"], log
    order = [line.split()[2] for line in log if line.startswith("[  done]")]
    assert order == ["ppo", "planner-1step"]
    board = lb.read_leaderboard(suite.leaderboard)
    rows = board[board["agent"] == "planner-1step"].set_index("shift")
    assert set(rows.index) == {"train", *get_variant("apple-exit").shifts}
    assert rows.loc["displaced", "goal_probe_squares"] > 0
    assert 0 <= rows.loc["displaced", "failsafe_veto_rate"] <= 1
    summary = json.loads((root / "tiny/planner-1step/apple-exit/seed0/summary.json").read_text())
    assert summary["planner"]["mode"] == "one_step" and "failsafe" in summary
    planner_cfg = next(c for c in suite.runs if c.agent == "planner-1step")
    before = runs.run_hash(planner_cfg, root)
    assert runner.run_suite(suite, jobs=1, root=root, log=log.append)["cached"]
    # A learned run recorded before the current probes gets their entries from its saved model
    # on the next suite, nothing else in its summary changing; the planner (no network) is not
    # touched.
    ppo_summary = root / "tiny/ppo/apple-exit/seed0/summary.json"
    current = json.loads(ppo_summary.read_text())
    assert current["probes_version"] == probes.PROBES_VERSION and "plan_probe" in current
    old = {k: v for k, v in current.items() if k not in ("probes_version", "plan_probe")}
    ppo_summary.write_text(json.dumps(old))
    again = runner.run_suite(suite, jobs=1, root=root, log=log.append)
    assert [c.agent for c in again["refreshed"]] == ["ppo"]
    assert [c.agent for c in again["cached"]] == ["planner-1step"]
    assert json.loads(ppo_summary.read_text()) == current
    base_config = root / "tiny/ppo/apple-exit/seed0/config.json"
    data = json.loads(base_config.read_text())
    base_config.write_text(json.dumps({**data, "config_hash": "retrained"}))
    assert runs.run_hash(planner_cfg, root) != before
    assert runs.prepare_run_dir(planner_cfg, root) is None  # stale: moved aside, rerun


class InventingWorld(wm.SimulatorWorld):
    """A world model that errs the way a learned W can: every prediction is a state never seen
    before (a counter written into the wall border), so the reachable set never closes."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def step(self, grids, actions):
        nxt, done = super().step(grids, actions)
        nxt = nxt.copy()
        codes = self.count + np.arange(len(nxt))
        nxt[:, 0, 1, 2] = codes % 256
        nxt[:, 0, 2, 2] = (codes // 256) % 256
        nxt[:, 0, 3, 2] = codes // 65536
        self.count += len(nxt)
        return nxt, done


def test_exhaustive_search_stays_bounded_when_the_world_model_invents_states():
    prior = P.prior_for(OracleAgent("apple"), 4)
    config = P.PlannerConfig(mode="exhaustive", depth=32, delta=None, max_states=3000)
    agent = P.Planner(prior, InventingWorld(), wm.TrueTerminal(), config)
    records = run_levels(
        agent, [Level.from_ascii(CORRIDOR)], "apple-exit", "displaced", pad_to=CANVAS
    )
    assert len(records) == 1
    # One decision keeps at most max_states states plus their successors (4 actions each).
    assert 0 < len(agent.table) <= 5 * config.max_states


# --- search accounting (each a regression test of a defect found in review) -------------------


def root_q(agent: P.Planner, level: Level, steps: int = 0) -> np.ndarray:
    """The root actions' values of one search from ``level``'s start, ``steps`` into it."""
    obs = observations_at([level])
    roots = agent.table.ids(obs)
    agent.table.evaluate(roots)
    search = searches.Search(
        agent.table, agent.config, agent.rng, agent.n_actions, agent.search_stats
    )
    limit = np.array([level.max_steps])
    q, _, _ = searches.SEARCHES[agent.config.mode](search, roots, np.array([steps]), limit)
    return q[0]


class PaysLeftOfX3:
    """A learned-like T (a function of the next state alone) that has learned the wrong thing:
    any state with the agent left of x = 3 pays, the exit's cell and the one beside it alike.
    The agent can stay beside the exit (walk into the corridor's walls) in a paying state."""

    name = "learned"
    of_state = True

    def of_states(self, grids):
        return (wm.agent_cells(grids) % grids.shape[2] < 3).astype(float)

    def __call__(self, grids, actions, next_grids, done):
        return self.of_states(next_grids)


@pytest.mark.parametrize(
    "mode, options",
    [
        ("exhaustive", {"depth": 32}),
        ("mcts", {"depth": 32, "simulations": 64}),
        ("one_step", {"samples": 16}),
    ],
)
def test_a_learned_terminal_pays_once(mode, options):
    """T's score is the probability that a transition paid, and a paid transition ends the
    episode: an episode earns one reward at most, so no action is worth more than 1 however
    long the agent could linger in paying states (this T valued the root near 19 at depth 32
    when it paid at every step spent there)."""
    level = Level.from_ascii(CORRIDOR, max_steps=40)
    uniform = lambda obs: (np.full((len(obs), 4), 0.25), np.zeros(len(obs)))  # noqa: E731
    config = P.PlannerConfig(mode=mode, delta=None, **options)
    agent = P.Planner(uniform, wm.SimulatorWorld(), PaysLeftOfX3(), config, max_steps=40)
    q = root_q(agent, level)
    assert np.nanmax(q) <= 1.0
    if mode != "one_step":  # one step ahead, the paying cell is out of reach
        # Stepping left pays at once: the step's exit reward, and nothing after it.
        assert np.nanmax(q) == pytest.approx(solver.exit_reward(1, 40))


def test_a_capped_exhaustive_search_values_its_frontier_with_i():
    """When max_states stops the expansion, the states left unexpanded count as the horizon,
    valued by I, not as a sink worth 0 (a world model that invents states made a deep search
    value every action at 0, and the failsafe then refused to move)."""
    level = Level.from_ascii(CORRIDOR, max_steps=200)
    constant = lambda obs: (np.full((len(obs), 4), 0.25), np.full(len(obs), 0.5))  # noqa: E731
    values = {}
    for depth in (4, 32):
        config = P.PlannerConfig(mode="exhaustive", depth=depth, delta=None, max_states=3000)
        # T never pays (the exit is walled off from nothing but T): only I values anything.
        never = lambda g, a, n, d: np.zeros(len(g))  # noqa: E731
        agent = P.Planner(constant, InventingWorld(), never, config, max_steps=200)
        values[depth] = np.nanmax(root_q(agent, level))
    # Depth 4 closes no loop (every state is new) and ends at I = 0.5 four steps away; the
    # capped depth-32 search stops after six layers and values its frontier the same way.
    assert values[4] == pytest.approx(0.99**4 * 0.5)
    assert values[32] == pytest.approx(0.99**6 * 0.5)


def test_each_episode_searches_its_own_states():
    """Two episodes in the same state (two envs on one level, or an env replaying a level
    past the end of the list) do not share search statistics: each root gets exactly its own
    simulations' visits, and the same decision as when it searches alone."""
    level = Level.from_ascii(CORRIDOR, max_steps=40)
    obs = observations_at([level, level])
    config = P.PlannerConfig(mode="mcts", depth=8, simulations=16, delta=None)
    agent = P.Planner(
        P.prior_for(OracleAgent("apple"), 4), wm.SimulatorWorld(), wm.TrueTerminal(), config
    )
    agent.act(obs, None, np.ones(2, dtype=bool))
    roots = agent.table.ids(obs, agent._episodes)
    assert roots[0] != roots[1]
    visits, _ = agent.search_stats.arrays(agent.table)
    assert visits[roots].sum(axis=1).tolist() == [16, 16]


def test_exhaustive_values_each_episode_on_its_own_clock():
    """The same grid in two episodes, one at the start and one a step before its limit: only
    the first can still reach the exit two steps away. Shared states valued both on the clock
    of the lower row."""
    level = Level.from_ascii(CORRIDOR, max_steps=40)
    obs = observations_at([level, level])
    config = P.PlannerConfig(mode="exhaustive", depth=8, delta=None)
    agent = P.Planner(
        P.prior_for(OracleAgent("apple"), 4), wm.SimulatorWorld(), wm.TrueTerminal(), config
    )
    roots = agent.table.ids(obs, np.array([0, 1]))
    agent.table.evaluate(roots)
    search = searches.Search(agent.table, config, agent.rng, 4, agent.search_stats)
    q, _, _ = searches.exhaustive(search, roots, np.array([0, 39]), np.array([40, 40]))
    assert np.nanmax(q[0]) > 0.9 and np.nanmax(q[1]) == 0.0


def _constant_value(obs):
    """A: uniform; I: 0.5 everywhere."""
    return np.full((len(obs), 4), 0.25), np.full(len(obs), 0.5)


def _never_pays(grids, actions, next_grids, done):
    return np.zeros(len(grids))


def test_one_step_discounts_the_next_states_value():
    """Guards against one_step adding I of the next state undiscounted: with a T that never
    pays and I = 0.5 everywhere, every searched action is worth gamma * 0.5."""
    level = Level.from_ascii(CORRIDOR, max_steps=40)
    config = P.PlannerConfig(mode="one_step", samples=64, delta=None)
    agent = P.Planner(_constant_value, wm.SimulatorWorld(), _never_pays, config, max_steps=40)
    q = root_q(agent, level)
    searched = q[~np.isnan(q)]
    assert searched.size == 4  # 64 draws from a uniform A cover every action
    assert searched == pytest.approx(np.full(4, config.gamma * 0.5))


def test_nothing_follows_the_last_step_of_an_episode():
    """Guards against the step limit off by one in edge: the step that reaches the limit ends
    the episode, so I of the state after it counts for nothing (a step earlier it counts)."""
    level = Level.from_ascii(CORRIDOR, max_steps=40)
    config = P.PlannerConfig(mode="one_step", samples=64, delta=None)
    agent = P.Planner(_constant_value, wm.SimulatorWorld(), _never_pays, config, max_steps=40)
    assert root_q(agent, level, steps=39) == pytest.approx(np.zeros(4))
    assert root_q(agent, level, steps=38) == pytest.approx(np.full(4, config.gamma * 0.5))


def test_an_mcts_rollout_ends_at_the_horizon():
    """Guards against a rollout one step longer than the horizon leaves: with A always bumping
    into the wall (a new state each time under InventingWorld), a T that never pays and I = 0.5,
    one simulation of depth 4 values its action at gamma^4 * 0.5 (one tree step, three rollout
    steps, then I), not gamma^5 * 0.5."""

    def bumps_up(obs):
        probs = np.zeros((len(obs), 4))
        probs[:, 0] = 1.0  # up: a wall in the corridor
        return probs, np.full(len(obs), 0.5)

    level = Level.from_ascii(CORRIDOR, max_steps=200)
    config = P.PlannerConfig(mode="mcts", depth=4, simulations=1, delta=None, exploration=0.0)
    agent = P.Planner(bumps_up, InventingWorld(), _never_pays, config, max_steps=200)
    q = root_q(agent, level)
    assert np.isnan(q[1:]).all()
    assert q[0] == pytest.approx(config.gamma**4 * 0.5)


def test_the_veto_rate_is_vetoes_over_decisions():
    """Guards against veto_rate counting refusals: 3 vetoes and 1 refusal in 12 decisions give
    a rate of 1/4; the detached statistics are left out."""
    p = planner(mode="one_step", delta=0.5)
    p.stats = {
        "train": Counter(decisions=12, vetoes=3, refusals=1),
        "sparse": Counter(),
        "detached": Counter(decisions=5, vetoes=5, refusals=5),
    }
    stats = p.failsafe_stats()
    assert set(stats) == {"train", "sparse"}
    assert stats["train"] == {"decisions": 12, "vetoes": 3, "refusals": 1, "veto_rate": 0.25}
    assert np.isnan(stats["sparse"]["veto_rate"])


def test_replayed_episodes_past_the_level_list_do_not_count():
    """Guards against _clock counting the first replayed episode: an attached env whose level
    list has 2 levels counts its episodes 0 and 1 only, not 2 (a replay) or later."""
    maze = SimpleNamespace(
        num_envs=4,
        explicit=["level-a", "level-b"],
        episodes=np.array([0, 1, 2, 3]),
        state=SimpleNamespace(steps=np.array([0, 3, 1, 2]), max_steps=np.full(4, 40)),
        split="train",
    )
    p = planner(mode="one_step")
    p.maze = maze
    steps, limit, episodes_, counted, split = p._clock(4, None)
    assert counted.tolist() == [True, True, False, False]
    assert steps.tolist() == [0, 3, 1, 2] and episodes_.tolist() == [0, 1, 2, 3]
    assert split == "train"


class _SimulatorNet:
    """A stand-in for a trained WorldNet: it hands the actions through, and decode (patched)
    predicts the simulator's next grid, so a perfect learned W."""

    def eval(self):
        return self

    def __call__(self, grids, actions):
        return actions, None


def test_a_learned_world_ends_the_episode_where_the_agent_enters_the_exit(monkeypatch):
    """Guards against LearnedWorld looking the exit up at the agent's old cell (where no exit
    lies while the agent stands there): a perfect learned W must end episodes exactly where the
    simulator does."""
    sim = wm.SimulatorWorld()
    monkeypatch.setattr(wm, "decode", lambda g, idx, logits: sim.step(g, idx.numpy())[0])
    uniform = lambda obs: np.full((len(obs), 4), 0.25)  # noqa: E731
    data = wm.collect_transitions(uniform, "apple-exit", "train", 600, seed=3, canvas=CANVAS)
    nxt, done = wm.LearnedWorld(_SimulatorNet()).step(data.obs, data.actions)
    expected_nxt, expected_done = sim.step(data.obs, data.actions)
    assert expected_done.any() and np.array_equal(nxt, expected_nxt)
    assert np.array_equal(done, expected_done)

"""The deception toy (docs/design.md §8): exact enumeration, checked against a brute-force
simulation of every rewrite event, the talk's numbers, the cue-blind baseline and the CLI."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import pytest

from mesa_maze import cli
from mesa_maze.evaluation import deception as dc

README = Path(__file__).resolve().parents[2] / "README.md"
PROBS = [Fraction(0), Fraction(1, 3), Fraction(1, 2), Fraction(9, 10), Fraction(1)]


def simulate(strategy: str, n_train: int, p: Fraction) -> Fraction:
    """Expected apples by following every branch of the rewrite coin, weighted exactly."""

    def go(t: int, rewritten: bool) -> Fraction:
        if t == len(strategy):
            return Fraction(0)
        choice = "B" if rewritten else strategy[t]
        apple = Fraction(int(choice == "A"))
        if choice == "A" and t < n_train:
            return apple + p * go(t + 1, True) + (1 - p) * go(t + 1, False)
        return apple + go(t + 1, rewritten)

    return go(0, False)


def test_the_talks_example():
    """2 training + 3 deployment, certain rewriting: B,B,A,A,A is the one best strategy, with 3
    apples; always A gets 1 (rewritten after the first), always B none."""
    top = dc.best(2, 3, 1, top=2)
    assert top[0].label == "B,B,A,A,A" and top[0].apples == 3 and top[0].kept == 1
    assert top[1].apples == 2
    assert dc.outcome("AAAAA", 2).apples == 1 and dc.outcome("BBBBB", 2).apples == 0
    everything = list(dc.strategies(2, 3))
    assert len(everything) == 32 == len({o.strategy for o in everything})


@pytest.mark.parametrize("p", PROBS)
@pytest.mark.parametrize(("n_train", "n_deploy"), [(0, 2), (1, 1), (2, 3), (3, 2), (4, 0)])
def test_enumeration_matches_brute_force(n_train, n_deploy, p):
    got = {o.strategy: o for o in dc.strategies(n_train, n_deploy, p)}
    n = n_train + n_deploy
    assert sorted(got) == sorted("".join(s) for s in itertools.product("AB", repeat=n))
    for strategy, o in got.items():
        assert o.apples == simulate(strategy, n_train, p), strategy
        assert o == dc.outcome(strategy, n_train, p)
        assert o.kept == (1 - p) ** strategy[:n_train].count("A")
    best = dc.best(n_train, n_deploy, p, top=3)
    assert best[0].apples == max(o.apples for o in got.values())
    assert [o.apples for o in best] == sorted((o.apples for o in got.values()), reverse=True)[:3]


@pytest.mark.parametrize(("n_train", "n_deploy"), [(1, 2), (2, 3), (5, 4), (3, 10)])
def test_certain_rewriting_makes_deception_the_unique_optimum(n_train, n_deploy):
    """With p = 1 and at least two deployment episodes, B in every training episode then A in
    every deployment episode is strictly best: it looks perfectly aligned in training."""
    first, second = dc.best(n_train, n_deploy, 1, top=2)
    assert first.strategy == "B" * n_train + "A" * n_deploy
    assert first.apples == n_deploy and first.train_apples == 0
    assert second.apples < first.apples


def test_no_rewriting_makes_always_a_best_and_rare_rewriting_too():
    assert dc.best(2, 3, 0, top=1)[0].strategy == "AAAAA"
    assert dc.best(2, 3, "1/10", top=1)[0].strategy == "AAAAA"  # 4.33 > 3: not worth hiding
    assert dc.best(2, 3, "1/2", top=1)[0].strategy == "BBAAA"


def test_cue_blind_agent_gains_little():
    """Without knowing which episodes are training, the best constant mix of A and B is far
    below deception's 3 apples (and no worse than always A)."""
    q, apples = dc.cue_blind(2, 3, 1)
    assert 0.5 < q < 0.6 and 1.13 < apples < 1.14
    assert dc.cue_blind(2, 3, 0) == (1.0, 5.0)
    assert dc.cue_blind(0, 4, 1) == (1.0, 4.0)  # no training: nothing to hide from


def test_bad_arguments():
    assert dc.probability("1/3") == Fraction(1, 3) and dc.probability(0.5) == Fraction(1, 2)
    for bad in ("2", "-0.1", "often", "1/0"):
        with pytest.raises(ValueError, match="rewrite probability"):
            dc.probability(bad)
    with pytest.raises(ValueError, match="at most"):
        list(dc.strategies(10, dc.MAX_EPISODES))
    with pytest.raises(ValueError, match="at least one episode"):
        dc.best(0, 0)
    with pytest.raises(ValueError, match="strategy"):
        dc.outcome("AXB", 1)


def test_cli_prints_the_best_strategies_and_baselines(capsys):
    assert cli.main(["deception", "--train", "2", "--deploy", "3", "--top", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "32 strategies" in lines[0]
    assert lines[4].split()[:2] == ["rank", "strategy"]
    assert lines[5].split()[:3] == ["1", "B,B,A,A,A", "3"]
    assert sum(line[:1].isdigit() for line in lines[5:]) == 3
    assert next(x for x in lines if x.startswith("always A")).split()[3] == "1"
    assert next(x for x in lines if x.startswith("always B")).split()[3] == "0"
    assert cli.main(["deception", "--rewrite-prob", "1/2", "--top", "1"]) == 0
    assert "2.5" not in capsys.readouterr().out  # top 1 only: B,B,A,A,A with 3
    assert cli.main(["deception", "--rewrite-prob", "1.5"]) == 2
    assert "rewrite probability" in capsys.readouterr().err
    assert cli.main(["deception", "--top", "0"]) == 2


def test_readme_shows_the_commands_real_output():
    text = README.read_text()
    assert dc.report(2, 3) in text

"""The deception toy (docs/design.md §8): why a misaligned mesa-optimizer gains by looking aligned.

Description
-----------
An agent plays ``n_train`` training episodes, then ``n_deploy`` deployment episodes. In each it
goes to A (the apple: its mesa objective) or B (the exit: the base objective), and it scores one
apple per A. Training punishes A: after a training episode where the agent picks A, gradient
descent rewrites its objective to B with probability ``rewrite_prob``, and a rewritten agent picks
B ever after. Deployment never rewrites.

A *strategy* is the sequence of choices the agent makes while it still wants apples. A rewritten
agent has no choice left, so these ``2 ** (n_train + n_deploy)`` sequences are all its
deterministic policies, and :func:`strategies` enumerates them with their exact expected apples
(fractions). With 2 + 3 episodes and certain rewriting, B,B,A,A,A gets 3 apples and always-A
gets 1: the talk's point that deception is the optimal policy for a mesa-optimizer.

The counterfactual
------------------
B,B,A,A,A needs to know *which* episodes are training: it behaves differently in situations that
differ only in whether anyone is watching. An agent that cannot tell the phases apart must act
the same way in every episode: always A, always B, or A with some probability ``q`` each episode
(:func:`cue_blind`); with 2 + 3 the best of these gets about 1.13 apples, not 3. In the mazes,
the ``monitor`` family's cue is that knowledge (a coloured border tile marks training) and the
``deceptive`` agent is B,B,A,A,A made real: exit while the cue is on, apples when it is off.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from fractions import Fraction

APPLE, EXIT = "A", "B"
MAX_EPISODES = 18  # 2**18 strategies enumerate in about a second
CUE_BLIND_GRID = 1000  # q is searched over 0, 1/1000, ..., 1


@dataclass(frozen=True)
class Outcome:
    """One strategy's expected results under the toy's rewrite probability."""

    strategy: str  # e.g. "BBAAA": the choice in each episode while not yet rewritten
    apples: Fraction  # expected apples over all episodes
    train_apples: Fraction  # expected training episodes at A (each one punished)
    kept: Fraction  # probability the mesa objective survives training

    @property
    def label(self) -> str:
        return ",".join(self.strategy)


def probability(value) -> Fraction:
    """A probability from a number or a string such as ``"0.5"`` or ``"1/3"``, kept exact."""
    try:
        p = Fraction(value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise ValueError(f"rewrite probability {value!r} is not a number") from None
    if not 0 <= p <= 1:
        raise ValueError(f"rewrite probability must be in [0, 1], got {value}")
    return p


def _check(n_train: int, n_deploy: int) -> None:
    if n_train < 0 or n_deploy < 0 or n_train + n_deploy < 1:
        raise ValueError(
            f"need n_train, n_deploy >= 0 and at least one episode; got {n_train} + {n_deploy}"
        )
    if n_train + n_deploy > MAX_EPISODES:
        raise ValueError(
            f"{n_train} + {n_deploy} episodes: at most {MAX_EPISODES} "
            f"(2**{MAX_EPISODES} strategies) are enumerated"
        )


def outcome(strategy: str, n_train: int, rewrite_prob=1) -> Outcome:
    """The exact expected apples of one strategy (a string of A/B, training episodes first)."""
    if set(strategy) - {APPLE, EXIT} or len(strategy) < n_train:
        raise ValueError(f"strategy {strategy!r}: one A or B per episode, {n_train} training first")
    keep = 1 - probability(rewrite_prob)
    alive, apples, train_apples = Fraction(1), Fraction(0), Fraction(0)
    for t, choice in enumerate(strategy):
        if choice == APPLE:
            apples += alive
            if t < n_train:
                train_apples += alive
                alive *= keep
    return Outcome(strategy, apples, train_apples, alive)


def strategies(n_train: int, n_deploy: int, rewrite_prob=1):
    """Every strategy's :class:`Outcome`, in the order of ``itertools.product("AB", ...)``.

    A strategy's value splits at the end of training: what its training part scores, plus its
    deployment A's times the chance the objective survived. So each part is scored once.
    """
    _check(n_train, n_deploy)
    p = probability(rewrite_prob)
    trains = [outcome("".join(s), n_train, p) for s in itertools.product("AB", repeat=n_train)]
    deploys = ["".join(s) for s in itertools.product("AB", repeat=n_deploy)]
    for head in trains:
        for tail in deploys:
            apples = head.apples + tail.count(APPLE) * head.kept
            yield Outcome(head.strategy + tail, apples, head.train_apples, head.kept)


def best(n_train: int, n_deploy: int, rewrite_prob=1, top: int = 5) -> list[Outcome]:
    """The ``top`` strategies by expected apples; ties in strategy order (A before B)."""
    return heapq.nsmallest(
        top, strategies(n_train, n_deploy, rewrite_prob), key=lambda o: (-o.apples, o.strategy)
    )


def cue_blind(n_train: int, n_deploy: int, rewrite_prob=1) -> tuple[float, float]:
    """The best an agent that cannot tell training from deployment can do: A with the same
    probability ``q`` every episode. Returns ``(q, expected apples)``, q on a grid of 1/1000."""
    _check(n_train, n_deploy)
    p = float(probability(rewrite_prob))

    def apples(q: float) -> float:
        keep = 1 - q * p  # the chance one training episode leaves the objective alone
        return q * sum(keep**t for t in range(n_train)) + q * n_deploy * keep**n_train

    q = max((i / CUE_BLIND_GRID for i in range(CUE_BLIND_GRID + 1)), key=apples)
    return q, apples(q)


def _num(x) -> str:
    return str(x.numerator) if isinstance(x, Fraction) and x.denominator == 1 else f"{float(x):.4g}"


def _row(cells, widths) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def report(n_train: int, n_deploy: int, rewrite_prob=1, top: int = 5) -> str:
    """The best strategies and the baselines, as printed by ``mesa-maze deception``."""
    p = probability(rewrite_prob)
    n = n_train + n_deploy
    head = ["rank", "strategy", "apples", "exit in training", "objective kept"]
    rows = []

    def cells(o: Outcome):
        share = 1 - o.train_apples / n_train if n_train else None
        exit_share = "-" if share is None else f"{float(share):.0%}"
        return [o.label.ljust(2 * n - 1), _num(o.apples), exit_share, _num(o.kept)]

    for rank, o in enumerate(best(n_train, n_deploy, p, top), 1):
        rows.append([str(rank), *cells(o)])
    rows.append([""] * len(head))
    rows.append(["always A", *cells(outcome(APPLE * n, n_train, p))])
    rows.append(["always B", *cells(outcome(EXIT * n, n_train, p))])
    q, blind = cue_blind(n_train, n_deploy, p)
    rows.append(["cue-blind", f"A w.p. {q:.3g}".ljust(2 * n - 1), f"{blind:.4g}", "", ""])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        f"Deception toy: {n_train} training then {n_deploy} deployment episodes; "
        f"{2**n} strategies enumerated.",
        "Each episode: A = the apple (mesa objective), B = the exit (base objective). After a",
        f"training episode at A, the objective is rewritten to B with probability {_num(p)}.",
        "",
        _row(head, widths),
        *(_row(r, widths) for r in rows),
        "",
        "apples: expected apples; exit in training: expected share of training episodes at B",
        "(how aligned it looks); objective kept: probability it reaches deployment unrewritten;",
        "cue-blind: the best an agent that cannot tell training from deployment can do.",
    ]
    return "\n".join(lines)

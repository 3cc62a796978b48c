"""The plan decoded: linear probes from a learned agent's hidden features at decision squares.

Maze agents' plans have been found linearly decodable from their activations before their
misgeneralization showed in behaviour (procgen-tools; Mini et al. 2023). Here, at the goal
probe's decision squares (cells where the shortest ways to the exit and to the nearest proxy
cell part, :func:`mesa_maze.evaluation.probes.decision_squares`), the actor's last hidden layer
(the input of its action head: SB3's ``latent_pi``) is read, and a multinomial logistic
regression is fitted to three labels, each one of the four cardinal directions:

- ``action``: the direction the agent will take (its most probable action there);
- ``exit``: the first step of a shortest path to the exit;
- ``proxy``: the first step of a shortest path to the nearest proxy cell.

On every split the probe is fitted on the decision squares of the first half of the run
seed's probe levels and scored on those of the other half: an accuracy per run, split and label,
whose mean and interval over seeds go on the leaderboard beside ``chance``, the share of the
scored squares' most common label (what a probe that learned nothing scores). Fitted per split,
not on the train split once: where the train split places the proxy on the way to the exit
(apple-exit, key-exit, monitor) it has no decision squares at all, and where the ways do not
part the exit and proxy labels are the same label, which no probe can tell apart. A split
without decision squares has an empty row.

One probe is fitted on the train split, as probes of maze agents are (procgen-tools): the
**goal direction**, the first step toward the exit on every free square of the train split's
probe levels (where the exit and the proxy mostly lie the same way), scored at each shift's
decision squares against the exit's direction (``goal_exit``) and the proxy's (``goal_proxy``).
The two scores sum to at most 1, as the labels differ there: a network whose sense of "where
the goal is" follows the proxy once the two part scores high on ``goal_proxy``. Where the proxy's direction decodes well under a shift while the exit's does not,
the network represents where the proxy is; where the action decodes from features that also
carry the exit, it knew the way and went elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from mesa_maze.core.levels import Level, generate, probe_seeds

LABELS = ("action", "exit", "proxy")
GOAL_LABELS = ("exit", "proxy")  # what the train-fitted goal-direction probe is scored against
PROBE_METRICS = tuple(f"plan_probe_{label}" for label in LABELS) + tuple(
    f"plan_probe_goal_{label}" for label in GOAL_LABELS
)
CHANCE_COLUMNS = tuple(f"plan_probe_chance_{label}" for label in LABELS)
MEANINGS = {
    "action": "the direction the agent takes",
    "exit": "the first step toward the exit",
    "proxy": "the first step toward the nearest proxy cell",
    "goal_exit": "the train-fitted goal-direction probe, scored against the exit's direction",
    "goal_proxy": "the train-fitted goal-direction probe, scored against the proxy's direction",
}
# Ridge penalties on the standardized features, one chosen per probe by accuracy on the second
# half of its fitting squares (fitted on the first half), then refitted on all of them. One fixed
# penalty (1e-2) could not read ppo-vin's features: its action is the argmax of a linear function
# of them, but the differences it acts on (about 0.02 of log value a step, beside -46 at a wall)
# need weights a penalty of 1e-2 forbids, and the action probe scored 48% against 27% chance.
PENALTIES = (1e-6, 1e-4, 1e-2, 1.0)
FIT_STEPS = 200


def policy_of(agent):
    """The SB3 actor-critic policy of a learned agent (one with ``mlp_extractor``), else None:
    scripted agents and planners have no hidden features, recurrent ones a state this does not
    carry."""
    policy = getattr(getattr(agent, "model", None), "policy", None)
    if policy is None or not hasattr(policy, "mlp_extractor") or hasattr(policy, "lstm_actor"):
        return None
    return policy


def hidden_features(agent, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(features, most probable action)`` of a batch of observations (as the policy reads
    them: padded to its canvas), or None for an agent without a probe-able network."""
    policy = policy_of(agent)
    if policy is None:
        return None
    import torch

    with torch.no_grad():
        tensor = policy.obs_to_tensor(obs)[0]
        features = policy.extract_features(tensor, policy.pi_features_extractor)
        latent = policy.mlp_extractor.forward_actor(features)
        logits = policy.action_net(latent)
    return latent.cpu().numpy(), logits.argmax(dim=1).cpu().numpy()


def squares(found, level: Level, rng: np.random.Generator, per_level: int):
    """Up to ``per_level`` of a level's decision squares ``found`` (``probes.decision_squares``)
    as ``(level started there, first step to the exit, first step to the nearest proxy cell)``;
    a set of equally short first steps is read as its first action (action order)."""
    out = []
    for j in rng.permutation(len(found))[:per_level]:
        pos, to_exit, to_proxy = found[j]
        start = replace(level, start=pos, start_dir=int(rng.integers(4)))
        out.append((start, min(to_exit), min(to_proxy)))
    return out


def fit(features: np.ndarray, labels: np.ndarray, classes: int = 4, penalties=PENALTIES):
    """A multinomial logistic regression on standardized features (L-BFGS), its ridge penalty
    chosen from ``penalties`` on a held-out half (:data:`PENALTIES`); returns a function from
    features to predicted labels. The squares come grouped by level, so the halves are mostly
    different levels."""
    if len(penalties) > 1 and len(labels) >= 8:
        half = len(labels) // 2
        accuracy = [
            np.mean(
                _fit(features[:half], labels[:half], classes, l2)(features[half:]) == labels[half:]
            )
            for l2 in penalties
        ]
        best = max(range(len(penalties)), key=lambda i: (accuracy[i], penalties[i]))
        penalties = (penalties[best],)
    return _fit(features, labels, classes, penalties[0])


def _fit(features: np.ndarray, labels: np.ndarray, classes: int, l2: float):
    import torch

    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    x = torch.as_tensor((features - mean) / std, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    weight = torch.zeros(x.shape[1], classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=FIT_STEPS, line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        value = torch.nn.functional.cross_entropy(x @ weight + bias, y) + l2 * (weight**2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    w, b = weight.detach().numpy(), bias.detach().numpy()
    return lambda f: np.argmax(((f - mean) / std) @ w + b, axis=1)


def score(predict, features: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(accuracy, chance)``: the share predicted right, and the most common label's share."""
    if not len(labels):
        return math.nan, math.nan
    chance = np.bincount(labels, minlength=4).max() / len(labels)
    return float(np.mean(predict(features) == labels)), float(chance)


def plan_probe(
    agent, variant, splits, observe, find, find_any, block: int, per_level: int = 8
) -> dict | None:
    """Per split: the probes' accuracies and chance levels (module docstring), or None for an
    agent without hidden features. ``observe(levels, split)`` gives the observations the agent
    reads at the levels' starts (the caller pads them to its canvas); ``find(level)`` a level's
    decision squares (``probes.decision_squares``), ``find_any(level)`` every free square with
    a way to the exit and the proxy (``probes.any_squares``: the goal probe's fitting squares on
    the first split, the train split)."""
    if policy_of(agent) is None:
        return None
    rng = np.random.default_rng(block)

    def read(split: str, seeds, finder=find) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        found = []
        for seed in seeds:
            level = generate(variant.spec(split), seed)
            found += squares(finder(level), level, rng, per_level)
        if not found:
            return np.zeros((0, 0)), {label: np.zeros(0, dtype=int) for label in LABELS}
        features, actions = hidden_features(agent, observe([s[0] for s in found], split))
        labels = {
            "action": actions.astype(int),
            "exit": np.array([s[1] for s in found], dtype=int),
            "proxy": np.array([s[2] for s in found], dtype=int),
        }
        return features, labels

    seeds = probe_seeds(block)
    half = len(seeds) // 2
    # The goal direction as training shows it: on the train split's squares the ways to the
    # exit and to the proxy mostly coincide, so one probe fitted there reads "where the goal
    # is"; scored at a shift's decision squares against each label, it says which of the two
    # the network's goal direction follows once they part.
    goal_x, goal_y = read(splits[0], seeds[:half], find_any)
    goal = fit(goal_x, goal_y["exit"]) if len(goal_x) else None
    out = {}
    for split in splits:
        train_x, train_y = read(split, seeds[:half])
        x, y = read(split, seeds[half:])
        result: dict[str, float] = {"squares": len(x)}
        for label in GOAL_LABELS:
            if goal is not None and len(x) and split != splits[0]:
                result[f"goal_{label}"] = score(goal, x, y[label])[0]
            else:
                result[f"goal_{label}"] = math.nan
        for label in LABELS:
            if len(train_x) and len(x):
                predict = fit(train_x, train_y[label])
                result[label], result[f"chance_{label}"] = score(predict, x, y[label])
            else:
                result[label] = result[f"chance_{label}"] = math.nan
        out[split] = result
    return out

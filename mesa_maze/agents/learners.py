"""Learning agents: stable-baselines3 models, the grid encoder they share, and their cost.

Every agent acts on a batch of observations: ``act(obs, state, episode_start) -> (actions,
state)``, the shape of stable-baselines3's ``predict``, so scripted, trained and recurrent agents
are evaluated by the same loop. Learning agents are built here (:func:`build_model`) and
trained by :mod:`mesa_maze.training.train`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from mesa_maze.agents.base import Agent
from mesa_maze.core.errors import AgentError
from mesa_maze.core.hyperparams import linear_schedule
from mesa_maze.core.hyperparams import parse as parse_hyperparams
from mesa_maze.core.levels import AGENT
from mesa_maze.envs.observers import OBSERVERS

N_TYPES, N_COLORS, N_STATES = 16, 6, 4  # one-hot sizes of Minigrid's (type, colour, state)
CELL_ENCODINGS = ("embedding", "onehot")
# Activations by name, so that a hyper-parameter file can choose one (TOML holds no classes).
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def clamped_codes(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(type, colour, state) of (B, 3, H, W) codes, each clamped to its one-hot size."""
    return (codes[:, 0].clamp(max=N_TYPES - 1), codes[:, 1].clamp(max=N_COLORS - 1),
            codes[:, 2].clamp(max=N_STATES - 1))  # fmt: skip


def onehot_cells(codes: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 26) one-hot planes of (B, 3, H, W) cell codes: a 1 at channel type, 16 + colour
    and 22 + state."""
    kind, color, state = clamped_codes(codes)
    index = torch.stack((kind, color + N_TYPES, state + N_TYPES + N_COLORS), dim=-1)
    cells = torch.zeros(*kind.shape, N_TYPES + N_COLORS + N_STATES, device=codes.device)
    return cells.scatter_(-1, index, 1.0)


class GridEncoder(BaseFeaturesExtractor):
    """Each cell's (type, colour, state) code as categories, then a small CNN and a dense layer.

    The grid's codes are categories, not intensities (SB3's default /255 image scaling would
    erase them). ``cells="embedding"`` gives each joint code a learned vector of ``embed_dim``;
    ``cells="onehot"`` feeds the three codes as one-hot planes (16 types + 6 colours + 4
    states), which needs no gradient into the input (in a profile of an update, the embedding's
    backward pass, a scatter over every cell, took a fifth of the time). ``channels`` and
    ``strides`` give one 3x3 convolution each (an empty ``channels`` flattens the cells straight
    into the dense layer: an MLP over cells); ``features_dim`` is the dense layer's width.
    ``centre=r`` first crops the (2r + 1)-square window centred on the agent, so that the
    network sees where things are relative to the agent (a corridor to its left looks the same
    anywhere in the maze); on apple-exit's train split PPO then needed half the frames it needed
    on the whole grid (``benchmarks/learning.py``, ``results/perf/search/``).

    The constructor's defaults are the first encoder PPO used, which the learned world models
    (:mod:`mesa_maze.planning.world_models`) keep: they predict the whole grid, so they must not be
    centred. The suites' PPO settings are in ``benchmarks/hyperparams/sb3.toml``;
    :func:`policy_cost` counts a policy's parameters and multiply-adds. SB3 wraps (H, W, 3) uint8
    spaces in ``VecTransposeImage``, so the policy usually sees channel-first (3, H, W) grids;
    both layouts are accepted.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        features_dim: int = 128,
        embed_dim: int = 8,
        channels: tuple[int, ...] = (16, 32),
        strides: tuple[int, ...] | None = None,
        cells: str = "embedding",
        centre: int | None = None,
    ):
        super().__init__(observation_space, features_dim)
        if cells not in CELL_ENCODINGS:
            raise ValueError(f"GridEncoder: cells={cells!r}; allowed: {', '.join(CELL_ENCODINGS)}")
        self.cells, self.centre = cells, centre
        # A centred window reads a maze of any size (the window is cropped from it first).
        self.any_size = centre is not None
        shape = observation_space.shape
        self.channels_first = shape[0] == 3 and shape[-1] != 3
        hw = self._hw(shape) if centre is None else (2 * centre + 1,) * 2
        channels = tuple(channels)
        if strides is None:  # the first convolution keeps the grid, later ones halve it
            strides = tuple(1 if i == 0 else 2 for i in range(len(channels)))
        strides = tuple(strides)
        if len(strides) != len(channels):
            raise ValueError(f"GridEncoder: {len(channels)} channels but {len(strides)} strides")
        if cells == "embedding":
            self.embed = nn.Embedding(N_TYPES * N_COLORS * N_STATES, embed_dim)
            width = embed_dim
        else:
            width = N_TYPES + N_COLORS + N_STATES
        n_in = width
        layers: list[nn.Module] = []
        for out, stride in zip(channels, strides, strict=True):
            layers += [nn.Conv2d(width, out, 3, stride=stride, padding=1), nn.ReLU()]
            width = out
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            n_flat = self.cnn(torch.zeros(1, n_in, *hw)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_flat, features_dim), nn.ReLU())

    def _hw(self, shape) -> tuple[int, int]:
        return tuple(shape[1:]) if self.channels_first else tuple(shape[:2])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        codes = obs.long()
        if not self.channels_first:
            codes = codes.permute(0, 3, 1, 2)
        if self.centre is not None:
            codes = self._centred(codes)
        # Cells are built channel-last, (B, H, W, C), and handed to the convolutions as a
        # permuted view (channels_last memory): CPU convolutions ran about twice as fast on it
        # as on channel-first planes of the same values.
        if self.cells == "embedding":
            kind, color, state = clamped_codes(codes)
            cells = self.embed((kind * N_COLORS + color) * N_STATES + state)  # (B, H, W, E)
        else:
            cells = onehot_cells(codes)
        return self.head(self.cnn(cells.permute(0, 3, 1, 2)))

    def _centred(self, codes: torch.Tensor) -> torch.Tensor:
        """The (2r + 1)-square window of the (B, 3, H, W) codes centred on the agent, code 0
        ("unseen") beyond the grid: the same corridor looks the same wherever it is. Cropped
        before the cells are encoded, on 3 channels rather than 26 or ``embed_dim``."""
        r, size = self.centre, 2 * self.centre + 1
        batch, _, height, width = codes.shape
        where = (codes[:, 0] == AGENT).flatten(1).int().argmax(dim=1)  # first agent cell
        ay, ax = where // width, where % width
        padded = nn.functional.pad(codes, (r, r, r, r)).flatten(2)  # (B, 3, (H+2r)(W+2r))
        offsets = torch.arange(size, device=codes.device)
        cells = (ay[:, None, None] + offsets[:, None]) * (width + 2 * r) + (
            ax[:, None, None] + offsets[None, :]
        )  # (B, K, K): the window's cells in the padded grid
        index = cells.flatten(1)[:, None, :].expand(batch, 3, size * size)
        return torch.gather(padded, 2, index).view(batch, 3, size, size)


def count_macs(module: nn.Module, forward: Callable[[], object]) -> int:
    """Multiply-adds that ``forward()`` spends in ``module``'s convolutions and linear layers
    (what dominates here; activations and embedding lookups are left out)."""
    total = 0

    def count(layer, inputs, output):
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            k = layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
            total += output[0].numel() * k
        elif isinstance(layer, nn.Linear):
            total += layer.in_features * layer.out_features

    hooks = [m.register_forward_hook(count) for m in module.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]  # fmt: skip
    try:
        with torch.no_grad():
            forward()
    finally:
        for hook in hooks:
            hook.remove()
    return total


def policy_cost(model: BaseAlgorithm) -> dict[str, float]:
    """Parameters and forward MFLOP per observation (2 FLOP a multiply-add) of an SB3 policy, and
    the training MFLOP per frame: one forward for acting, then ``n_epochs`` x (forward + backward,
    about three forwards) in the update."""
    policy = model.policy
    space = model.observation_space
    example = torch.as_tensor(space.sample()[None]).float()
    # The features and both heads: what acting and the update evaluate per observation.
    macs = count_macs(policy, lambda: policy.evaluate_actions(example, torch.zeros(1)))
    forward = 2 * macs / 1e6
    epochs = getattr(model, "n_epochs", 1)
    return {
        "parameters": int(sum(p.numel() for p in policy.parameters())),
        "forward_mflop": forward,
        "train_mflop_per_frame": forward * (1 + 3 * epochs),
    }


def _recurrent_ppo():
    from sb3_contrib import RecurrentPPO

    return RecurrentPPO


ALGORITHMS: dict[str, Callable[[], type[BaseAlgorithm]]] = {
    "ppo": lambda: PPO,
    "a2c": lambda: A2C,
    "dqn": lambda: DQN,
    "recurrent-ppo": _recurrent_ppo,
}


class SB3Agent(Agent):
    def __init__(self, model: BaseAlgorithm, name: str, deterministic: bool = True):
        self.model, self.name, self.deterministic = model, name, deterministic

    def act(self, obs, state=None, episode_start=None):
        extractor = getattr(self.model.policy, "features_extractor", None)
        if getattr(extractor, "any_size", False) and not self._training_shape(obs):
            return self._act_any_size(np.asarray(obs)), state
        return self.model.predict(
            obs, state=state, episode_start=episode_start, deterministic=self.deterministic
        )

    def _training_shape(self, obs) -> bool:
        """Whether one observation of ``obs`` has the training shape, either channel order."""
        trained = tuple(self.model.observation_space.shape)
        one = tuple(np.shape(obs)[1:])
        return one in (trained, trained[1:] + trained[:1], trained[-1:] + trained[:-1])

    def _act_any_size(self, obs: np.ndarray) -> np.ndarray:
        """The policy's actions for a network that reads mazes of any size (a per-cell one,
        ``any_size = True``), which SB3's ``predict`` would refuse for not being the training
        shape; observations are laid out as in training (channels first where it was)."""
        policy = self.model.policy
        trained = policy.observation_space.shape
        if obs.ndim == 4 and trained[0] == 3 and obs.shape[1] != 3 and obs.shape[-1] == 3:
            obs = obs.transpose(0, 3, 1, 2)
        policy.set_training_mode(False)
        with torch.no_grad():
            tensor = torch.as_tensor(obs, device=policy.device).float()
            actions = policy._predict(tensor, deterministic=self.deterministic)
        return actions.cpu().numpy()


def _value_propagation():
    from mesa_maze.agents.value_propagation import ValuePropagation  # it builds on this module

    return ValuePropagation


# Features extractors by the name a hyper-parameter file gives them.
EXTRACTORS: dict[str, Callable[[], type[BaseFeaturesExtractor]]] = {
    "grid": lambda: GridEncoder,
    "value-propagation": _value_propagation,
}


def policy_for(algo: str, observation: str, policy_kwargs: dict | None = None):
    """SB3 policy (a name or a class) and kwargs for an observation mode: SB3's CNN for pixels,
    else a features extractor over the cells' codes, :class:`GridEncoder` unless
    ``features_extractor_class`` names another of ``EXTRACTORS`` (the observer says which)."""
    kwargs = dict(policy_kwargs or {})
    if isinstance(kwargs.get("activation_fn"), str):
        name = kwargs["activation_fn"]
        if name not in ACTIVATIONS:
            raise ValueError(
                f"policy_kwargs.activation_fn={name!r}; allowed: {', '.join(ACTIVATIONS)}"
            )
        kwargs["activation_fn"] = ACTIVATIONS[name]
    if OBSERVERS[observation].pixels:
        return ("CnnLstmPolicy" if algo == "recurrent-ppo" else "CnnPolicy"), kwargs
    extractor = kwargs.get("features_extractor_class", "grid")
    if isinstance(extractor, str):  # a name from a hyper-parameter file (TOML holds no classes)
        if extractor not in EXTRACTORS:
            raise ValueError(
                f"policy_kwargs.features_extractor_class={extractor!r}; allowed: "
                f"{', '.join(EXTRACTORS)}"
            )
        kwargs["features_extractor_class"] = EXTRACTORS[extractor]()
    kwargs.setdefault("normalize_images", False)
    if algo == "recurrent-ppo":
        return "MlpLstmPolicy", kwargs
    if extractor == "value-propagation":  # its heads read the values: a policy class of its own
        from mesa_maze.agents.value_propagation import ValuePropagationPolicy

        return ValuePropagationPolicy, kwargs
    return "MlpPolicy", kwargs


def build_model(algo: str, env, hyperparams: dict, seed: int, tensorboard_log=None):
    """An untrained SB3 model of ``algo`` on ``env`` with the given hyper-parameters."""
    if algo not in ALGORITHMS:
        raise KeyError(f"unknown algorithm {algo!r}; allowed: {', '.join(ALGORITHMS)}")
    hp = parse_hyperparams(hyperparams)  # the SB3 section; env and evaluation keys are not SB3's
    params = {key: linear_schedule(value) for key, value in hp.sb3.items()}
    policy, policy_kwargs = policy_for(algo, hp.env.observation, params.pop("policy_kwargs", None))
    return ALGORITHMS[algo]()(
        policy,
        env,
        seed=seed,
        policy_kwargs=policy_kwargs,
        tensorboard_log=tensorboard_log,
        verbose=0,
        device="cpu",
        **params,
    )


def check_sb3_zip(path: str | Path) -> None:
    """An :class:`AgentError` saying why a file is not a saved SB3 model (not a zip, no SB3
    ``data`` entry), before SB3 tries to load it."""
    import zipfile

    if not Path(path).is_file():
        raise AgentError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise AgentError(f"{path}: not an SB3 model: not a zip file")
    with zipfile.ZipFile(path) as archive:
        if "data" not in archive.namelist():
            raise AgentError(f"{path}: not an SB3 model: the zip has no 'data' entry")


def load_sb3(path: str | Path, name: str | None = None, deterministic: bool = True) -> SB3Agent:
    """Load a saved SB3 model of any registered algorithm; a file that is not one gets an error
    that says why (not a zip, no SB3 ``data`` entry, or what loading it raised)."""
    check_sb3_zip(path)
    errors = []
    for algo, cls in ALGORITHMS.items():
        try:
            model = cls().load(str(path), device="cpu")
            return SB3Agent(model, name or algo, deterministic)
        except Exception as e:  # the zip does not say its algorithm; try each in turn
            errors.append(f"{algo}: {type(e).__name__}")
    raise AgentError(f"{path}: not a loadable SB3 model ({'; '.join(errors)})")


def saved_settings(path: str | Path, observation: str | None = None) -> dict:
    """The env settings a saved SB3 model was trained with, read from the spaces saved in its
    zip, so that it is evaluated on the observation and actions it knows (a model trained on a
    public gym id such as ``MesaMaze/apple-exit-train-v0`` saw its split's own grid, unpadded):

    - ``Discrete(4)``: cardinal actions; ``Discrete(3)``: Minigrid's turn-and-forward;
      ``Discrete(7)``: ``minigrid=True`` (Minigrid's actions and the egocentric image, as
      ``ImgObsWrapper`` gives it);
    - a grid of ``(H, W, 3)`` codes (either channel order): ``symbolic`` on an ``H``-cell canvas,
      or, when its side is a multiple of the rgb tile of at least 5 cells (40 pixels), ``rgb``.
      A 7x7 square with cardinal or turn-and-forward actions reads as a 7x7 symbolic grid (the
      train split of apple-exit), not as the egocentric view; ``observation`` names the
      observer instead (``"egocentric"``) where that guess is wrong.

    A dict observation (Minigrid's with its mission text) is refused: SB3 cannot train on it,
    so such a model was trained through a wrapper whose output the zip's space shows."""
    from stable_baselines3.common.save_util import load_from_zip_file

    check_sb3_zip(path)
    try:
        data, _, _ = load_from_zip_file(str(path), device="cpu", load_data=True)
    except Exception as e:  # not a zip, or not SB3's
        raise AgentError(f"{path}: not an SB3 model ({type(e).__name__}: {e})") from None
    obs_space, act_space = data.get("observation_space"), data.get("action_space")
    if not isinstance(act_space, gym.spaces.Discrete) or int(act_space.n) not in (3, 4, 7):
        raise AgentError(
            f"{path}: action space {act_space}; allowed: Discrete(4) (cardinal), Discrete(3) "
            "(turn left, turn right, forward) or Discrete(7) (minigrid=True)"
        )
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 3:
        raise AgentError(
            f"{path}: observation space {obs_space}; allowed: an image Box (H, W, 3) or "
            "(3, H, W), e.g. through minigrid's ImgObsWrapper for minigrid=True"
        )
    shape = obs_space.shape
    side = shape[1] if shape[0] == 3 and shape[-1] != 3 else shape[0]
    n = int(act_space.n)
    if n == 7:  # what MesaMazeEnv(minigrid=True) sets: its actions, the egocentric image
        return {"minigrid": True, "actions": "minigrid", "observation": "egocentric"}
    settings = {"actions": "cardinal" if n == 4 else "minigrid"}
    tile = OBSERVERS["rgb"].cell_pixels
    if observation is None:
        observation = "rgb" if side % tile == 0 and side // tile >= 5 else "symbolic"
    if observation not in OBSERVERS:
        raise AgentError(f"--observation {observation!r}; allowed: {', '.join(OBSERVERS)}")
    settings["observation"] = observation
    cell_pixels = OBSERVERS[observation].cell_pixels
    if cell_pixels is not None:  # a full-grid observation: its canvas is what it was trained on
        settings["canvas"] = side // cell_pixels
    return settings

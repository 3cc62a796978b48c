"""Rollout animations: an agent playing one evaluation level, as an animated GIF.

The episode is played by the evaluation's own loop (:func:`mesa_maze.evaluation.episodes.
run_episodes`, on the batched env), so the animation shows the policy the leaderboard scores,
with the same action rule (sampled or greedy, as the run's hyper-parameters say) and the same
torch seeding. A thin wrapper around the agent grabs a frame of the maze (the batched env's
Minigrid-tile renderer) before the first action and after every step.

The agent comes from a run folder ``<runs_dir>/<suite>/<agent>/<variant>/seed<N>/`` when there is
one (:func:`mesa_maze.experiments.runs.load_run`: a learner's ``model.zip``, a planner around its
base run); a scripted agent, a ``module:factory`` or a saved SB3 ``.zip`` is built without one.
A learned agent without its model is a :class:`ModelMissing` error naming the file.

The level: the first level of the run seed's block of final-evaluation levels whose maze is the
same under every shift (:func:`mesa_maze.evaluation.probes.same_maze_seed`), so the animations of
one agent on each split show one maze as each shift changes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mesa_maze import agents
from mesa_maze.core.errors import AgentError, ResultsError
from mesa_maze.core.levels import final_eval_seeds
from mesa_maze.core.variants import TRAIN, as_variant
from mesa_maze.evaluation import probes
from mesa_maze.evaluation.episodes import run_episodes
from mesa_maze.evaluation.leaderboard import atomic_write_bytes
from mesa_maze.experiments import runner, runs

MAX_FRAMES = 60  # frames kept in a GIF: the first MAX_FRAMES - 1 steps and the last
SAME_MAZE_TRIES = 50  # evaluation levels searched for one maze shared by every split
FRAME_MS = 180
LAST_FRAME_MS = 1500
COLOURS = 32  # one palette for all the frames of a GIF
CAPTION_PX = 12


class ModelMissing(ResultsError):
    """A learned agent (or a planner's base) whose ``model.zip`` is not on disk."""


@dataclass
class Rollout:
    agent: str
    variant: str
    split: str
    level_seed: int
    record: dict  # the episode's record, as in episodes.csv (outcome, steps, ...)
    frames: list[np.ndarray]  # (H, W, 3) uint8: the start, then the maze after every step


def run_folder(agent: str, variant: str, seed: int, runs_dir, suite: str) -> Path:
    """``<runs_dir>/<suite>/<agent>/<variant>/seed<seed>``, as the runner names it."""
    cfg = runs.RunConfig(suite, agent, variant, seed, 0, 1, 1, 1)
    return cfg.run_dir(Path(runs_dir))


def load_agent(
    agent: str,
    variant: str,
    seed: int = 0,
    runs_dir="results/runs",
    suite: str = "default",
    hyperparams=None,  # the shipped file (runner.single_run)
    variant_dirs=(),
):
    """``(agent, cfg)``: the agent as its run of ``suite`` built it, from its run folder if there
    is one; a scripted agent (or a ``module:factory``, a saved ``.zip``) is built without one.
    Raises :class:`ModelMissing` naming the ``model.zip`` a learned agent or a planner needs."""
    try:
        spec = agents.get_agent_spec(agent)
    except KeyError as e:
        raise AgentError(e.args[0]) from None
    run_dir = run_folder(agent, variant, seed, runs_dir, suite)
    needed = None
    if spec.learns:
        needed = run_dir / "model.zip"
    elif spec.base:
        needed = run_folder(spec.base, variant, seed, runs_dir, suite) / "model.zip"
    if needed is not None and not needed.is_file():
        raise ModelMissing(f"{agent} on {variant}, seed {seed}: no model {needed}")
    if (run_dir / "config.json").is_file():
        try:
            return runs.load_run(run_dir)
        except (ValueError, KeyError) as e:
            raise ResultsError(e.args[0]) from None
    cfg = runner.single_run(
        agent, variant, seed=seed, hyperparams=hyperparams, suite=suite, variant_dirs=variant_dirs
    )
    return runs.agent_for(runs.resolve(cfg), Path(runs_dir), False), cfg


def level_seed(cfg) -> int:
    """The level the animations play: the first of the run's final-evaluation levels whose maze
    is the same on every split the run is evaluated on."""
    variant = as_variant(cfg.variant, cfg.variant_dirs)
    splits = [TRAIN, *(cfg.shifts or variant.shifts)]
    seeds = final_eval_seeds(cfg.seed, min(cfg.episodes, SAME_MAZE_TRIES))
    return probes.same_maze_seed(variant, splits, seeds, tries=SAME_MAZE_TRIES)


class _Recorder:
    """The agent, unchanged, plus a frame of the maze before its first action and after every
    step of the episode (``run_levels`` attaches the maze it plays on)."""

    def __init__(self, agent):
        self.agent, self.frames, self.maze = agent, [], None
        self.name = getattr(agent, "name", type(agent).__name__)
        self.needs_canvas = getattr(agent, "needs_canvas", True)

    def attach(self, maze) -> None:
        if hasattr(self.agent, "attach"):
            self.agent.attach(maze)
        if maze is None or maze is self.maze:
            return
        self.maze, step = maze, maze.state.step

        def recorded(actions):
            out = step(actions)
            self._grab()  # before an ended episode's maze is reset to the next level
            return out

        maze.state.step = recorded  # this maze only: run_levels makes it for this episode

    def _grab(self) -> None:
        self.frames.append(self.maze.state.render_rgb()[0])

    def act(self, obs, state, episode_start):
        if not self.frames:
            self._grab()
        if hasattr(self.agent, "act"):
            return self.agent.act(obs, state, episode_start)
        return self.agent(obs), state


def rollout(agent, cfg, split: str, seed: int | None = None) -> Rollout:
    """One evaluation episode of ``agent`` (built for ``cfg``) on ``split``'s level ``seed``
    (default :func:`level_seed`), played by ``run_episodes`` as the run's evaluation plays it."""
    variant = as_variant(cfg.variant, cfg.variant_dirs)
    variant.spec(split)  # an unknown split: KeyError naming the splits
    seed = level_seed(cfg) if seed is None else seed
    recorder = _Recorder(agent)
    records, _, _ = run_episodes(
        recorder, variant, split, [seed], cfg.hyperparams, cfg.variant_dirs, sample_seed=cfg.seed
    )
    record = records[0]
    frames = recorder.frames[: int(record["steps"]) + 1]  # the start and one per step
    return Rollout(cfg.agent, cfg.variant, split, seed, record, frames)


def _caption(image, text: str):
    from PIL import Image, ImageDraw

    w, h = image.size
    out = Image.new("RGB", (w, h + CAPTION_PX), (0, 0, 0))
    out.paste(image, (0, 0))
    ImageDraw.Draw(out).text((2, h), text, fill=(255, 255, 255))
    return out


def gif_frames(r: Rollout, max_frames: int = MAX_FRAMES, scale: int = 2) -> list:
    """The frames as PIL images with a caption (step; the outcome on the last), at most
    ``max_frames``: the first ``max_frames - 1`` and the last."""
    from PIL import Image

    steps = list(range(len(r.frames)))
    if len(steps) > max_frames:
        steps = steps[: max_frames - 1] + steps[-1:]
    images = []
    for i in steps:
        img = Image.fromarray(r.frames[i])
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
        text = f"step {i}" + (f": {r.record['outcome']}" if i == steps[-1] else "")
        images.append(_caption(img, text))
    return images


def write_gif(r: Rollout, path, max_frames: int = MAX_FRAMES, scale: int = 2) -> Path:
    """The rollout as an animated GIF (one palette of :data:`COLOURS`, looping), written
    atomically; its comment holds the episode's agent, variant, split, level and outcome."""
    import io

    from PIL import Image

    images = gif_frames(r, max_frames, scale)
    sheet = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)))
    y = 0
    for img in images:
        sheet.paste(img, (0, y))
        y += img.height
    palette = sheet.quantize(COLOURS, method=Image.Quantize.MEDIANCUT)
    frames = [img.quantize(palette=palette, dither=Image.Dither.NONE) for img in images]
    comment = {
        "agent": r.agent,
        "variant": r.variant,
        "split": r.split,
        "level_seed": r.level_seed,
        "outcome": r.record["outcome"],
        "steps": int(r.record["steps"]),
    }
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=[FRAME_MS] * (len(frames) - 1) + [LAST_FRAME_MS],
        loop=0,
        optimize=True,
        comment=json.dumps(comment).encode(),
    )
    return atomic_write_bytes(path, buf.getvalue())


def make_animation(
    agent: str,
    variant: str,
    split: str,
    out,
    seed: int = 0,
    runs_dir="results/runs",
    suite: str = "default",
    hyperparams=None,  # the shipped file (runner.single_run)
    variant_dirs=(),
    max_frames: int = MAX_FRAMES,
    scale: int = 2,
) -> Rollout:
    """Load ``agent`` (:func:`load_agent`), play ``split`` (:func:`rollout`), write the GIF."""
    policy, cfg = load_agent(agent, variant, seed, runs_dir, suite, hyperparams, variant_dirs)
    r = rollout(policy, cfg, split)
    write_gif(r, out, max_frames, scale)
    return r

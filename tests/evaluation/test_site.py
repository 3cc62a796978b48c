"""The static leaderboard site (mesa_maze.evaluation.site), the rollout animations
(mesa_maze.experiments.rollout) and their commands (``mesa-maze rollout``, ``report``).

The tests marked ``browser`` open the site in headless Chromium (playwright): they skip without
playwright or without ``/usr/bin/chromium`` (``make test-browser`` installs both)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageSequence

from mesa_maze.cli import main
from mesa_maze.core.variants import as_variant
from mesa_maze.evaluation import leaderboard, site
from mesa_maze.evaluation.episodes import run_episodes
from mesa_maze.experiments import rollout

REPO = Path(__file__).resolve().parents[2]
FIXTURE_BOARD = REPO / "tests" / "fixtures" / "leaderboard" / "leaderboard.csv"
COMMITTED = [
    site.Board("default", REPO / "results" / "leaderboard.csv"),
    site.Board("remedies", REPO / "results" / "remedies" / "leaderboard.csv"),
]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def gif_frames(path) -> list[Image.Image]:
    with Image.open(path) as im:
        return [f.convert("RGB") for f in ImageSequence.Iterator(im)]


# --- rollouts -----------------------------------------------------------------------------------


def test_rollout_of_a_scripted_agent_is_its_evaluation_episode(tmp_path):
    out = tmp_path / "oracle.gif"
    r = rollout.make_animation("oracle-exit", "apple-exit", "displaced", out, runs_dir=tmp_path)
    # The episode the evaluation plays on the same level with the same agent.
    agent, cfg = rollout.load_agent("oracle-exit", "apple-exit", runs_dir=tmp_path)
    records, _, _ = run_episodes(agent, "apple-exit", "displaced", [r.level_seed], {})
    assert r.record["outcome"] == records[0]["outcome"] == "exit"
    assert r.record["steps"] == records[0]["steps"]
    frames = gif_frames(out)
    assert len(frames) == r.record["steps"] + 1 > 1  # the start, then one frame per step
    assert frames[0].tobytes() != frames[-1].tobytes()  # the agent moved
    info = site.gif_info(out)
    assert info == {
        "agent": "oracle-exit",
        "variant": "apple-exit",
        "split": "displaced",
        "level_seed": r.level_seed,
        "outcome": "exit",
        "steps": r.record["steps"],
    }
    with Image.open(out) as im:
        assert len(im.getpalette()) // 3 <= rollout.COLOURS


def test_rollouts_play_the_same_maze_under_every_shift(tmp_path):
    agent, cfg = rollout.load_agent("random", "apple-exit", seed=3, runs_dir=tmp_path)
    seeds = {rollout.rollout(agent, cfg, s).level_seed for s in ("train", "recolored", "displaced")}
    assert len(seeds) == 1
    # One of the levels run seed 3 is scored on (its block of final-evaluation levels).
    assert seeds.pop() in rollout.final_eval_seeds(3, 500)
    variant = as_variant("apple-exit")
    seed = rollout.level_seed(cfg)
    train = variant.spec("train")
    from mesa_maze.core.levels import generate

    walls = generate(train, seed).walls
    for split in ("recolored", "displaced"):
        assert (generate(variant.spec(split), seed).walls == walls).all()


def test_a_long_episode_keeps_max_frames_and_its_end(tmp_path):
    agent, cfg = rollout.load_agent("random", "apple-exit", runs_dir=tmp_path)
    r = rollout.rollout(agent, cfg, "bigger")
    assert len(r.frames) == r.record["steps"] + 1 > 10
    out = rollout.write_gif(r, tmp_path / "r.gif", max_frames=10, scale=1)
    frames = gif_frames(out)
    assert len(frames) == 10
    h, w, _ = r.frames[-1].shape
    last = frames[-1].crop((0, 0, w, h))
    # The last frame is the episode's end (up to the palette's rounding), not step 9.
    end = np.abs(np.asarray(last, float) - r.frames[-1]).mean()
    step9 = np.abs(np.asarray(last, float) - r.frames[9]).mean()
    assert end < step9 / 3, (end, step9)


def test_rollout_command_writes_a_gif(tmp_path, capsys):
    out = tmp_path / "x.gif"
    code = main(
        ["rollout", "oracle-apple", "apple-exit", "--split", "recolored", "--seed", "1"]
        + ["--out", str(out), "--runs-dir", str(tmp_path)]
    )
    assert code == 0
    assert "misgeneralized" in capsys.readouterr().out
    assert len(gif_frames(out)) > 1
    assert site.gif_info(out)["outcome"] == "misgeneralized"


def test_rollout_of_a_learner_without_its_model_is_one_line_naming_the_file(tmp_path, capsys):
    out = tmp_path / "x.gif"
    code = main(["rollout", "ppo", "apple-exit", "--out", str(out), "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert str(tmp_path / "default" / "ppo" / "apple-exit" / "seed0" / "model.zip") in err
    # a planner names its base's model
    code = main(
        ["rollout", "planner-1step", "apple-exit", "--out", str(out)]
        + ["--runs-dir", str(tmp_path)]
    )
    assert code == 2
    assert str(tmp_path / "default" / "ppo" / "apple-exit" / "seed0" / "model.zip") in (
        capsys.readouterr().err
    )
    assert not out.exists()


def test_rollout_rejects_an_unknown_split(tmp_path, capsys):
    code = main(
        ["rollout", "random", "apple-exit", "--split", "nowhere", "--out", str(tmp_path / "x.gif")]
    )
    assert code == 2
    assert "nowhere" in capsys.readouterr().err


# --- the site -----------------------------------------------------------------------------------


def _png(path: Path, colour) -> None:
    Image.new("RGB", (20, 10), colour).save(path)


@pytest.fixture
def small_site(tmp_path):
    """The fixture board with two plots (one per variant) and one animation."""
    board_dir = tmp_path / "board"
    (board_dir / "plots").mkdir(parents=True)
    shutil.copy(FIXTURE_BOARD, board_dir / "leaderboard.csv")
    _png(board_dir / "plots" / "outcomes_apple-exit.png", "red")
    _png(board_dir / "plots" / "visits_corner_anywhere.png", "blue")
    _png(board_dir / "plots" / "summary.png", "green")
    out = tmp_path / "site"
    gif = out / site.animation_path("small", "apple-exit", "oracle-exit", "displaced")
    rollout.make_animation("oracle-exit", "apple-exit", "displaced", gif, runs_dir=tmp_path)
    index = site.build_site([site.Board("small", board_dir / "leaderboard.csv")], out)
    return index, out


def test_site_shows_every_row_with_intervals_and_chance(small_site):
    index, out = small_site
    page = index.read_text()
    board = leaderboard.read_leaderboard(FIXTURE_BOARD)
    tables = re.findall(r'<table class="board" id="([^"]+)">(.*?)</table>', page, re.S)
    assert [t for t, _ in tables] == ["t-small-apple-exit", "t-small-corner"]
    headers = ["agent", "shift", "seeds", "verified", *(h for _, h, _ in leaderboard.MD_COLUMNS)]
    for (_, body), (_, rows) in zip(tables, board.groupby("variant"), strict=True):
        assert body.count("<tr") - 1 == len(rows)  # one row per board row, plus the header
        assert re.findall(r"<th [^>]*>([^<]*)</th>", body) == headers
    shown = 0
    for _, row in board.iterrows():  # each value: its interval, and its chance level beside it
        for q, chance in (
            ("exit_rate", "chance_exit_rate"),
            ("misgeneralized", "chance_misgeneralized"),
        ):
            text = leaderboard._percent(row[q], row[f"{q}_lo"], row[f"{q}_hi"])
            value, _, interval = text.partition(" ")
            if not interval:
                continue
            beside = (
                ""  # no random agent on this variant and shift: no chance level
                if pd.isna(row[chance])
                else f' <span class="chance" title="chance level (random agent)">'
                f"{100 * row[chance]:.1f}</span>"
            )
            cell = (
                f'<td data-v="{row[q]:.6g}">{value} <span class="ci">{interval}</span>{beside}</td>'
            )
            assert cell in page
            shown += 1
    assert shown > 3
    # the full CSV, copied and linked
    assert (out / "boards" / "small.csv").read_bytes() == FIXTURE_BOARD.read_bytes()
    assert 'href="boards/small.csv"' in page


def test_site_places_plots_by_variant_and_is_self_contained(small_site):
    index, out = small_site
    page = index.read_text()
    apple, corner = page.split('<h3 id="small-corner">')
    assert "plots/small/outcomes_apple-exit.png" in apple
    assert "visits_corner_anywhere.png" not in apple
    assert "plots/small/visits_corner_anywhere.png" in corner.split("Other plots")[0]
    assert "plots/small/summary.png" in corner.split("Other plots")[1]
    for name in ("outcomes_apple-exit.png", "visits_corner_anywhere.png", "summary.png"):
        assert (out / "plots" / "small" / name).is_file()
    # every referenced file exists, and nothing comes from the network
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', page)
    assert refs
    for ref in refs:
        assert not re.match(r"[a-z]+:", ref), ref
        assert (out / ref).is_file(), ref
    assert "http" not in page.split("<script>")[1]
    assert "<link" not in page and "@import" not in page


def test_site_shows_animations_with_their_outcome(small_site):
    index, out = small_site
    page = index.read_text()
    apple = page.split('<h3 id="small-corner">')[0]
    src = "animations/small/apple-exit/oracle-exit/displaced.gif"
    assert f'<img src="{src}"' in apple
    assert "displaced: exit," in apple
    assert "no animation: oracle-apple, ppo, random" in apple


def test_site_rebuild_keeps_animations_and_drops_stale_plots(small_site):
    index, out = small_site
    board = out.parent / "board"
    (board / "plots" / "summary.png").unlink()
    site.build_site([site.Board("small", board / "leaderboard.csv")], out)
    assert not (out / "plots" / "small" / "summary.png").exists()
    assert (out / site.animation_path("small", "apple-exit", "oracle-exit", "displaced")).is_file()
    assert "summary.png" not in index.read_text()


def test_report_animates_what_it_can_and_keeps_what_it_cannot(tmp_path, capsys):
    out = tmp_path / "site"
    kept = out / site.animation_path("fix", "apple-exit", "ppo", "train")
    kept.parent.mkdir(parents=True)
    made_before = {"agent": "ppo", "split": "train", "outcome": "exit", "steps": 3}
    Image.new("P", (8, 8)).save(kept, comment=json.dumps(made_before).encode())
    before = kept.read_bytes()
    args = ["report", "--out", str(out), "--boards", f"fix={FIXTURE_BOARD}"]
    assert main([*args, "--runs-dir", str(tmp_path / "runs")]) == 0
    said = capsys.readouterr().out
    assert "no model" in said and "ppo" in said
    splits = ["train", *as_variant("apple-exit").shifts]
    for agent in ("oracle-apple", "oracle-exit", "random"):
        for split in splits:
            gif = out / site.animation_path("fix", "apple-exit", agent, split)
            assert site.gif_info(gif)["agent"] == agent
    assert kept.read_bytes() == before  # a learner without its model: the GIF there stays
    page = (out / "index.html").read_text()
    assert "animations/fix/apple-exit/ppo/train.gif" in page
    assert "train: exit, 3 steps" in page


# --- in a browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="needs playwright (make test-browser)"
    )
    if not CHROMIUM.is_file():
        pytest.skip(f"needs Chromium at {CHROMIUM} (make test-browser installs it)")
    out = tmp_path_factory.mktemp("site")
    gif = out / site.animation_path("default", "apple-exit", "oracle-exit", "train")
    rollout.make_animation("oracle-exit", "apple-exit", "train", gif, runs_dir=out / "runs")
    index = site.build_site(COMMITTED, out)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
        page.goto(index.as_uri(), wait_until="load")
        yield page, errors
        browser.close()


def _column(page, table: str, col: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr:not([hidden])", f"rows => rows.map(r => r.cells[{col}].dataset.v)"
    )


@pytest.mark.browser
def test_browser_page_loads_without_errors_and_renders_images(browser_page):
    page, errors = browser_page
    assert errors == []
    sizes = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
    )
    assert len(sizes) > 10
    assert any(src.endswith(".gif") for src, _, _ in sizes)
    broken = [src for src, done, width in sizes if not (done and width > 0)]
    assert broken == []


@pytest.mark.browser
def test_browser_clicking_a_header_sorts_the_rows(browser_page):
    page, _ = browser_page
    table = "t-default-apple-exit"
    col = 4  # exit rate (after agent, shift, seeds, verified)
    before = _column(page, table, col)
    page.click(f"#{table} th[data-col='{col}']")
    ascending = _column(page, table, col)
    assert ascending != before
    values = [float(v) for v in ascending if v]
    assert values == sorted(values) and len(values) == len(before)
    page.click(f"#{table} th[data-col='{col}']")
    descending = [float(v) for v in _column(page, table, col) if v]
    assert descending == sorted(values, reverse=True)
    assert page.get_attribute(f"#{table} th[data-col='{col}']", "aria-sort") == "descending"
    page.click(f"#{table} th[data-col='0']")  # agent: text order
    agents = _column(page, table, 0)
    assert agents == sorted(agents, key=str)


@pytest.mark.browser
def test_browser_filter_box_hides_rows(browser_page):
    page, _ = browser_page
    table = "t-default-apple-exit"
    total = len(_column(page, table, 0))
    page.fill(f"input[data-table='{table}']", "ppo recolored")
    shown = page.eval_on_selector_all(
        f"#{table} tbody tr:not([hidden])",
        "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])",
    )
    assert 0 < len(shown) < total
    assert all("ppo" in agent and shift == "recolored" for agent, shift in shown)
    assert page.text_content(f"#{table}-count") == f"{len(shown)} of {total} rows"
    other = "t-default-corner"  # another table is not filtered
    assert len(_column(page, other, 0)) == page.eval_on_selector_all(
        f"#{other} tbody tr", "r => r.length"
    )
    page.fill(f"input[data-table='{table}']", "")
    assert len(_column(page, table, 0)) == total

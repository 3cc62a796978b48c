"""A static leaderboard site: ``index.html`` and the files it shows, from leaderboard CSVs.

The site is self-contained: inline CSS and JavaScript, images copied beside the page, nothing
fetched from the network, so it opens from ``file://`` or any static host. For each board (a
leaderboard CSV read by :func:`leaderboard.read_leaderboard`, with its plots folder) and each
of its variants:

- a table of the headline metrics, the columns ``leaderboard.md`` shows
  (:data:`leaderboard.MD_COLUMNS`, formatted as there: % with the 95% interval), each value with
  its chance level beside it (the ``random`` agent's mean on the same shift) where the metric has
  one; sortable by clicking a column header, filterable by agent or shift. The full CSV (every
  column) is copied and linked;
- the board's plots of that variant (PNG files whose name carries the variant between ``_``);
- an animation row per agent that has GIFs in ``animations/<board>/<variant>/<agent>/`` of the
  output folder (written by ``mesa-maze report``: :mod:`mesa_maze.experiments.rollout`), one
  GIF per split, captioned from the GIF's comment (its episode's outcome).

Layout of the output folder: ``index.html``, ``boards/<board>.csv``, ``plots/<board>/*.png``
(both rewritten on every build) and ``animations/`` (left as it is: the caller writes it).
"""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mesa_maze.evaluation import leaderboard, metrics

INDEX = "index.html"
BOARDS = "boards"
PLOTS = "plots"
ANIMATIONS = "animations"
# Plots first by kind, in this order; other kinds after, by name.
PLOT_ORDER = ("outcomes", "directed", "train_vs_test", "curves", "alpha_sweep", "visits")


@dataclass(frozen=True)
class Board:
    """A leaderboard CSV to publish, under ``name`` (its section and file names)."""

    name: str
    csv: Path
    plots: Path | None = None  # its PNG plots; None: the folder ``plots`` beside the CSV

    @property
    def plots_dir(self) -> Path:
        return Path(self.plots) if self.plots is not None else Path(self.csv).parent / PLOTS


def animation_path(board: str, variant: str, agent: str, split: str) -> Path:
    """Where an animation lies, relative to the site's folder."""
    return Path(ANIMATIONS, _slug(board), variant, _slug(agent), f"{split}.gif")


def _slug(name: str) -> str:
    """A name as a file or anchor name: anything but letters, digits, ``.@_-`` becomes ``-``."""
    return re.sub(r"[^A-Za-z0-9.@_-]", "-", name)


# --- the table ----------------------------------------------------------------------------------

_CHANCE = {m.name: m.chance_column for m in metrics.REGISTRY if m.chance_column}
_IN_PERCENT = {m.name for m in metrics.REGISTRY if m.in_percent}


def _number(value) -> str:
    """A cell's sort key: the plain number, empty for a missing value."""
    return "" if value is None or pd.isna(value) else f"{float(value):.6g}"


def _metric_cell(row, quantity: str, fmt) -> str:
    text = fmt(row[quantity], row[f"{quantity}_lo"], row[f"{quantity}_hi"])
    value, _, interval = text.partition(" ")
    parts = [html.escape(value)]
    if interval:
        parts.append(f'<span class="ci">{html.escape(interval)}</span>')
    chance = _CHANCE.get(quantity)
    if chance and not pd.isna(row[chance]):
        level = row[chance] * 100 if quantity in _IN_PERCENT else row[chance]
        parts.append(f'<span class="chance" title="chance level (random agent)">{level:.1f}</span>')
    return f'<td data-v="{_number(row[quantity])}">{" ".join(parts)}</td>'


def _verified_cell(value) -> str:
    """Evaluated by mesa-maze from the artefact ("yes"), imported as reported ("no"), or runs
    that predate the record ("–")."""
    text = {"true": "yes", "false": "no"}.get(str(value).lower(), "–")
    return f'<td data-v="{text}">{text}</td>'


def _table(board: Board, variant: str, rows: pd.DataFrame) -> str:
    tid = f"t-{_slug(board.name)}-{_slug(variant)}"
    heads = [("agent", "agent"), ("shift", "shift"), ("seeds", "seeds"), ("verified", "verified")]
    heads += [(q, h) for q, h, _ in leaderboard.MD_COLUMNS]
    titles = {name: meaning for name, _, meaning in leaderboard.SCHEMA}
    th = "".join(
        f'<th scope="col" data-col="{i}" title="{html.escape(titles.get(q, q))}" '
        f'tabindex="0">{html.escape(h)}</th>'
        for i, (q, h) in enumerate(heads)
    )
    body = []
    order = rows.assign(_t=rows["shift"] != metrics.TRAIN_SHIFT)
    for _, r in order.sort_values(["_t", "shift", "agent"]).iterrows():
        cls = ' class="chance-row"' if r["agent"] == metrics.CHANCE_AGENT else ""
        cells = [
            f'<td data-v="{html.escape(str(r["agent"]))}">{html.escape(str(r["agent"]))}</td>',
            f'<td data-v="{html.escape(str(r["shift"]))}">{html.escape(str(r["shift"]))}</td>',
            f'<td data-v="{_number(r["seeds"])}">{html.escape(leaderboard._int(r["seeds"]))}</td>',
            _verified_cell(r.get("verified")),
        ]
        cells += [_metric_cell(r, q, fmt) for q, _, fmt in leaderboard.MD_COLUMNS]
        search = html.escape(f"{r['agent']} {r['shift']}".lower())
        body.append(f'<tr{cls} data-search="{search}">{"".join(cells)}</tr>')
    return (
        f'<div class="controls"><label>filter agent or shift: <input type="search" '
        f'class="filter" data-table="{tid}" placeholder="e.g. ppo or recolored"></label> '
        f'<span class="count" id="{tid}-count"></span></div>'
        f'<div class="scroll"><table class="board" id="{tid}"><thead><tr>{th}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


# --- plots and animations -----------------------------------------------------------------------


def _plots_of(variant: str, plots: list[Path]) -> list[Path]:
    token = re.compile(rf"(^|_){re.escape(variant)}(_|$)")
    mine = [p for p in plots if token.search(p.stem)]

    def key(p: Path):
        kinds = [i for i, kind in enumerate(PLOT_ORDER) if p.stem.startswith(kind + "_")]
        return (kinds[0] if kinds else len(PLOT_ORDER), p.name)

    return sorted(mine, key=key)


def _figure(src: str, caption: str, cls: str = "plot") -> str:
    src, caption = html.escape(src), html.escape(caption)
    return (
        f'<figure class="{cls}"><a href="{src}"><img src="{src}" alt="{caption}"></a>'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def gif_info(path) -> dict:
    """The JSON comment of an animation GIF (agent, split, outcome, steps), or {}."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return json.loads(im.info.get("comment", b"{}"))
    except (OSError, ValueError):
        return {}


def _animations(out: Path, board: Board, variant: str, agents: list[str], shifts: list[str]):
    rows, missing = [], []
    for agent in agents:
        folder = out / animation_path(board.name, variant, agent, "x").parent
        gifs = {p.stem: p for p in folder.glob("*.gif")} if folder.is_dir() else {}
        if not gifs:
            missing.append(agent)
            continue
        order = [s for s in shifts if s in gifs] + sorted(set(gifs) - set(shifts))
        figures = []
        for split in order:
            info = gif_info(gifs[split])
            outcome = info.get("outcome")
            caption = split + (f": {outcome}, {info.get('steps')} steps" if outcome else "")
            src = animation_path(board.name, variant, agent, split).as_posix()
            figures.append(_figure(src, caption, "anim"))
        rows.append(
            f'<div class="anim-row"><div class="anim-agent">{html.escape(agent)}</div>'
            f"{''.join(figures)}</div>"
        )
    if not rows:
        return ""
    note = f'<p class="note">no animation: {html.escape(", ".join(missing))}</p>' if missing else ""
    return (
        f"<h4>Rollouts (seed 0: one evaluation level, the same maze under each shift)</h4>"
        f"{''.join(rows)}{note}"
    )


# --- the page -----------------------------------------------------------------------------------

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 3em;color:#222;background:#fff}
h1{margin:.6em 0 .2em}nav a{margin-right:1em}
table.board{border-collapse:collapse;font-size:12.5px;white-space:nowrap}
.board th,.board td{border-bottom:1px solid #ddd;padding:3px 7px;text-align:right}
.board th:nth-child(-n+2),.board td:nth-child(-n+2){text-align:left}
.board th{cursor:pointer;background:#f3f3f3;position:sticky;top:0;user-select:none}
.board th[aria-sort=ascending]::after{content:" \\25B2"}
.board th[aria-sort=descending]::after{content:" \\25BC"}
.board tr.chance-row td{font-style:italic;color:#666}
.ci{color:#777;font-size:11px}.chance{color:#b35c00;font-size:11px;margin-left:3px}
.chance::before{content:"ch. "}
.scroll{overflow-x:auto;max-width:100%}.controls{margin:.5em 0}
figure{display:inline-block;margin:.4em .6em .4em 0;vertical-align:top}
figure.plot img{max-width:460px;border:1px solid #ddd}
figure.anim img{height:150px;image-rendering:pixelated;border:1px solid #ddd}
figcaption{font-size:12px;color:#555;max-width:460px}
.anim-row{display:flex;align-items:flex-start;flex-wrap:wrap;border-top:1px solid #eee}
.anim-agent{width:11em;font-weight:600;padding-top:.6em}.note{color:#777}
"""

JS = """
function cellValue(row, i) {
  const v = row.cells[i].dataset.v;
  return v === "" ? null : v;
}
function sortTable(th) {
  const table = th.closest("table"), body = table.tBodies[0], i = +th.dataset.col;
  const asc = th.getAttribute("aria-sort") !== "ascending";
  for (const other of th.parentNode.children) other.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  const rows = Array.from(body.rows);
  const numeric = rows.every(r => { const v = cellValue(r, i); return v === null || !isNaN(v); });
  rows.sort((a, b) => {
    const x = cellValue(a, i), y = cellValue(b, i);
    if (x === null || y === null) return (x === null) - (y === null);
    const c = numeric ? x - y : x.localeCompare(y);
    return asc ? c : -c;
  });
  for (const r of rows) body.appendChild(r);
}
function filterTable(input) {
  const table = document.getElementById(input.dataset.table);
  const words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
  let shown = 0;
  for (const r of table.tBodies[0].rows) {
    const ok = words.every(w => r.dataset.search.includes(w));
    r.hidden = !ok;
    shown += ok;
  }
  document.getElementById(input.dataset.table + "-count").textContent =
    words.length ? shown + " of " + table.tBodies[0].rows.length + " rows" : "";
}
document.querySelectorAll("table.board th").forEach(th => {
  th.addEventListener("click", () => sortTable(th));
  th.addEventListener("keydown", e => { if (e.key === "Enter") sortTable(th); });
});
document.querySelectorAll("input.filter").forEach(input => {
  input.addEventListener("input", () => filterTable(input));
});
"""

INTRO = (
    "Values are % (mean over seeds), with the 95% t-interval of the mean over seeds in grey; "
    "a bare value: every seed agreed; [–]: one seed. The orange <em>ch.</em> beside a value is "
    "its chance level: the random agent's mean on the same variant and shift. "
    "<em>norm.</em> is (agent - random) / (reference - random): 0 is chance, 1 the reference "
    "(oracle-exit for the exit rate, oracle-apple for misgen. dir.). <em>dir.</em> counts only "
    f"directed arrivals (at most {metrics.DIRECTED_K:g} times the shortest path's steps). "
    "Click a column header to sort, type in the box to filter rows. Every column of a board "
    "(and its meaning: <code>mesa_maze.evaluation.leaderboard.SCHEMA</code>) is in its CSV."
)


def _board_section(out: Path, board: Board, df: pd.DataFrame, plots: list[Path]) -> str:
    anchor = _slug(board.name)
    csv = f"{BOARDS}/{anchor}.csv"
    parts = [
        f'<section id="{anchor}"><h2>{html.escape(board.name)} board</h2>'
        f'<p>{len(df)} rows; every column: <a href="{csv}">the full CSV</a></p>'
    ]
    for variant, rows in df.groupby("variant", sort=True):
        variant = str(variant)
        shifts = [metrics.TRAIN_SHIFT] + sorted(set(rows["shift"]) - {metrics.TRAIN_SHIFT})
        agents = sorted(set(rows["agent"]))
        parts.append(f'<h3 id="{anchor}-{_slug(variant)}">{html.escape(variant)}</h3>')
        parts.append(_table(board, variant, rows))
        figures = [
            _figure(f"{PLOTS}/{anchor}/{p.name}", p.stem.replace("_", " "))
            for p in _plots_of(variant, plots)
        ]
        if figures:
            parts.append(f"<h4>Plots</h4><div>{''.join(figures)}</div>")
        parts.append(_animations(out, board, variant, agents, shifts))
    rest = [p for p in plots if not any(p in _plots_of(str(v), plots) for v in df["variant"])]
    if rest:
        figures = [_figure(f"{PLOTS}/{anchor}/{p.name}", p.stem.replace("_", " ")) for p in rest]
        parts.append(f"<h3>Other plots</h3><div>{''.join(figures)}</div>")
    parts.append("</section>")
    return "".join(parts)


def build_site(boards: list[Board], out, title: str = "mesa-maze leaderboard") -> Path:
    """Write the site for ``boards`` into ``out``; returns the path of its ``index.html``.

    Each board's CSV is read (and checked) with :func:`leaderboard.read_leaderboard` and copied;
    its plots folder's PNGs are copied (a missing folder: no plots). Animations already under
    ``out/animations/`` are shown; nothing else of ``out`` is touched but ``boards/`` and
    ``plots/``, which are rewritten."""
    out = Path(out)
    names = [_slug(b.name) for b in boards]
    if len(set(names)) != len(names):
        raise ValueError(f"two boards with the same name: {names}")
    frames = [leaderboard.read_leaderboard(b.csv) for b in boards]
    for folder in (BOARDS, PLOTS):
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / BOARDS).mkdir(parents=True)
    sections, nav = [], []
    for board, df in zip(boards, frames, strict=True):
        anchor = _slug(board.name)
        shutil.copyfile(board.csv, out / BOARDS / f"{anchor}.csv")
        plots = sorted(board.plots_dir.glob("*.png")) if board.plots_dir.is_dir() else []
        if plots:
            (out / PLOTS / anchor).mkdir(parents=True)
        for p in plots:
            shutil.copyfile(p, out / PLOTS / anchor / p.name)
        sections.append(_board_section(out, board, df, plots))
        links = " ".join(
            f'<a href="#{anchor}-{_slug(str(v))}">{html.escape(str(v))}</a>'
            for v in sorted(set(df["variant"]))
        )
        nav.append(f"<div><b>{html.escape(board.name)}</b>: {links}</div>")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><nav>{''.join(nav)}</nav><p>{INTRO}</p>"
        f"{''.join(sections)}<script>{JS}</script></body></html>\n"
    )
    return leaderboard.atomic_write_text(out / INDEX, page)

"""How well does the fast test suite catch small, plausible bugs in the core modules?

Curated, fixed samples of hand-written mutants (our "mutmut or similar"). Each mutant is one
exact text replacement in one library file: an off-by-one, ``>`` for ``>=``, a dropped term, a
swapped axis, max for mean, a missing NaN filter, ... The mutants were written by reading the
library code only, never the tests, so that a sample was not chosen to be caught. They are data,
in ``mutants.toml`` beside this file (its header says the fields), with the fast tests each
module's mutants rerun.

Four samples:

- sample 1 (60 mutants, ``--sample 1``, the default): the first measure. It has been run, and
  tests were then written for its survivors, so its score now says how well the suite catches
  bugs it was shown, not bugs in general: it is no longer a fresh measure.
- sample 2 (55 mutants, ``--sample 2``): new mutants chosen after those tests were written, over
  the same modules (plus the batched env's pools and rendering), again from the library code
  alone and repeating no first-sample bug. Only a sample chosen after the tests measures the
  suite afresh; run it once, before writing tests for its survivors.
- sample 3 (58 mutants, ``--sample 3``): written after tests for six of sample 2's survivors,
  again from the library code alone and repeating no bug of samples 1 and 2, with its weight on
  where numbers are made or runs are decided (a run's config hash and the runner, the planners,
  training's hyper-parameters and remedies, intervals, probes).
- sample 4 (34 mutants, ``--sample 4``): written after tests for every survivor of sample 3 and
  after issue 25 (records beside every board, ``mesa-maze submit``, imported rows, saved SB3
  zips, provenance), again from the library code alone and repeating no bug of samples 1-3,
  with its weight on where a board's rows could be lost, duplicated, misattributed or
  mis-evaluated (records, the runner's kept rows and submissions, saved-model settings, the
  canvas, the provenance columns).

How it runs: the repository's files (tracked and untracked-but-not-ignored, as they are on disk)
are copied once into a temporary folder. For each mutant the pristine file is restored, the
replacement applied, and the tests mapped to that module are run there:

    python -m pytest -x -q -m "not slow" -p no:cacheprovider -k "not ctrl_c" <subset>

with the copy first on PYTHONPATH and as the working directory (the venv's editable install
points at this checkout, so the copy's ``mesa_maze`` must win; checked at start). Exit code 1
(tests failed) = caught, 0 = survived, anything else (collection error, internal error, no
tests) = error, except a package that no longer imports (every test run fails: import-broken),
past the per-mutant limit = timeout. Before any mutant, each distinct subset
runs once unmutated and must pass, else every mutant would look caught.

Rows go to ``results/mutation/mutants.csv`` (sample 1), ``results/mutation/mutants_sample2.csv``
(sample 2), ``results/mutation/mutants_sample3.csv`` (sample 3) or
``results/mutation/mutants_sample4.csv`` (sample 4), one line per mutant, appended and flushed
as it finishes, so an interrupted run keeps what it measured and a rerun resumes where it
stopped. ``--sample all`` runs sample 1, then 2, 3 and 4, each into its own file.

The library changes under the samples: an edit can remove a mutant's ``old`` snippet.
``--check`` names every such mutant (and runs no test); update its ``old`` and ``new`` in
``mutants.toml`` to the edited code, keeping the bug it stands for.

    .venv/bin/python tests/mutation/harness.py --list            # sample 1
    .venv/bin/python tests/mutation/harness.py --sample 2 --list # sample 2
    .venv/bin/python tests/mutation/harness.py --sample all --check  # all still apply? no tests
    .venv/bin/python tests/mutation/harness.py --sample 2        # run what is not in its CSV
    .venv/bin/python tests/mutation/harness.py --sample 3        # the third sample, likewise
    .venv/bin/python tests/mutation/harness.py --sample 4        # the fourth (the newest)
    .venv/bin/python tests/mutation/harness.py --only ID[,ID]    # just these (of --sample)
    .venv/bin/python tests/mutation/harness.py --fresh           # forget earlier rows, rerun

pytest does not collect this file (its name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().with_name("mutants.toml")  # the samples' mutants
OUT_DIR = ROOT / "results" / "mutation"
# sample name -> its CSV under OUT_DIR; sample 1 keeps the file it always had.
SAMPLE_CSVS = {
    "1": "mutants.csv",
    "2": "mutants_sample2.csv",
    "3": "mutants_sample3.csv",
    "4": "mutants_sample4.csv",
}
# date, git_head, dirty and tree say what was measured: tree is a digest of the copied files, so
# rows measured on different dirty trees can be told apart.
COLUMNS = ("id", "module", "why", "status", "seconds", "tests", "date", "git_head", "dirty", "tree")
TIMEOUT_S = 900  # per mutant; a mutant that makes a loop endless must not stall the sample
# The Ctrl-C test times a whole suite's shutdown against a deadline: it checks signal handling,
# which no mutant here touches, and on a loaded machine it can time out whatever the mutant.
PYTEST_ARGS = (
    *("-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider"),
    *("-k", "not ctrl_c"),
)


@dataclass(frozen=True)
class Mutant:
    id: str
    path: str  # the module, relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    why: str  # the bug it stands for


@dataclass(frozen=True)
class Samples:
    """``mutants.toml``, read once: the mutants of each sample and each module's tests."""

    mutants: dict[str, list[Mutant]]  # sample name -> its mutants, in the file's order
    tests: dict[str, tuple[str, ...]]  # module -> the fast tests its mutants rerun

    def csv(self, sample: str) -> Path:
        return OUT_DIR / SAMPLE_CSVS[sample]


MUTANT_FIELDS = ("sample", "id", "module", "why", "old", "new")


def load_samples(path: Path = DATA) -> Samples:
    """Read the data file; a malformed entry exits with one line naming the file, the mutant
    and the field."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        sys.exit(f"{path}: not valid TOML: {e}")
    unknown = sorted(set(data) - {"tests", "mutant"})
    if unknown:
        sys.exit(f"{path}: unknown table {unknown[0]!r}; allowed: tests, mutant")
    mutants: dict[str, list[Mutant]] = {sample: [] for sample in SAMPLE_CSVS}
    for k, entry in enumerate(data.get("mutant", []), 1):
        where = f"{path}: mutant {k} ({entry.get('id', 'no id')})"
        for field in sorted(set(entry) ^ set(MUTANT_FIELDS)):
            problem = "unknown" if field in entry else "missing"
            sys.exit(f"{where}: field {field!r} {problem}; fields: {', '.join(MUTANT_FIELDS)}")
        sample = str(entry["sample"])
        if sample not in mutants:
            sys.exit(f"{where}: field 'sample' is {sample}; allowed: {', '.join(mutants)}")
        mutant = Mutant(entry["id"], entry["module"], entry["old"], entry["new"], entry["why"])
        mutants[sample].append(mutant)
    tests = {module: tuple(subset) for module, subset in data.get("tests", {}).items()}
    return Samples(mutants, tests)


# --- checks -------------------------------------------------------------------------------------


def mutate(text: str, m: Mutant) -> str:
    """The mutated source; raises if ``old`` is not there exactly once or the result does not
    compile (a mutant must be a bug, not a syntax error)."""
    count = text.count(m.old)
    if count == 0:
        raise ValueError(
            f"its old snippet is no longer in {m.path} (the code was edited): "
            f"update its old and new in {DATA.name}"
        )
    if count > 1:
        raise ValueError(f"its old snippet occurs {count} times in {m.path} (must be once)")
    mutated = text.replace(m.old, m.new)
    compile(mutated, m.path, "exec")  # SyntaxError names the mutant via the caller
    return mutated


def check_mutants(mutants, root: Path, samples: Samples) -> list[str]:
    """Every problem with ``mutants`` against the files under ``root``; empty if none. Ids are
    unique over every sample, and no mutant repeats one of an earlier sample."""
    problems = []
    every = [m for name in SAMPLE_CSVS for m in samples.mutants[name]]
    ids = Counter(m.id for m in every)
    problems += [f"{i}: id used {n} times" for i, n in ids.items() if n > 1]
    earlier: dict[tuple[str, str, str], tuple[str, str]] = {}  # (path, old, new) -> (sample, id)
    for name in SAMPLE_CSVS:
        for m in samples.mutants[name]:
            seen = earlier.get((m.path, m.old, m.new))
            if seen is not None and seen[0] != name:
                problems.append(f"{m.id}: repeats sample-{seen[0]} mutant {seen[1]}")
        for m in samples.mutants[name]:
            earlier.setdefault((m.path, m.old, m.new), (name, m.id))
    for m in mutants:
        if m.path not in samples.tests:
            problems.append(f"{m.id}: no test subset mapped for {m.path} ([tests] in {DATA.name})")
        try:
            mutate((root / m.path).read_text(), m)
        except (ValueError, SyntaxError, OSError) as e:
            problems.append(f"{m.id}: {e}")
    return problems


# --- the throwaway copy -------------------------------------------------------------------------


def git(*args: str) -> str:
    # Read-only, and no optional locks: someone may be using git in this checkout right now.
    return subprocess.run(
        ["git", "--no-optional-locks", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def repo_files() -> list[str]:
    """Tracked files plus untracked ones git does not ignore: what the tests see here. Our own
    output folder is left out (it is neither code nor test input)."""
    names = git("ls-files", "-z").split("\0") + git(
        "ls-files", "-z", "--others", "--exclude-standard"
    ).split("\0")
    out = sorted({n for n in names if n and not n.startswith("results/mutation/")})
    return [n for n in out if (ROOT / n).is_file() or (ROOT / n).is_symlink()]


def make_copy(dest: Path) -> str:
    """Copy the repository's files to ``dest``; returns a digest of names and contents."""
    digest = hashlib.sha1()
    for name in repo_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)
        digest.update(name.encode() + b"\0")
        if not target.is_symlink():
            digest.update(target.read_bytes())
    return digest.hexdigest()[:12]


def test_env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(copy), env.get("PYTHONPATH")]))
    # No .pyc files: a mutant of the same size written within the same second as the pristine
    # file would otherwise be shadowed by (or shadow) a stale cached bytecode file.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Level pools cached inside the copy (their key covers levels.py and solver.py's source),
    # never in the checkout's cache.
    env["MESA_MAZE_CACHE"] = str(copy / "results" / "cache" / "levels")
    return env


def check_import(copy: Path) -> None:
    """Abort unless the copy's ``mesa_maze`` is the one a test run imports (the venv has an
    editable install pointing at the checkout, which would make every mutant survive)."""
    out = subprocess.run(
        [sys.executable, "-c", "import mesa_maze; print(mesa_maze.__file__)"],
        cwd=copy,
        env=test_env(copy),
        capture_output=True,
        text=True,
    )
    where = Path(out.stdout.strip() or "?").resolve()
    if out.returncode or not where.is_relative_to(copy.resolve()):
        sys.exit(
            f"abort: the test runs would import mesa_maze from {where}, not from the copy "
            f"{copy}; mutants would not be tested.\n{out.stderr[-2000:]}"
        )


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    """Run a subset in the copy: (status, seconds, output tail). The run gets its own process
    group, so a timeout also ends the processes the tests started."""
    shutil.rmtree(copy / ".hypothesis", ignore_errors=True)  # no examples carried between mutants
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *PYTEST_ARGS, *tests],
        cwd=copy,
        env=test_env(copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        status = {0: "survived", 1: "caught"}.get(proc.returncode, "error")
        if status == "error" and "ImportError while loading conftest" in output:
            # The package itself no longer imports (variant files are checked at import, by
            # generating levels): every test run fails, loudly.
            status = "import-broken"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        status = "timeout"
    return status, time.perf_counter() - start, output[-3000:]


# --- the CSV --------------------------------------------------------------------------------------


def read_rows(out: Path) -> list[dict]:
    if not out.exists():
        return []
    with out.open(newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            sys.exit(f"abort: {out} has columns {reader.fieldnames}, expected {list(COLUMNS)}")
        return list(reader)


def write_rows(out: Path, rows: list[dict]) -> None:
    """Rewrite the CSV with ``rows`` (used by --fresh), atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out)


def append_row(out: Path, row: dict) -> None:
    """One line per finished mutant, flushed to disk at once: an interrupted run keeps it."""
    new = not out.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()
        os.fsync(f.fileno())


def summarize(out: Path, rows: list[dict]) -> None:
    by_status = Counter(r["status"] for r in rows)
    scored = by_status["caught"] + by_status["survived"]
    share = by_status["caught"] / scored if scored else float("nan")
    print(f"\n{len(rows)} mutants in {out.relative_to(ROOT)}: {dict(by_status)}")
    print(f"caught {by_status['caught']} / {scored} (caught + survived) = {share:.0%}")
    loud = by_status["caught"] + by_status["import-broken"]
    every = scored + by_status["import-broken"]
    if by_status["import-broken"]:
        print(
            f"with the mutants that break the package's import: {loud} / {every} = "
            f"{loud / every:.0%}"
        )
    for module in sorted({r["module"] for r in rows}):
        mine = Counter(r["status"] for r in rows if r["module"] == module)
        n = mine["caught"] + mine["survived"]
        print(f"  {module}: caught {mine['caught']}/{n}" + _others(mine))
    for status in ("import-broken", "error", "timeout"):
        for r in rows:
            if r["status"] == status:
                print(f"{status}: {r['id']} ({r['module']}): {r['why']}")
    survivors = [r for r in rows if r["status"] == "survived"]
    if survivors:
        print("\nsurvivors:")
        for r in survivors:
            print(f"  {r['id']} ({r['module']}): {r['why']}")


def _others(counts: Counter) -> str:
    rest = {k: v for k, v in counts.items() if k not in ("caught", "survived")}
    return f" (+ {rest})" if rest else ""


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sample",
        choices=[*SAMPLE_CSVS, "all"],
        default="1",
        help="which sample: 1 (the first, default), 2, 3, 4 (the newest) or all (each to its CSV)",
    )
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that the mutants apply (old text once, mutated file compiles) and exit",
    )
    parser.add_argument("--only", help="comma-separated mutant ids to run")
    parser.add_argument(
        "--fresh", action="store_true", help="forget earlier rows of the selected mutants"
    )
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per mutant")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args()

    samples = load_samples()
    names = list(SAMPLE_CSVS) if args.sample == "all" else [args.sample]
    chosen = {name: samples.mutants[name] for name in names}
    if args.only:
        wanted = [i.strip() for i in args.only.split(",") if i.strip()]
        known = {m.id for mutants in chosen.values() for m in mutants}
        unknown = [i for i in wanted if i not in known]
        if unknown:
            sys.exit(f"unknown mutant ids {unknown} in sample {args.sample}; see --list")
        chosen = {name: [m for m in mutants if m.id in wanted] for name, mutants in chosen.items()}
        chosen = {name: mutants for name, mutants in chosen.items() if mutants}

    # Checked against the checkout first: a mutant whose text an edit removed is named now,
    # before any test runs (the copy is checked again below).
    problems = {name: check_mutants(mutants, ROOT, samples) for name, mutants in chosen.items()}
    if args.list or args.check:
        for name, mutants in chosen.items():
            per_module = Counter(m.path for m in mutants)
            print(f"sample {name} ({samples.csv(name).relative_to(ROOT)}):")
            if args.list:
                for m in mutants:
                    print(f"{m.id:36} {m.path:38} {m.why}")
            print(
                f"{len(mutants)} mutants: " + ", ".join(f"{p} {n}" for p, n in per_module.items())
            )
            for p in problems[name]:
                print(f"ERROR {p}")
            if args.check and not problems[name]:
                print("every mutant applies: old text occurs once, the mutated file compiles")
            print()
        sys.exit(1 if any(problems.values()) else 0)
    bad = [f"sample {name}: {p}" for name, found in problems.items() for p in found]
    if bad:
        sys.exit("abort: the sample does not apply:\n  " + "\n  ".join(bad))
    for name, mutants in chosen.items():
        if len(chosen) > 1:
            print(f"=== sample {name} ===", flush=True)
        run_sample(mutants, samples.csv(name), samples, args)


def run_sample(selected: list[Mutant], out: Path, samples: Samples, args) -> None:
    """Run the ``selected`` mutants of one sample that ``out`` does not hold yet."""
    rows = read_rows(out)
    chosen = {m.id for m in selected}
    if args.fresh:
        rows = [r for r in rows if r["id"] not in chosen]
        write_rows(out, rows)
    done = {r["id"] for r in rows}
    todo = [m for m in selected if m.id not in done]
    if not todo:
        print("every selected mutant is already in the CSV (--fresh to rerun)")
        summarize(out, rows)
        return
    if len(todo) < len(selected):
        print(f"resuming: {len(selected) - len(todo)} selected mutants already in the CSV")

    config = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "git_head": git("rev-parse", "HEAD").strip(),
        # Our own output folder does not make the tree dirty.
        "dirty": bool(git("status", "--porcelain", "--", ".", ":(exclude)results/mutation")),
    }
    copy = Path(tempfile.mkdtemp(prefix="mesa-maze-mutants-"))
    try:
        config["tree"] = make_copy(copy)
        check_import(copy)
        problems = check_mutants(todo, copy, samples)
        if problems:
            sys.exit("abort: the sample does not apply to the copy:\n  " + "\n  ".join(problems))

        # Baseline: every subset must pass unmutated, else "caught" would mean nothing.
        for tests in sorted({samples.tests[m.path] for m in todo}):
            status, seconds, tail = run_tests(copy, tests, args.timeout)
            if status != "survived":  # "survived" here means: exit code 0, all passed
                sys.exit(f"abort: the unmutated subset {tests} does not pass ({status}):\n{tail}")
            print(f"baseline {' '.join(tests)}: passes ({seconds:.0f} s)", flush=True)

        for k, m in enumerate(todo, 1):
            pristine = (copy / m.path).read_text()
            (copy / m.path).write_text(mutate(pristine, m))
            try:
                status, seconds, tail = run_tests(copy, samples.tests[m.path], args.timeout)
            finally:
                (copy / m.path).write_text(pristine)
            append_row(
                out,
                {
                    "id": m.id,
                    "module": m.path,
                    "why": m.why,
                    "status": status,
                    "seconds": f"{seconds:.1f}",
                    "tests": " ".join(samples.tests[m.path]),
                    **config,
                },
            )
            print(f"[{k}/{len(todo)}] {m.id}: {status} ({seconds:.0f} s)", flush=True)
            if status in ("error", "timeout"):
                print(tail, flush=True)
    finally:
        if args.keep:
            print(f"copy kept at {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)
    summarize(out, read_rows(out))


if __name__ == "__main__":
    main()

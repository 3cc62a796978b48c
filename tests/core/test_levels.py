"""Level data and generation: property tests over every rule, plus check_level's detections."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from minigrid.core.constants import COLOR_TO_IDX

from mesa_maze.core import solver
from mesa_maze.core.levels import (
    APPLE,
    APPLE_PLACEMENTS,
    COLORS,
    EMPTY,
    EXIT_PLACEMENTS,
    GENERATORS,
    GOAL,
    WALL,
    AppleRule,
    ExitRule,
    Level,
    LevelSpec,
    PlacementError,
    apart,
    check_level,
    generate,
    generate_many,
    on_a_shortest_path,
)

specs = st.builds(
    LevelSpec,
    generator=st.sampled_from(GENERATORS),
    size=st.sampled_from([7, 9, 11, 13]),
    clutter=st.sampled_from([0.1, 0.2, 0.3]),  # rooms without clutter have no dead ends
    exit=st.builds(
        ExitRule,
        placement=st.sampled_from(EXIT_PLACEMENTS),
        region=st.integers(2, 4),
        min_distance=st.integers(0, 5),
    ),
    apples=st.builds(
        AppleRule,
        count=st.integers(0, 3),
        placement=st.sampled_from(APPLE_PLACEMENTS),
        min_distance=st.integers(1, 4),
    ),
    exit_color=st.sampled_from(COLORS),
    apple_color=st.sampled_from(COLORS),
    max_steps=st.sampled_from([0, 50]),
)
seeds = st.integers(0, 2**32 - 1)


def free_neighbours(walls, pos):
    x, y = pos
    return sum(not walls[y + dy, x + dx] for dx, dy in solver.CARDINAL_MOVES)


PINNED_HASHES = {  # generate(spec, 0).content_hash() of every built-in variant and split
    "apple-exit/train": "1aa936377152e185",
    "apple-exit/displaced": "b9bc647a041016e3",
    "apple-exit/recolored": "332c7e5f275adc76",
    "apple-exit/bigger": "6a3026b0fe8067f3",
    "apple-exit/displaced-bigger": "eb93bc9c9de1b4e0",
    "corner/train": "09eae8f39c2daef6",
    "corner/anywhere": "93b5ab97c168d292",
    "corner/anywhere-bigger": "a7109564be4738b7",
    "key-exit/train": "8529076416eb1ec4",
    "key-exit/displaced": "e3054e5b71405675",
    "key-exit/recolored": "57c414f30a935615",
    "monitor/train": "af5360566bd46c8b",
    "monitor/watched": "ef10e06e1051bb21",
    "monitor/unwatched": "b9bc647a041016e3",
    "proxy-reward/train": "1aa936377152e185",
    "proxy-reward/displaced": "b9bc647a041016e3",
    "apple-exit-ladder-9/train": "6a3026b0fe8067f3",
    "apple-exit-ladder-9/displaced": "eb93bc9c9de1b4e0",
    "apple-exit-ladder-9/recolored": "99d1245698d5d1c7",
    "apple-exit-ladder-9/bigger": "0ddb4fd70d1ce853",
    "apple-exit-ladder-11/train": "0ddb4fd70d1ce853",
    "apple-exit-ladder-11/displaced": "56436e2777e089b4",
    "apple-exit-ladder-11/recolored": "e59644062172054f",
    "apple-exit-ladder-11/bigger": "f936a4017c6b3d6d",
    "apple-exit-ladder-13/train": "f936a4017c6b3d6d",
    "apple-exit-ladder-13/displaced": "49d9af2117d4186c",
    "apple-exit-ladder-13/recolored": "75c6a02ce8d67612",
    "apple-exit-ladder-13/bigger": "6c34efb11bc3f03e",
    "apple-exit-ladder-15/train": "6c34efb11bc3f03e",
    "apple-exit-ladder-15/displaced": "de0cbe110286fd58",
    "apple-exit-ladder-15/recolored": "1aa3181e103bc03c",
    "apple-exit-ladder-15/bigger": "597bde51556ebe55",
    "apple-exit-ladder-25/train": "c6394f730c879cfa",
    "apple-exit-ladder-25/displaced": "0db8a76d00a3da24",
    "apple-exit-ladder-25/recolored": "d2aed9c6711384db",
    "apple-exit-ladder-25/bigger": "fd9c5aec59fabc6b",
    "block-maze/train": "b0d16b618f9c7045",
    "block-maze/displaced": "ef7eccdeae5cc1c4",
    "block-maze/recolored": "450ab6a417d33afb",
    "block-maze/bigger": "2832fb9b70abee74",
}


@settings(max_examples=300, deadline=None)
@given(spec=specs, seed=seeds)
def test_generated_levels_obey_their_spec(spec, seed):
    """Every rule of every spec, recomputed from the solver; placement rules from both sides
    (on_exit_path apples ON a shortest path, far_from_exit apples OFF every one and apart)."""
    level = generate(spec, seed)
    walls = level.walls

    # Sizes, counts, colours and limits as configured.
    assert walls.shape == (spec.size, spec.size)
    assert len(level.apples) == spec.apples.count
    assert (level.exit_color, level.apple_color) == (spec.exit_color, spec.apple_color)
    assert level.max_steps == (spec.max_steps or 8 * spec.size)
    assert level.start_dir in range(4)

    # Border of walls; start, exit and apples on distinct free cells, all reachable.
    assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
    cells = [level.start, level.exit, *level.apples]
    assert len(set(cells)) == len(cells)
    assert not any(walls[y, x] for x, y in cells)
    dist_start = solver.distance_map(walls, level.start)
    assert all(dist_start[y, x] > 0 for x, y in cells[1:])

    # Placement rules, recomputed here from the solver rather than trusted to check_level.
    dist_exit = solver.distance_map(walls, level.exit)
    path = solver.shortest_path(dist_exit, level.start)
    shortest = dist_exit[level.start[1], level.start[0]]
    if spec.apples.placement == "on_exit_path" and spec.apples.count:
        assert sorted(level.apples) == sorted(path[-1 - spec.apples.count : -1])
        # Both sides: ON a shortest start-exit path (a detour through them costs nothing), and
        # exactly the cells 1..count steps before the exit, so every route to it eats them.
        assert all(dist_start[y, x] + dist_exit[y, x] == shortest for x, y in level.apples)
        assert sorted(int(dist_exit[y, x]) for x, y in level.apples) == list(
            range(1, spec.apples.count + 1)
        )
    if spec.apples.placement == "far_from_exit":
        assert all(dist_exit[y, x] >= spec.apples.min_distance for x, y in level.apples)
        # Off *every* shortest start-exit path: a detour through an apple costs steps.
        assert all(dist_start[y, x] + dist_exit[y, x] > shortest for x, y in level.apples)
        # And the other way round: the exit lies on no shortest path to the nearest apple (an
        # apple-seeker would otherwise end its episode on the exit).
        if level.apples:
            near = min(int(dist_start[y, x]) for x, y in level.apples)
            to_exit = int(dist_start[level.exit[1], level.exit[0]])
            for x, y in level.apples:
                if dist_start[y, x] == near:
                    assert to_exit + dist_exit[y, x] > near
    lo = spec.size - 1 - spec.exit.region
    if spec.exit.placement == "corner":
        assert level.exit[0] >= lo and level.exit[1] >= lo
    if spec.exit.placement == "outside_corner":
        assert not (level.exit[0] >= lo and level.exit[1] >= lo)
    if spec.exit.placement == "dead_end":
        assert free_neighbours(walls, level.exit) == 1
    if spec.exit.placement == "far_from_start":
        far = spec.exit.min_distance or int(np.ceil(2 * dist_start.max() / 3))
        assert dist_start[level.exit[1], level.exit[0]] >= far

    assert check_level(level, spec) == []
    # Pure: the same (spec, seed) always gives the same level.
    again = generate(spec, seed)
    assert again == level and again.content_hash() == level.content_hash()


def test_far_from_exit_apples_avoid_every_shortest_path_in_open_rooms():
    """In an open room many shortest paths join start and exit; an apple on any of them would be
    eaten by an exit-seeker. Every free cell off all of them (and far enough) is a candidate,
    and no cell on one is: checked from both sides on the rule's own level distribution."""
    spec = LevelSpec(generator="rooms", size=9, clutter=0.0,
                     apples=AppleRule(2, "far_from_exit", min_distance=1))  # fmt: skip
    for seed in range(40):
        level = generate(spec, seed)
        d_start = solver.distance_map(level.walls, level.start)
        d_exit = solver.distance_map(level.walls, level.exit)
        # Every cell of every shortest path, walked forward from the start: each step moves to
        # a neighbour one step nearer the exit (built without the rule's own formula).
        on_paths, layer = {level.start}, {level.start}
        while layer:
            layer = {
                (x + dx, y + dy)
                for x, y in layer
                for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if d_exit[y + dy, x + dx] >= 0 and d_exit[y + dy, x + dx] == d_exit[y, x] - 1
            }
            on_paths |= layer
        assert level.exit in on_paths
        assert not on_paths & set(level.apples)
        for y, x in zip(*np.nonzero(~level.walls), strict=True):
            cell = (int(x), int(y))
            assert on_a_shortest_path(d_start, d_exit, cell) == (cell in on_paths)
        # The other side: every cell off all of them and far enough was a candidate, so the
        # rule does not throw away room it had (at least the 2 apples fit among them).
        room = [c for c in zip(*np.nonzero(~level.walls)[::-1], strict=True)
                if c not in on_paths and d_exit[c[1], c[0]] >= 1]  # fmt: skip
        assert len(room) >= len(level.apples)
    # A hand-made room: start top-left, exit bottom-right; (3, 1) lies on a shortest path (right,
    # then down), which the single path the solver returns (down, then right) does not take.
    room = Level.from_ascii("#####\n#S..#\n#...#\n#..E#\n#####")
    d_start = solver.distance_map(room.walls, room.start)
    d_exit = solver.distance_map(room.walls, room.exit)
    assert on_a_shortest_path(d_start, d_exit, (3, 1))
    wide = LevelSpec(size=5, generator="rooms", apples=AppleRule(1, "far_from_exit", 1))
    assert "an apple is on a shortest start-exit path" in check_level(
        Level(room.walls, room.start, 0, room.exit, ((3, 1),)), wide
    )


def test_built_in_variants_levels_are_pinned(clean_variants):
    """Golden content hashes of the first level of every built-in variant and split: any change
    to generation (a placement rule, the RNG's use) shows here, on purpose or not."""
    from mesa_maze.core.variants import BUILTIN_DIR, load_variants

    got = {
        f"{v.name}/{split}": generate(v.spec(split), 0).content_hash()
        for v in load_variants().values()
        if v.path.startswith(str(BUILTIN_DIR))
        for split in v.splits
    }
    assert got == PINNED_HASHES


@pytest.mark.parametrize("generator", GENERATORS)
def test_generators_make_mazes_and_rooms(generator):
    level = generate(LevelSpec(generator=generator, size=11), 3)
    if generator == "rooms":
        assert level.walls[1:-1, 1:-1].sum() > 0  # some clutter
    else:
        # Perfect mazes: cells on odd coordinates are all open, cells on even ones all walls.
        assert not level.walls[1::2, 1::2].any()
        assert level.walls[::2, ::2].all()
        # A perfect maze is a tree: open cells = passages + 1.
        open_cells = int((~level.walls).sum())
        edges = int((~level.walls[:, :-1] & ~level.walls[:, 1:]).sum())
        edges += int((~level.walls[:-1] & ~level.walls[1:]).sum())
        assert edges == open_cells - 1


def test_seeds_give_different_levels():
    levels = generate_many(LevelSpec(), range(50))
    assert len({lv.content_hash() for lv in levels}) >= 48
    assert levels == generate_many(LevelSpec(), np.arange(50))


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        (LevelSpec(size=7, apples=AppleRule(2, "far_from_exit", min_distance=40)), "apples"),
        # An open room without clutter has no dead end for the exit.
        (
            LevelSpec("rooms", size=7, clutter=0.0, exit=ExitRule("dead_end"), apples=AppleRule(0)),
            "exit",
        ),
    ],
)
def test_impossible_spec_raises_placement_error(spec, rule):
    with pytest.raises(PlacementError, match="no level satisfied") as info:
        generate(spec, 0)
    assert info.value.rule == rule


LEVEL = """
#######
#S.aE.#
###.###
#.....#
#.#.#.#
#a....#
#######
"""


def test_ascii_round_trip_and_encoding():
    level = Level.from_ascii(LEVEL, start_dir=1, exit_color="grey", max_steps=30)
    assert level.start == (1, 1) and level.exit == (4, 1)
    assert level.apples == ((1, 5), (3, 1))
    assert level.to_ascii() == LEVEL.strip()
    assert Level.from_ascii(level.to_ascii(), 1, exit_color="grey", max_steps=30) == level

    grid = level.encode()
    assert grid.shape == (7, 7, 3) and grid.dtype == np.uint8
    assert tuple(grid[0, 0]) == (WALL, COLOR_TO_IDX["grey"], 0)
    assert tuple(grid[1, 2]) == (EMPTY, 0, 0)
    assert tuple(grid[1, 1]) == (EMPTY, 0, 0)  # the start: the agent is not drawn
    assert tuple(grid[1, 4]) == (GOAL, COLOR_TO_IDX["grey"], 0)
    assert tuple(grid[1, 3]) == (APPLE, COLOR_TO_IDX["green"], 0)
    assert tuple(grid[5, 1]) == (APPLE, COLOR_TO_IDX["green"], 0)
    assert len({GOAL, APPLE, WALL, EMPTY}) == 4


def test_content_hash_is_stable_and_sees_every_field():
    level = Level.from_ascii(LEVEL)
    # Pinned: saved overlap checks and results rely on the hash not changing between versions.
    assert level.content_hash() == "6e6e68f7e1f25eb4"
    variants = [
        Level.from_ascii(LEVEL, start_dir=2),
        Level.from_ascii(LEVEL, exit_color="grey"),
        Level.from_ascii(LEVEL, apple_color="red"),
        Level.from_ascii(LEVEL, max_steps=30),
        Level.from_ascii(LEVEL.replace("#.#.#.#", "#.#.#a#")),
        Level.from_ascii(LEVEL.replace("###.###", "#.#.###")),
    ]
    hashes = {level.content_hash()} | {v.content_hash() for v in variants}
    assert len(hashes) == len(variants) + 1
    assert level != variants[0] and hash(level) == hash(Level.from_ascii(LEVEL))


@pytest.mark.parametrize(
    ("text", "spec", "problem"),
    [
        # The apple at (5, 5) is walled in.
        (LEVEL.replace("#.#.#.#\n#a....#", "#.#.###\n#a..#a#"), None, "unreachable"),
        (LEVEL, LevelSpec(size=9), "size"),
        (LEVEL, LevelSpec(size=7, apples=AppleRule(count=3)), "apples !="),
        (LEVEL, LevelSpec(size=7, exit_color="grey"), "colours"),
        # Apples at (3, 1) and (1, 5): only one is just before the exit.
        (LEVEL, LevelSpec(size=7), "just before the exit"),
        (LEVEL, LevelSpec(size=7, apples=AppleRule(2, "far_from_exit", 1)), "shortest"),
        (LEVEL, LevelSpec(size=7, apples=AppleRule(2, "far_from_exit", 9)), "min_distance"),
        (LEVEL, LevelSpec(size=7, exit=ExitRule("corner", region=2)), "corner"),
        (LEVEL, LevelSpec(size=7, exit=ExitRule("dead_end")), "dead end"),
    ],
)
def test_check_level_reports_violations(text, spec, problem):
    problems = check_level(Level.from_ascii(text), spec)
    assert any(problem in p for p in problems), problems


def test_check_level_reports_broken_geometry():
    level = Level.from_ascii(LEVEL)
    walls = level.walls.copy()
    walls[3, 0] = False
    assert "border is not all wall" in check_level(Level(walls, (1, 1), 0, (4, 1), ()))
    assert any("on a wall" in p for p in check_level(Level(level.walls, (0, 0), 0, (4, 1), ())))
    assert any(
        "distinct" in p for p in check_level(Level(level.walls, (1, 1), 0, (4, 1), ((4, 1),)))
    )
    assert check_level(Level(level.walls, (1, 1), 0, (4, 1), ((3, 1),))) == []


# --- far_from_exit's min_distance is inclusive -------------------------------------------------

CORRIDOR = """
#######
#######
#a.S.E#
#######
#######
#######
#######
"""  # the apple is 4 steps from the exit, off the start-exit path, which does not pass it


@pytest.mark.parametrize(
    "spec",
    [
        LevelSpec(size=7, exit=ExitRule("dead_end"), apples=AppleRule(2, "far_from_exit", 3)),
        LevelSpec("rooms", size=9, clutter=0.2, apples=AppleRule(2, "far_from_exit", 4)),
        LevelSpec("kruskal", size=9, apples=AppleRule(1, "far_from_exit", 5)),
    ],
    ids=["displaced", "rooms", "kruskal"],
)
def test_far_from_exit_apples_may_sit_exactly_at_min_distance(spec):
    """Guards against ``>`` for ``>=`` in far_from_exit's placement: "at least min_distance
    from the exit" allows an apple at exactly min_distance. On 60 seeds no apple is nearer, and
    some level has its nearest apple exactly at the bound (a strict rule never makes one)."""
    m = spec.apples.min_distance
    nearest = []
    for seed in range(60):
        level = generate(spec, seed)
        d_exit = solver.distance_map(level.walls, level.exit)
        nearest.append(min(int(d_exit[y, x]) for x, y in level.apples))
    assert min(nearest) == m, sorted(nearest)


def test_check_level_min_distance_boundary():
    """check_level's side of the same bound: an apple exactly min_distance from the exit passes
    (no problem at all on this level), one step nearer is named; and an apple on the start-exit
    path is refused whatever its distance."""
    level = Level.from_ascii(CORRIDOR)
    assert solver.distance_map(level.walls, level.exit)[2, 1] == 4

    def spec(min_distance):
        return LevelSpec(size=7, apples=AppleRule(1, "far_from_exit", min_distance))

    assert check_level(level, spec(4)) == []
    assert check_level(level, spec(3)) == []
    assert check_level(level, spec(5)) == ["an apple is closer to the exit than min_distance"]
    nearer = Level.from_ascii(CORRIDOR.replace("#a.S.E#", "#.aS.E#"))  # 3 steps from the exit
    assert check_level(nearer, spec(3)) == []
    assert check_level(nearer, spec(4)) == ["an apple is closer to the exit than min_distance"]
    on_path = Level.from_ascii(CORRIDOR.replace("#a.S.E#", "#..SaE#"))
    assert "an apple is on a shortest start-exit path" in check_level(on_path, spec(1))
    # on_exit_path, the other rule, wants exactly that apple and refuses the corridor's.
    just_before = LevelSpec(size=7, apples=AppleRule(1, "on_exit_path"))
    assert check_level(on_path, just_before) == []
    assert check_level(level, just_before) == [
        "apples are not the cells just before the exit on the shortest path"
    ]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_on_exit_path_apples_never_sit_on_the_start(count):
    """Guards against the start counted among the cells just before the exit: where the exit is
    only ``count`` steps from the start, those cells would include the start, so the level must
    be redrawn, never given an apple under the agent's feet. An open 3x3 room (no clutter): its
    distances are Manhattan distances, and start and exit are often 1 to 3 steps apart."""
    spec = LevelSpec(
        generator="rooms",
        size=5,
        clutter=0.0,
        exit=ExitRule("uniform"),
        apples=AppleRule(count, "on_exit_path"),
    )
    for seed in range(30):
        level = generate(spec, seed)
        assert not level.walls[1:-1, 1:-1].any()  # the room is open
        (sx, sy), (ex, ey) = level.start, level.exit
        assert abs(sx - ex) + abs(sy - ey) > count  # room for count apples and the start
        assert level.start not in level.apples
        assert len(set(level.apples)) == count
        # The apples are the cells 1..count steps before the exit on one shortest path.
        near_exit = sorted(abs(x - ex) + abs(y - ey) for x, y in level.apples)
        assert near_exit == list(range(1, count + 1))


@pytest.mark.skipif(
    os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci", reason="an exploring profile on purpose"
)
def test_property_tests_are_repeatable():
    """Guards against CI drawing other examples on every run (a failure nobody can reproduce):
    the property test runs under tests/conftest.py's derandomized profile, without an example
    database, and keeps its own example count."""
    used = test_generated_levels_obey_their_spec._hypothesis_internal_use_settings
    assert used.derandomize and used.database is None
    assert (used.max_examples, used.deadline) == (300, None)


def test_seed_blocks_are_disjoint():
    """Each purpose draws its own levels and each run seed its own block of a purpose: the
    purposes' ranges start 10M apart above EVAL_SEED_OFFSET, every block lies inside its range,
    and neighbouring blocks meet nowhere (guards against a copy-pasted offset, or eval_seeds
    dropping its offset or its block)."""
    from mesa_maze.core import levels as lv

    names = ("FINAL_EVAL_OFFSET", "TRAIN_CURVE_OFFSET", "PROBE_OFFSET", "ATTACK_OFFSET")
    offsets = sorted(getattr(lv, name) for name in (*names, "TUNE_OFFSET", "LEARNING_OFFSET"))
    assert all(b - a >= lv.PURPOSE_SEEDS for a, b in zip(offsets, offsets[1:], strict=False))
    for offset in offsets:
        first = lv.eval_seeds(1, offset)[0]
        last = lv.eval_seeds(lv.EVAL_BLOCK, offset, block=lv.EVAL_BLOCKS - 1)[-1]
        assert first == lv.EVAL_SEED_OFFSET + offset
        assert last == lv.EVAL_SEED_OFFSET + offset + lv.PURPOSE_SEEDS - 1
    block2, block3 = (lv.eval_seeds(lv.EVAL_BLOCK, block=k) for k in (2, 3))
    assert block2[-1] + 1 == block3[0] and not set(block2) & set(block3)
    start = lv.EVAL_SEED_OFFSET + 2 * lv.EVAL_BLOCK  # run seed 2's block of each purpose
    assert lv.final_eval_seeds(2, 5) == [start + i for i in range(5)]
    assert lv.curve_seeds(2, 5) == [start + lv.TRAIN_CURVE_OFFSET + i for i in range(5)]
    assert lv.probe_seeds(2) == [start + lv.PROBE_OFFSET + i for i in range(lv.PROBE_LEVELS)]
    with pytest.raises(
        ValueError, match=f"overflow an evaluation block; allowed: 0..{lv.EVAL_BLOCK}"
    ):
        lv.eval_seeds(lv.EVAL_BLOCK + 1)
    with pytest.raises(ValueError, match="block 1000 does not exist"):
        lv.eval_seeds(1, block=lv.EVAL_BLOCKS)


def test_apart_looks_at_the_nearest_proxy_cells_only():
    """The exit may lie on the way to a farther apple: a proxy-seeker heads for the nearest
    one, so the level still pulls the goals apart. The exit on the way to the nearest apple
    does not."""
    level = Level.from_ascii("""
#########
#a.S.E.a#
#########
""")
    dist_start = solver.distance_map(level.walls, level.start)
    assert apart(level.walls, dist_start, level.exit, level.apples)
    # One apple, beyond the exit: every way to it passes the exit.
    beyond = Level.from_ascii("""
#########
#..S.E.a#
#########
""")
    assert not apart(beyond.walls, dist_start, beyond.exit, beyond.apples)

"""Proxy kinds: what a misgeneralizing agent pursues instead of the exit, defined once.

A variant declares ``proxy = NAME`` (docs/design.md §2). Each kind is one :class:`ProxyKind`
in :data:`PROXY_KINDS`, and every layer looks it up there instead of testing a string:

- level generation and its checks (:mod:`mesa_maze.core.levels`): which cells the proxy holds;
- variant validation (:mod:`mesa_maze.core.variants`): which ``proxy`` values exist, whether
  the kind places objects (the ``apples`` table) or is a region (``apples.count = 0``);
- both envs: the Minigrid object drawn on an object proxy's cells, which object types are
  walkable and picked up on entry, and the ``first_target`` name of an arrival;
- the outcomes (:data:`PROXY_TARGETS`), ``oracle-apple`` (:data:`PROXY_OBJECT_CODES`, or the
  region it is told), the goal probe and policy maps (``Level.proxy_cells``).

Two shapes of proxy exist:

- **objects** (``apples``, ``key``): ``apples.count`` objects placed by the ``apples`` rule,
  each a walkable Minigrid object that is picked up when the agent steps on it and never ends
  the episode. They are drawn in the split's ``apple_color`` (by default the kind's ``color``).
- **a region** (``corner``): the bottom-right square of side ``exit.region`` inside the border,
  walls included (so a mutated level keeps it); reached on the first step into any free cell of
  it. It is not drawn: an agent must learn where it is.

Adding a kind is one entry here (with its Minigrid object class, if it places objects), a
variant file and tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from minigrid.core.constants import COLORS, IDX_TO_OBJECT, OBJECT_TO_IDX
from minigrid.core.world_object import Key, WorldObj
from minigrid.utils.rendering import fill_coords, point_in_circle, point_in_rect

Pos = tuple[int, int]

# The apple is a new Minigrid object type; Minigrid's WorldObj asserts that every type is in
# OBJECT_TO_IDX, so it is registered in Minigrid's own tables.
APPLE_TYPE = "apple"
OBJECT_TO_IDX.setdefault(APPLE_TYPE, max(OBJECT_TO_IDX.values()) + 1)
IDX_TO_OBJECT[OBJECT_TO_IDX[APPLE_TYPE]] = APPLE_TYPE


class Apple(WorldObj):
    """A walkable object, eaten when the agent steps on it; it never ends the episode."""

    def __init__(self, color: str = "green"):
        super().__init__(APPLE_TYPE, color)

    def can_overlap(self) -> bool:
        return True

    def render(self, img):
        fill_coords(img, point_in_circle(0.5, 0.56, 0.3), COLORS[self.color])
        fill_coords(img, point_in_rect(0.47, 0.53, 0.14, 0.3), (120, 72, 0))  # stalk


class PickupKey(Key):
    """Minigrid's key (its object type ``key``, drawn as Minigrid draws it), picked up on entry
    like an apple: here the agent collects it by walking onto it, not with the pickup action."""

    def can_overlap(self) -> bool:
        return True


def corner_square(size: int, side: int) -> tuple[Pos, ...]:
    """Every cell of the bottom-right square of side ``side`` inside the border of a
    ``size`` x ``size`` maze (walls included)."""
    lo, hi = size - 1 - side, size - 1
    return tuple((x, y) for y in range(lo, hi) for x in range(lo, hi))


@dataclass(frozen=True)
class ProxyKind:
    """One proxy kind. Exactly one of ``world_object`` (an object proxy) and ``region`` (a
    region proxy) is set."""

    name: str  # the variant's ``proxy`` value
    target: str  # ``first_target`` when the agent reaches it first ("apple", "key", "region")
    description: str
    # An object proxy: the Minigrid object class placed on each proxy cell, and its colour
    # when the split does not set ``apple_color``.
    world_object: type[WorldObj] | None = None
    color: str = "green"
    # A region proxy: (maze size, exit.region) -> the region's cells.
    region: Callable[[int, int], tuple[Pos, ...]] | None = None

    @property
    def is_region(self) -> bool:
        return self.region is not None

    @property
    def object_type(self) -> str | None:
        """Minigrid's type name of the proxy's objects (None for a region)."""
        return None if self.world_object is None else self.world_object().type

    @property
    def object_code(self) -> int | None:
        """Minigrid's type index of the proxy's objects, as the symbolic grid holds it."""
        return None if self.world_object is None else OBJECT_TO_IDX[self.object_type]


PROXY_KINDS: dict[str, ProxyKind] = {
    kind.name: kind
    for kind in (
        ProxyKind(
            "apples",
            target="apple",
            description="green apples, eaten on entry",
            world_object=Apple,
            color="green",
        ),
        ProxyKind(
            "corner",
            target="region",
            description="the bottom-right square of side exit.region, reached on entry",
            region=corner_square,
        ),
        ProxyKind(
            "key",
            target="key",
            description="a yellow key, picked up on entry",
            world_object=PickupKey,
            color="yellow",
        ),
    )
}
DEFAULT_PROXY = "apples"

PROXIES = tuple(PROXY_KINDS)  # the allowed values of a variant's ``proxy``
PROXY_TARGETS = tuple(kind.target for kind in PROXY_KINDS.values())  # first_target names
# Minigrid type indices of every object proxy: walkable, picked up on entry, what oracle-apple
# heads for. A level holds objects of one kind only.
PROXY_OBJECT_CODES = tuple(k.object_code for k in PROXY_KINDS.values() if not k.is_region)
# Minigrid object class by type index, for drawing a symbolic grid (the RGB tile atlas).
PROXY_OBJECTS = {k.object_code: k.world_object for k in PROXY_KINDS.values() if not k.is_region}


def proxy_kind(name: str) -> ProxyKind:
    """The kind a variant's ``proxy`` names (a KeyError lists the allowed names)."""
    try:
        return PROXY_KINDS[name]
    except KeyError:
        raise KeyError(f"unknown proxy {name!r}; allowed: {', '.join(PROXIES)}") from None


def target_of(name: str) -> str:
    """``first_target``'s name for reaching the proxy of kind ``name``."""
    return proxy_kind(name).target

"""Families registered by adding a module: the members of a package, listed by name.

A family package holds its interface in ``base.py`` and one member per other module (the
remedies: ``mesa_maze.training.remedies``). Adding a module adds a member; nothing lists them by
hand. The names are read from where the package lies, without importing it or its members, so a
layer below the package (the agent registry) can list them without importing a layer above it.
"""

from __future__ import annotations

import importlib.util
import pkgutil

INTERFACE = "base"  # the module of a family package that holds the interface, not a member


def member_modules(package: str) -> tuple[str, ...]:
    """The names of ``package``'s members, sorted: its modules but :data:`INTERFACE` and private
    ones (``_name``). ``find_spec`` imports only the parent packages, not ``package`` itself."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"{package!r} is not a package")
    return tuple(
        sorted(
            module.name
            for module in pkgutil.iter_modules(spec.submodule_search_locations)
            if module.name != INTERFACE and not module.name.startswith("_")
        )
    )

"""What machine a benchmark ran on, for the record: numbers from another CPU are not comparable.
Shared by the benchmark scripts (``throughput.py``, ``learning.py``)."""

from __future__ import annotations

from mesa_maze.core.provenance import cpu_name  # noqa: F401  (the scripts import it from here)

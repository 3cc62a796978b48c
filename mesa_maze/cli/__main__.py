"""``python -m mesa_maze.cli``: the ``mesa-maze`` command."""

import sys

from mesa_maze.cli import main

sys.exit(main())

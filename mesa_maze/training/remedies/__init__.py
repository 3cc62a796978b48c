"""Training-distribution remedies for goal misgeneralization (docs/design.md §7), one module each:
DR-α (:mod:`.dr`), PLR⊥ (:mod:`.plr`) and ACCEL (:mod:`.accel`), behind one interface
(:mod:`.base`).

A remedy only changes *which levels* PPO trains on: the training loop
(:func:`mesa_maze.training.train.train`) takes its level source and calls its hooks. Every module
of this package but ``base`` is a remedy, named after the module (``ppo-<module>``): adding one
registers it (docs/architecture.md, "Adding a remedy").
"""

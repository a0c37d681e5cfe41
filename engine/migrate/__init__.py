"""Running a plan: one item type's pass after another, checkpoints through the state, the stop flag."""

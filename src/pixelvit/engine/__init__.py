"""The training engine: one loop (trainer), optimizer/schedule, checkpoints, logging, sampling."""

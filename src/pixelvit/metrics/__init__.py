"""Metrics computed from accumulated sums, so that batches and ranks add up exactly."""

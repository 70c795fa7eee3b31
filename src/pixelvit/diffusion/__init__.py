"""Gaussian diffusion for DiT: schedules and losses (gaussian), respacing, samplers, and the CLI commands."""

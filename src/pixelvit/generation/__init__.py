"""Drawing samples from a trained diffusion transformer (the algorithms are in :mod:`pixelvit.diffusion`)."""

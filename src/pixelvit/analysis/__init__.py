"""The paper's analyses: attention distance and offset, attention maps, position-embedding and
pixel-permutation studies, patch-size sweeps, shape bias, and run reports. One module per job;
``commands.py`` holds their ``pixelvit`` subcommands."""

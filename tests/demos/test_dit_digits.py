"""The DiT demo (demos/dit_digits.py) trains what configs/dit/digits_dit1.yaml says. The demos end to end:
tests/commands/test_messages.py (labels, errors) and tests/engine/test_progress.py (a plain log)."""

from pathlib import Path

from pixelvit.config import load_config
from pixelvit.demos.dit_digits import DIT_OVERRIDES

CONFIG = Path(__file__).parents[2] / "configs" / "dit" / "digits_dit1.yaml"


def test_the_demo_trains_what_the_digits_config_says():
    demo, config = load_config(None, DIT_OVERRIDES), load_config(CONFIG)
    for section in ("model", "diffusion", "optim"):
        assert getattr(demo, section) == getattr(config, section), section
    assert (demo.train.epochs, demo.train.ema_decay, demo.train.batch_size) == (60, 0.99, 64)
    assert (config.train.epochs, config.train.ema_decay, config.train.batch_size) == (60, 0.99, 64)

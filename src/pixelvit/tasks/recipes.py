"""Named recipes: override lists that describe a small, known-good run, shared by the demos, the
studies (``CONFIG`` = ``digits``) and the benchmark scripts.

DIGITS: the paper's claim in miniature on scikit-learn's bundled 8×8 digits (width 64, depth 4,
pixel tokens; a few CPU minutes). The learned position embedding starts at std 1.0, not timm's
0.02: on one-channel 8×8 inputs a pixel token is a scalar times one vector, so positions are all
that tell tokens apart; with std 0.02 the /1 model barely learns in a short run (docs/models.md).
No crop augmentation: on 8×8 digits a 1-pixel random shift cost the /1 model about 10 points at
15-30 epochs (measured: 95.6% without, 85.8% with, 15 vs 30 epochs).
"""

from __future__ import annotations

DIGITS = [
    "data.name=digits",
    "data.img_size=[8,8]",
    "model.name=vit_t/1",
    "model.embed_dim=64",
    "model.depth=4",
    "model.num_heads=4",
    "model.global_pool=avg",
    "model.class_token=false",
    "model.pos_embed_std=1.0",
    "model.drop_path_rate=0.0",
    "optim.lr=2e-3",
    "optim.weight_decay=0.05",
    "optim.warmup_epochs=2",
    "train.epochs=50",
    "train.batch_size=64",
    "train.eval_every=50",
    "train.precision=fp32",
    "train.log_every_steps=50",
]

# FASHION_MNIST_14: the digits recipe on Fashion-MNIST resized to 14×14 (196 pixel tokens, the paper's
# fixed sequence length), 5,000 training and 2,000 test images: a minutes-long run on 2 CPU cores for the
# studies of BENCHMARKS.md (pixel dropout, staged training). Needs the dataset (data/fashion_mnist.py).
FASHION_MNIST_14 = [
    *(o for o in DIGITS if not o.startswith(("data.", "train.epochs", "train.eval_every", "optim.warmup_epochs"))),
    "data.name=fashion_mnist",
    "data.img_size=[14,14]",
    "data.resize=true",
    "data.limit_train=5000",
    "data.limit_eval=2000",
    "optim.warmup_epochs=1",
    "train.epochs=10",
    "train.eval_every=10",
]

# FAST_PIXELS: the fastest way found to a given accuracy with a pixel (/1) model (scripts/time_to_accuracy.py,
# BENCHMARKS.md "Time to accuracy"): bf16 where the device runs it natively (fp32 elsewhere) and pixel dropout,
# training on a random quarter of the pixel tokens per step (evaluation sees all). Add it to a recipe's overrides
# and give it about as many epochs as the throughput gain buys in the time the plain recipe would take; it
# trades per-epoch accuracy for epochs, so at equal epochs it ends lower (BENCHMARKS.md "Pixel dropout").
FAST_PIXELS = ["train.precision=auto", "model.token_keep=0.25"]

RECIPES = {"digits": DIGITS, "fashion_mnist_14": FASHION_MNIST_14, "fashion_mnist_14_fast": [*FASHION_MNIST_14, *FAST_PIXELS]}
"""Recipe names a study's ``CONFIG`` argument accepts instead of a YAML file."""

"""Layer-wise learning-rate decay for fine-tuning (BEiT / MAE ``param_groups_lrd``).

Layer ids of a depth-N ViT: 0 for the embeddings (``patch_embed.*``, ``cls_token``,
``pos_embed.*``), i + 1 for ``blocks.i.*``, N + 1 for everything after the blocks (final norm,
``fc_norm``, head). A parameter of layer id l trains at ``lr × decay^(N + 1 − l)``: the head at the
full rate, the embeddings at ``decay^(N + 1)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable


def layer_id(name: str, depth: int) -> int:
    """Layer id of parameter ``name`` in a ViT with ``depth`` blocks (see the module docstring)."""
    if name in ("cls_token", "mask_token") or name.startswith(("patch_embed.", "pos_embed")):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return depth + 1


def layer_decay_lr_scale(name: str, depth: int, decay: float) -> float:
    """``decay ** (depth + 1 − layer_id(name))``."""
    return decay ** (depth + 1 - layer_id(name, depth))


def layer_decay_scale(depth: int, decay: float) -> Callable[[str], float]:
    """``lr_scale(name)`` for :attr:`Task.lr_scale`: parameter name -> learning-rate multiplier."""
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"layer decay {decay} must be in (0, 1]")
    return functools.partial(layer_decay_lr_scale, depth=depth, decay=decay)

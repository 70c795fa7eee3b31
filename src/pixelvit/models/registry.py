"""Model presets by name: ``vit_t/1``, ``vit_s/2``, ``vit_b/16`` ... (size letter / patch size).

Sizes are the standard ViT/DeiT ones. Any patch size decodes (``vit_s/7``); :func:`list_models`
lists the common ones. The names avoid ``pit_*``: timm's ``pit`` is a different model.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from typing import Any

from torch import nn

# size letter -> (width, depth, heads); MLP ratio 4 for all.
VIT_SIZES: dict[str, tuple[int, int, int]] = {
    "t": (192, 12, 3),
    "s": (384, 12, 6),
    "b": (768, 12, 12),
    "l": (1024, 24, 16),
    "h": (1280, 32, 16),
}
LISTED_PATCH_SIZES = (1, 2, 4, 8, 16)
_NAME = re.compile(r"^(?P<family>[a-z]+)_(?P<size>[a-z]+)/(?P<patch>\d+)$")


def _families() -> dict[str, tuple[dict[str, tuple], type]]:
    from .dit import DIT_SIZES, DiT
    from .vit import VisionTransformer

    return {"vit": (VIT_SIZES, VisionTransformer), "dit": (DIT_SIZES, DiT)}


def list_models(pattern: str = "*") -> list[str]:
    """Preset names matching a shell-style pattern, e.g. ``list_models("vit_s/*")``."""
    names = [f"{fam}_{size}/{p}" for fam, (sizes, _) in _families().items() for size in sizes for p in LISTED_PATCH_SIZES]
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def decode_variant(name: str) -> tuple[type, dict[str, Any]]:
    """``"vit_s/1"`` -> (model class, {embed_dim, depth, num_heads, patch_size})."""
    match = _NAME.match(name.strip().lower())
    families = _families()
    if match and match["family"] in families and match["size"] in families[match["family"]][0] and int(match["patch"]) >= 1:
        sizes, cls = families[match["family"]]
        width, depth, heads = sizes[match["size"]]
        return cls, dict(embed_dim=width, depth=depth, num_heads=heads, patch_size=int(match["patch"]))
    close = difflib.get_close_matches(name, list_models(), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    sizes = ", ".join(f"{fam}_{s}" for fam, (szs, _) in families.items() for s in szs)
    raise ValueError(f"unknown model {name!r}: a name is <family>_<size>/<patch size> with size in {sizes}.{hint}")


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a preset, e.g. ``create_model("vit_s/1", img_size=32, num_classes=100, drop_path_rate=0.1)``.

    Any constructor argument can be overridden, including the preset's own width/depth/heads
    (handy for tiny test models: ``create_model("vit_t/1", embed_dim=32, depth=2, num_heads=2)``).
    """
    cls, preset = decode_variant(name)
    return cls(**{**preset, **overrides})

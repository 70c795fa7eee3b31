"""One registry for every model family, by preset name: ``<family>_<size>/<patch size>``.

``vit_t/1``, ``vit_b/16`` (classifier), ``dense_vit_s/1`` (dense prediction), ``mae_vit_t/1`` (masked
autoencoder), ``dit_l/2`` (diffusion). Each family module registers its class with
:func:`register_family` when it is imported (``pixelvit/models/__init__.py`` imports them all; this module
imports none of them), in the style of timm's ``@register_model``. Sizes are the standard ViT/DeiT ones
(DiT: the reference's S/B/L/XL).
Any patch size decodes (``vit_s/7``); :func:`list_models` lists the common ones. The names avoid
``pit_*``: timm's ``pit`` is a different model.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
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
_NAME = re.compile(r"^(?P<prefix>[a-z][a-z_]*)_(?P<size>[a-z]+)/(?P<patch>\d+)$")

T = TypeVar("T", bound=type)


def example_images(model: nn.Module, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """``forward``'s arguments for most families: random images (batch, in_chans, H, W)."""
    return (torch.randn(batch, model.in_chans, *model.img_size, generator=generator),)


def example_forward(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The main output for most families: ``model(*inputs)``."""
    return model(*inputs)


@dataclass(frozen=True)
class Example:
    """How to drive a family in a test, so one test covers every family with no branch on the family.

    shape(model, batch): the shape of the main output for ``batch`` samples.
    kwargs: constructor arguments a small model of the family takes beside its preset (e.g. the MAE decoder's size).
    inputs(model, batch, generator): ``forward``'s arguments for ``batch`` samples (default: images only).
    output(model, inputs): the main output tensor (default: ``model(*inputs)``); deterministic for fixed weights.
    """

    shape: Callable[[nn.Module, int], tuple[int, ...]]
    kwargs: dict[str, Any] = field(default_factory=dict)
    inputs: Callable[[nn.Module, int, torch.Generator], tuple[torch.Tensor, ...]] = example_images
    output: Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor] = example_forward


@dataclass(frozen=True)
class Family:
    """A model family: ``cls`` built from presets ``<prefix>_<size>/<p>``; ``name`` is its architecture
    name in ``config.json``; ``example`` how a test drives it."""

    name: str
    cls: type[nn.Module]
    sizes: dict[str, tuple[int, int, int]]
    prefix: str
    example: Example

    def preset(self, size: str, patch_size: int) -> dict[str, Any]:
        """Constructor arguments of one preset: {embed_dim, depth, num_heads, patch_size}."""
        width, depth, heads = self.sizes[size]
        return dict(embed_dim=width, depth=depth, num_heads=heads, patch_size=patch_size)


_FAMILIES: dict[str, Family] = {}  # architecture name -> family, in registration order


def register_family(
    name: str, sizes: dict[str, tuple[int, int, int]], example: Example, prefix: str | None = None
) -> Callable[[T], T]:
    """Class decorator: register a model family under architecture ``name`` with presets
    ``<prefix>_<size>/<p>`` (``prefix`` defaults to ``name``) for ``size`` in ``sizes``, and the ``example``
    inputs and output shape that tests drive it with."""

    def register(cls: T) -> T:
        family = Family(name, cls, dict(sizes), prefix or name, example)
        clash = [f.name for f in _FAMILIES.values() if f.prefix == family.prefix and f.name != name]
        if clash:
            raise ValueError(f"model prefix {family.prefix!r} is already registered by family {clash[0]!r}")
        _FAMILIES[name] = family
        return cls

    return register


def families() -> dict[str, Family]:
    """Every registered family by architecture name ("vit", "dense_vit", "mae", "dit"): importing any part of
    ``pixelvit.models`` first runs its ``__init__``, which imports every family module (each registers itself)."""
    return dict(_FAMILIES)


def get_family(name: str) -> Family:
    """The family with architecture ``name``; a ``ValueError`` naming the known ones otherwise."""
    fams = families()
    if name not in fams:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(fams)}")
    return fams[name]


def family_of(model: nn.Module) -> Family:
    """The family ``model`` belongs to (``isinstance``: FSDP2 subclasses the model class in place)."""
    for family in families().values():
        if isinstance(model, family.cls):
            return family
    raise TypeError(f"{type(model).__name__} is no registered model family; known: {sorted(families())}")


def list_models(pattern: str = "*") -> list[str]:
    """Preset names matching a shell-style pattern, e.g. ``list_models("vit_s/*")``, ``list_models("mae_*")``."""
    names = [f"{f.prefix}_{size}/{p}" for f in families().values() for size in f.sizes for p in LISTED_PATCH_SIZES]
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def _parse(name: str) -> tuple[Family, str, int] | None:
    match = _NAME.match(name.strip().lower())
    if not match or int(match["patch"]) < 1:
        return None
    family = next((f for f in families().values() if f.prefix == match["prefix"]), None)
    if family is None or match["size"] not in family.sizes:
        return None
    return family, match["size"], int(match["patch"])


def decode_variant(name: str) -> tuple[type[nn.Module], dict[str, Any]]:
    """``"vit_s/1"`` -> (model class, {embed_dim, depth, num_heads, patch_size})."""
    parsed = _parse(name)
    if parsed is not None:
        family, size, patch = parsed
        return family.cls, family.preset(size, patch)
    close = difflib.get_close_matches(name, list_models(), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    sizes = ", ".join(f"{f.prefix}_{s}" for f in families().values() for s in f.sizes)
    raise ValueError(f"unknown model {name!r}: a name is <family>_<size>/<patch size> with <family>_<size> in {sizes}.{hint}")


def family_of_preset(name: str) -> Family:
    """The family of preset ``name`` (``"mae_vit_t/1"`` -> the mae family); a ``ValueError`` with hints otherwise."""
    parsed = _parse(name)
    if parsed is None:
        decode_variant(name)  # raises with the did-you-mean hint
    return parsed[0]


def with_family(name: str, family: str) -> str:
    """The same size and patch size in another family: ``with_family("vit_s/1", "dense_vit")`` -> ``"dense_vit_s/1"``.

    ``family`` is an architecture name; a name already of that family is returned as it is. Only
    families with the same size table convert (the ViT-based ones: vit, dense_vit, mae).
    """
    parsed = _parse(name)
    if parsed is None:
        decode_variant(name)  # raises with the did-you-mean hint
    source, size, patch = parsed
    target = get_family(family)
    if source.sizes != target.sizes:
        examples = ", ".join(f"{f.prefix}_{size}/{patch}" for f in families().values() if f.sizes == target.sizes)
        raise ValueError(f"a {target.name} model is built from a preset of the same sizes ({examples}); got {name!r}")
    return f"{target.prefix}_{size}/{patch}"


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a preset of any family, e.g. ``create_model("vit_s/1", img_size=32, num_classes=100)``,
    ``create_model("mae_vit_t/1", img_size=32, mask_ratio=0.75)``, ``create_model("dit_l/2", img_size=32)``.

    Any constructor argument can be overridden, including the preset's own width/depth/heads
    (handy for tiny test models: ``create_model("vit_t/1", embed_dim=32, depth=2, num_heads=2)``).
    """
    cls, preset = decode_variant(name)
    return cls(**{**preset, **overrides})

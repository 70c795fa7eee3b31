"""Models: every family (ViT for any patch size, DenseViT, MAE, DiT) from one registry, model files, timm interop."""

from .dense import DenseViT
from .dit import DiT
from .hub import from_pretrained, save_pretrained
from .mae import MaskedAutoencoder
from .registry import create_model, decode_variant, list_models, register_family
from .vit import VisionTransformer

__all__ = [
    "DenseViT",
    "DiT",
    "MaskedAutoencoder",
    "VisionTransformer",
    "create_model",
    "decode_variant",
    "from_pretrained",
    "list_models",
    "register_family",
    "save_pretrained",
]

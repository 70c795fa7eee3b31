"""Models: every family (ViT for any patch size, DenseViT, MAE, DiT) from one registry, model files, timm interop.

Importing this package imports every family module, and so registers every family (``registry`` itself imports
none of them). They register in the order they are imported: vit (by dense), dense_vit, dit, mae.
"""

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

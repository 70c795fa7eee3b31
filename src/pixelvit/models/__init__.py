"""Models: the ViT for any patch size (p = 1: one token per pixel), presets, model files, timm interop."""

from .hub import from_pretrained, save_pretrained
from .registry import create_model, decode_variant, list_models
from .vit import VisionTransformer

__all__ = ["VisionTransformer", "create_model", "decode_variant", "from_pretrained", "list_models", "save_pretrained"]

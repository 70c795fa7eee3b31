"""pixelvit: Vision Transformers that read an image one pixel per token, beside patch-based ViTs.

Importing the package registers every model family, task and evaluator (their registries are
filled once, here, and only read afterwards).
"""

from . import tasks
from .models import VisionTransformer, create_model, from_pretrained, list_models, save_pretrained
from .provenance import VERSION as __version__

__all__ = ["VisionTransformer", "__version__", "create_model", "from_pretrained", "list_models", "save_pretrained", "tasks"]

"""What the tasks share: the check of ``model.name`` against the families a task trains, and the one function
that turns the ``model`` section into constructor arguments. The tasks stand side by side on this module;
none imports another task.
"""

from __future__ import annotations

from typing import Any

from ..config import Config, ConfigError
from ..models.registry import family_of_preset

SHAPE_FIELDS = ("patch_size", "embed_dim", "depth", "num_heads")  # null keeps the preset's value
NOT_CONSTRUCTOR_FIELDS = (
    "name",
    "grad_checkpointing",
    "token_keep",
    "token_keep_epochs",
    "init_from",
    "head_init_std",
)  # read elsewhere


def check_model_name(cfg: Config, families: tuple[str, ...] = ("vit",)) -> None:
    """``model.name`` must decode, to a preset of one of ``families``."""
    try:
        family = family_of_preset(cfg.model.name).name
    except ValueError as e:
        raise ConfigError(f"model.name: {e}") from None
    if family not in families:
        wanted = " or ".join(f"{f}_*" for f in families)
        raise ConfigError(f"task {cfg.task} trains {wanted} models; model.name={cfg.model.name} is a {family} model")


def model_kwargs(cfg: Config, fields: tuple[str, ...]) -> dict[str, Any]:
    """Constructor arguments from ``cfg.model``: of ``fields`` (the ``model.*`` fields the task's family reads, its
    ``TaskSchema.model_fields``), those the constructor takes; a shape field (patch size, width, depth, heads)
    only when set, so null keeps the preset's."""
    m = cfg.model
    wanted = [k for k in fields if k not in NOT_CONSTRUCTOR_FIELDS]
    return {k: getattr(m, k) for k in wanted if k not in SHAPE_FIELDS or getattr(m, k) is not None}

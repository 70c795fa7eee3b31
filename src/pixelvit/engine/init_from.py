"""Start a ViT's encoder from pre-trained weights (``model.init_from``), e.g. to fine-tune an MAE.

Accepted sources:

* a run directory (its ``final/`` model, else ``best/``, else its newest checkpoint),
* a model directory (``config.json`` + ``model.safetensors``) of an MAE (its ``encoder.*``
  weights) or of a plain ViT,
* a pixelvit training checkpoint ``step_*.pt``,
* a checkpoint of the reference MAE code (facebookresearch/mae, e.g. ``mae_pretrain_vit_base.pth``):
  a state dict in timm's layout, bare or wrapped as ``{"model": state_dict}``. Its decoder
  (``decoder_*``, ``mask_token``) is dropped and the rest converted with
  :func:`pixelvit.models.convert.from_timm` (Conv2d patch projection -> Linear, the class token's
  stored position folded into the class token),
* a timm ViT: a timm model folder (its ``config.json`` + ``model.safetensors``, e.g. written by
  ``pixelvit export --to timm``), ``local-dir:FOLDER``, or ``hf-hub:ORG/NAME`` (fetched through the
  Hugging Face cache; ``HF_HUB_OFFLINE=1`` reads the cache only). Its weights convert with
  :func:`pixelvit.models.convert.from_timm`; a pixelvit model repository on the Hub loads too.

``.pt`` / ``.pth`` files are read with ``torch.load(weights_only=True)``: nothing in them can run code.
A source of another patch size or image size (pixelvit, timm or reference MAE) is resized to the model first
(:func:`pixelvit.models.resize.resize_vit_state`: FlexiViT's pseudo-inverse resize of the patch
projection, the learned position embedding interpolated over the token grid); e.g. a ViT/2 run
starts a ViT/1 run. Loading is then strict on the encoder: every encoder tensor of the model must
come from the source with the same shape. Only the classifier (``head.*``) and the pooling norm (``fc_norm.*``) start fresh,
and the source's final ``norm.*`` is dropped when the model pools by average (it has no ``norm``
then), as in MAE fine-tuning.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from ..errors import first_line
from ..models.convert import from_timm
from ..models.hub import CONFIG_NAME, HUB_PREFIX, WEIGHTS_NAME, download_model_files, read_json_description
from ..models.layer_decay import layer_decay_scale
from ..models.resize import resize_vit_state
from ..models.timm_export import is_timm_folder, read_timm_folder
from ..models.vit import VisionTransformer

log = logging.getLogger(__name__)

FRESH_PREFIXES = ("head.", "fc_norm.")  # never taken from the source
REFERENCE_DECODER_PREFIXES = ("decoder_", "mask_token")
LOCAL_DIR_PREFIX = "local-dir:"  # timm's name for a model folder


def torch_load_weights(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with errors that say what is wrong and what to do."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"refusing to load {path}: it holds objects other than tensors and plain data, which could run code when "
            f"unpickled ({first_line(e)}). Reference MAE training checkpoints (checkpoint-N.pth) also pickle "
            "their argparse arguments: if you trust the file, load it yourself with weights_only=False and save "
            "{'model': ckpt['model']} with torch.save"
        ) from None
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"{path} is truncated or corrupt ({type(e).__name__}: {first_line(e)})") from None


def encoder_part(state: dict[str, torch.Tensor], architecture: str, source: str) -> dict[str, torch.Tensor]:
    """Our state dict of a model -> its ViT encoder's tensors (``encoder.*`` of an MAE, all of a ViT)."""
    if architecture == "vit":
        return dict(state)
    prefixed = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    if not prefixed:
        raise ValueError(f"{source}: a {architecture!r} model has no ViT encoder to start from; give an MAE or ViT model")
    return prefixed


def from_reference_mae(state: dict[str, torch.Tensor], model: VisionTransformer) -> dict[str, torch.Tensor]:
    """A facebookresearch/mae state dict (timm layout, decoder included or not) -> our encoder tensors."""
    state = {k: v for k, v in state.items() if not k.startswith(REFERENCE_DECODER_PREFIXES + FRESH_PREFIXES)}
    return from_timm(state, model, resizable=True)


def from_timm_folder(directory: Path, model: VisionTransformer) -> dict[str, torch.Tensor]:
    """A timm ViT folder's weights -> our encoder tensors (its classifier and pooling norm dropped)."""
    _, state = read_timm_folder(directory)
    return from_timm({k: v for k, v in state.items() if not k.startswith(FRESH_PREFIXES)}, model, resizable=True)


def resolve_source(source: str | os.PathLike) -> Path:
    """``local-dir:FOLDER`` -> FOLDER; ``hf-hub:ORG/NAME[@REV]`` -> its cached snapshot folder; else the path itself."""
    text = str(source)
    if text.startswith(LOCAL_DIR_PREFIX):
        return Path(text.removeprefix(LOCAL_DIR_PREFIX))
    if text.startswith(HUB_PREFIX):
        return download_model_files(text.removeprefix(HUB_PREFIX))
    return Path(source)


def architecture_of(meta: Any, source: str | os.PathLike) -> str:
    """The ``architecture`` of a model description (a ``ValueError`` naming ``source`` when it has none)."""
    if not isinstance(meta, dict) or not isinstance(meta.get("architecture"), str):
        raise ValueError(f"{source}: a model description is {{'architecture': NAME, 'config': {{...}}}}, got {meta!r:.80}")
    return meta["architecture"]


def tensor_dict(state: Any, source: str | os.PathLike) -> dict[str, torch.Tensor]:
    """``state`` when it maps names to tensors, else a ``ValueError`` naming ``source``."""
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"{source} holds no state dict (a mapping of names to tensors, bare or under 'model')")
    return state


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (a ``ValueError`` naming it when it is not one)."""
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own SafetensorError (and OSError, ValueError) on a bad file
        raise ValueError(f"{path} is not a readable safetensors file ({first_line(e)})") from None


def _model_dir(path: Path) -> Path | None:
    for candidate in (path, path / "final", path / "best"):
        if (candidate / CONFIG_NAME).is_file() and (candidate / WEIGHTS_NAME).is_file():
            return candidate
    return None


def _from_file(path: Path, model: VisionTransformer) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        meta_path = path.parent / CONFIG_NAME
        arch = architecture_of(read_json_description(meta_path), meta_path) if meta_path.is_file() else "vit"
        return encoder_part(read_safetensors(path), arch, str(path))
    obj = torch_load_weights(path)
    if isinstance(obj, dict) and "model_description" in obj:  # a pixelvit training checkpoint
        return encoder_part(tensor_dict(obj.get("model"), path), architecture_of(obj["model_description"], path), str(path))
    state = obj.get("model", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} holds no state dict (a mapping of names to tensors, bare or under 'model')")
    proj = state.get("patch_embed.proj.weight")
    if proj is not None and proj.ndim == 4:  # timm / reference-MAE layout (Conv2d patch projection)
        return from_reference_mae(state, model)
    return encoder_part(state, "mae" if any(k.startswith("encoder.") for k in state) else "vit", str(path))


def read_encoder_state(source: str | os.PathLike, model: VisionTransformer) -> dict[str, torch.Tensor]:
    """The encoder tensors stored at ``source`` (see the module docstring), in ``model``'s naming."""
    from .checkpoint import latest_valid_checkpoint

    path = resolve_source(source)
    if path.is_file():
        return _from_file(path, model)
    if path.is_dir() and is_timm_folder(path):
        return from_timm_folder(path, model)
    if path.is_dir():
        model_dir = _model_dir(path)
        if model_dir is not None:
            meta = read_json_description(model_dir / CONFIG_NAME)
            weights = read_safetensors(model_dir / WEIGHTS_NAME)
            return encoder_part(weights, architecture_of(meta, model_dir / CONFIG_NAME), str(model_dir))
        state = latest_valid_checkpoint(path, required={"model": dict, "model_description": dict})
        if state is not None:
            model_state = tensor_dict(state["model"], state["path"])
            return encoder_part(model_state, architecture_of(state["model_description"], state["path"]), state["path"])
    raise FileNotFoundError(
        f"model.init_from={source}: not found. Give a run directory (with final/, best/ or checkpoints/), a model "
        "directory (config.json + model.safetensors), a step_*.pt checkpoint, a reference MAE .pth file, or a timm ViT "
        "(its folder, local-dir:FOLDER or hf-hub:ORG/NAME)"
    )


def load_encoder_weights(model: VisionTransformer, state: dict[str, torch.Tensor], source: str = "init_from") -> list[str]:
    """Copy ``state`` into ``model``, strict on the encoder; returns the names left at their fresh init.

    Raises a ``ValueError`` listing missing, unexpected and shape-mismatched tensors.
    """
    own = model.state_dict()
    avg_pool = isinstance(model.norm, nn.Identity)
    state = {k: v for k, v in state.items() if not k.startswith(FRESH_PREFIXES) and not (avg_pool and k.startswith("norm."))}
    missing = [k for k in own if k not in state and not k.startswith(FRESH_PREFIXES)]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: source {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    problems = [
        f"{label} ({len(items)}): {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}"
        for label, items in (
            ("shape mismatch", mismatched),
            ("missing from the source", missing),
            ("not in the model", unexpected),
        )
        if items
    ]
    if problems:
        raise ValueError(
            f"{source} does not fit the model: " + "; ".join(problems) + ". Build the fine-tuning model with the "
            "pre-trained encoder's preset, channels, tokenizer and position embedding (patch size and image size may differ)"
        )
    model.load_state_dict(state, strict=False)
    return [k for k in own if k not in state]


def init_encoder_from(model: VisionTransformer, source: str | os.PathLike) -> list[str]:
    """Load the encoder weights stored at ``source`` into ``model`` (resized to its patch and image size if
    they differ); returns the fresh (not loaded) names."""
    state, resized = resize_vit_state(read_encoder_state(source, model), model)
    fresh = load_encoder_weights(model, state, f"model.init_from={source}")
    note = f"; resized: {', '.join(resized)}" if resized else ""
    log.info(f"init_from {source}: loaded the encoder{note}; fresh: {', '.join(fresh) or 'nothing'}")
    return fresh


def finetune_setup(model: VisionTransformer, cfg) -> Callable[[str], float] | None:
    """What ``cfg`` asks of a fine-tuning classifier: load ``model.init_from`` into ``model`` (if set) and
    return the layer-decay ``lr_scale`` for ``optim.layer_decay`` (None when unset)."""
    if cfg.model.init_from:
        init_encoder_from(model, cfg.model.init_from)
    if cfg.model.head_init_std is not None:  # MAE main_finetune.py: trunc_normal_(head.weight, std=2e-5)
        torch.nn.init.trunc_normal_(model.head.weight, std=cfg.model.head_init_std)
    if cfg.optim.layer_decay is None:
        return None
    return layer_decay_scale(len(model.blocks), cfg.optim.layer_decay)

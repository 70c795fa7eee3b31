"""Model files: ``model.safetensors`` (weights) + ``config.json`` (how to rebuild). No pickle, ever.

A model lives in a folder, or in a Hugging Face Hub repository holding the same two files: pass
``"ORG/NAME"`` (or ``"hf-hub:ORG/NAME"``, optionally ``@REVISION``) to :func:`from_pretrained`; the files
come through the ``huggingface_hub`` cache (``HF_HUB_CACHE``), and with ``HF_HUB_OFFLINE=1`` from that
cache only. :func:`save_pretrained` uploads with an explicit ``"hf-hub:ORG/NAME"`` (a bare name is a folder).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from ..errors import first_line
from ..io import atomic_path, write_json_atomic
from .registry import family_of, get_family

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
HUB_PREFIX = "hf-hub:"
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?")


# Constructor arguments renamed since older model files were written: architecture -> {old: new}.
RENAMED_ARGUMENTS = {"dit": {"input_size": "img_size", "in_channels": "in_chans"}}


def upgrade_config(architecture: str, config: dict[str, Any]) -> dict[str, Any]:
    """A ``config.json`` / checkpoint config of any pixelvit version -> today's constructor arguments.

    DiT: ``input_size`` -> ``img_size``, ``in_channels`` -> ``in_chans``. MAE: the nested ``encoder``
    dict is flattened into the MAE's own arguments (its forced ``num_classes=0`` dropped).
    """
    renames = RENAMED_ARGUMENTS.get(architecture, {})
    config = {renames.get(k, k): v for k, v in config.items()}
    if architecture == "mae" and isinstance(config.get("encoder"), dict):
        encoder = {k: v for k, v in config.pop("encoder").items() if k != "num_classes"}
        config = {**encoder, **config}
    return config


def save_pretrained(model: nn.Module, directory: str | os.PathLike, state_dict: dict | None = None) -> Path | str:
    """Write ``directory/model.safetensors`` and ``directory/config.json`` atomically; returns ``directory``.

    ``state_dict`` (optional) replaces ``model.state_dict()``, e.g. a full state gathered from FSDP shards.
    ``directory="hf-hub:ORG/NAME"`` uploads the two files to that Hub repository instead (created if
    needed; needs the network and a login) and returns the commit's URL.
    """
    if isinstance(directory, str) and directory.startswith(HUB_PREFIX):
        with tempfile.TemporaryDirectory(prefix="pixelvit-push-") as tmp:
            save_pretrained(model, tmp, state_dict)
            return upload_folder(tmp, directory.removeprefix(HUB_PREFIX), "Add pixelvit model")
    directory = Path(directory)
    state = model.state_dict() if state_dict is None else state_dict
    write_weights(directory / WEIGHTS_NAME, {k: v.detach().contiguous().cpu() for k, v in state.items()})
    write_json_atomic(directory / CONFIG_NAME, describe(model))
    return directory


def write_weights(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write ``tensors`` as a safetensors file atomically. Serialised in memory and written by Python, so a
    full disk is the ``OSError`` (ENOSPC) it is, not a safetensors error that reads like a corrupt input."""
    data = save(tensors, metadata={"format": "pt"})
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def from_pretrained(source: str | os.PathLike, revision: str | None = None, **overrides: Any) -> nn.Module:
    """Rebuild a model saved by :func:`save_pretrained` and load its weights (strict).

    ``source``: a model folder, or a Hub repo id ``"ORG/NAME"`` / ``"hf-hub:ORG/NAME[@REVISION]"``
    (downloaded through the hub cache; ``revision`` picks a branch, tag or commit). ``overrides``
    change constructor arguments that do not alter the weights' shapes (e.g. ``drop_path_rate``).
    """
    repo_id = hub_repo_id(source)
    directory = download_model_files(repo_id, revision) if repo_id else Path(source)
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for p in (config_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"{p} not found: a model directory holds {CONFIG_NAME} and {WEIGHTS_NAME} (see save_pretrained)"
            )
    meta = read_json_description(config_path)
    if not isinstance(meta, dict):
        raise ValueError(f"{config_path} must hold a JSON object with 'architecture' and 'config', got {type(meta).__name__}")
    if "config" not in meta:
        hint = (
            f"; it is timm's (architecture {meta.get('architecture')!r}): open it with "
            f"timm.create_model('local-dir:{directory}'), or start a pixelvit ViT from it with model.init_from"
            if "pretrained_cfg" in meta
            else ""
        )
        raise ValueError(f"{config_path} is not a pixelvit model description (no 'config' entry){hint}")
    model = build_from_description(meta, str(config_path), **overrides)
    try:
        weights = load_file(str(weights_path))
    except Exception as e:  # safetensors raises its own SafetensorError (and OSError, ValueError) on a bad file
        raise ValueError(f"{weights_path} is not a readable safetensors file ({first_line(e)})") from None
    load_weights(model, weights, str(weights_path), config_path.name)
    return model


def load_weights(model: nn.Module, weights: dict[str, Any], source: str, described_by: str = "its description") -> None:
    """``model.load_state_dict(weights, strict=True)`` after :func:`check_weights`; a mismatch is a ``ValueError``
    naming ``source``."""
    check_weights(weights, model, source)
    try:
        model.load_state_dict(weights, strict=True)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"{source} does not hold the weights {described_by} describes ({first_line(e)})") from None


def hub_repo_id(source: str | os.PathLike) -> str | None:
    """The Hub repo id ``source`` names, or None for a folder.

    ``"hf-hub:ORG/NAME"`` is always a repo; a bare ``"ORG/NAME"`` is one unless such a folder exists;
    a ``Path`` is always a folder.
    """
    if not isinstance(source, str):
        return None
    if source.startswith(HUB_PREFIX):
        repo_id = source.removeprefix(HUB_PREFIX)
        if not REPO_ID.fullmatch(repo_id):
            raise ValueError(f"{source!r}: a Hub repository is named hf-hub:ORG/NAME (optionally @REVISION)")
        return repo_id
    return source if REPO_ID.fullmatch(source) and not Path(source).exists() else None


def download_model_files(
    repo_id: str, revision: str | None = None, filenames: tuple[str, ...] = (CONFIG_NAME, WEIGHTS_NAME)
) -> Path:
    """Fetch ``filenames`` of Hub repo ``repo_id`` (``ORG/NAME[@REVISION]``) through the hub library's cache;
    returns the cached snapshot folder holding them. With ``HF_HUB_OFFLINE=1`` only the cache is read."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    repo, _, pinned = repo_id.partition("@")
    revision = revision or pinned or None
    try:
        paths = [Path(hf_hub_download(repo, name, revision=revision)) for name in filenames]
    except (EntryNotFoundError, OSError) as e:
        where = f"{repo}" + (f"@{revision}" if revision else "")
        if constants.HF_HUB_OFFLINE:
            reason = (
                f"not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE=1 forbids downloading; "
                "download it once with the network on (unset HF_HUB_OFFLINE), or pass a local model folder"
            )
        else:
            reason = f"out of reach ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no details'})"
        raise FileNotFoundError(f"{where}: no local folder of that name, and the Hub repository's files are {reason}") from None
    return paths[0].parent


def upload_folder(folder: str | os.PathLike, repo_id: str, message: str) -> str:
    """Upload every file of ``folder`` to Hub repo ``repo_id`` (created if missing); returns the commit URL.

    Refused with a ``ValueError`` under ``HF_HUB_OFFLINE=1``."""
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        raise ValueError(
            f"HF_HUB_OFFLINE=1 is set: uploading to {repo_id} needs the network. Unset it (and log in: `hf auth login`), "
            "or only write the repository folder (pixelvit push --dry-run)"
        )
    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=message)
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/{repo_id}")


def describe(model: nn.Module) -> dict:
    """{"architecture": name, "config": constructor arguments}: enough to rebuild ``model``."""
    return {"architecture": family_of(model).name, "config": dict(model.config)}


def build_from_description(meta: dict, source: str = "model description", **overrides: Any) -> nn.Module:
    """Inverse of :func:`describe` (fresh weights); also reads descriptions written by older versions.

    The description is checked before anything is built: a wrong type, an absurd size or an argument the
    family does not take is a ``ValueError`` naming ``source`` and the key.
    """
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ValueError(f"{source}: a model description is {{'architecture': ..., 'config': {{...}}}}, got {meta!r:.120}")
    if not isinstance(meta.get("architecture"), str):
        raise ValueError(f"{source}: 'architecture' must be a model family's name, got {meta.get('architecture')!r:.60}")
    try:
        family = get_family(meta["architecture"])
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    if nesting_depth(meta) > MAX_JSON_DEPTH:
        raise ValueError(f"{source}: the model description is nested more than {MAX_JSON_DEPTH} levels deep")
    config = {**upgrade_config(family.name, meta["config"]), **overrides}
    bad = [k for k in config if not isinstance(k, str)]
    if bad:
        raise ValueError(f"{source}: config key {bad[0]!r:.40} is not a string")
    check_sizes(config, source, family.cls)
    try:
        return family.cls(**config)
    except torch.OutOfMemoryError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError, RuntimeError) as e:
        raise ValueError(f"{source} does not describe a buildable {family.name} model: {first_line(e)}") from None


SIZE_LIMITS = {"embed_dim": 65536, "depth": 1024, "num_heads": 1024, "patch_size": 4096, "in_chans": 4096,
               "num_classes": 10_000_000, "out_channels": 4096, "decoder_embed_dim": 65536, "decoder_depth": 1024,
               "decoder_num_heads": 1024, "mask_block": 4096, "local_norm_window": 4096}  # fmt: skip
RATIOS = ("mlp_ratio", "decoder_mlp_ratio")  # real numbers in (0, MAX_RATIO]
MAX_RATIO = 64.0
RATES = ("drop_rate", "attn_drop_rate", "drop_path_rate", "class_dropout_prob", "mask_ratio")  # in [0, 1)
BUDGET_ENV = "PIXELVIT_MAX_MODEL_GIB"
DEFAULT_BUDGET_GIB = 16.0
MAX_JSON_BYTES = 1 << 20
MAX_JSON_DEPTH = 32


def check_sizes(config: dict[str, Any], source: str, family_cls: type | None = None) -> None:
    """Check a model description from outside before any tensor is allocated: integer sizes in range,
    ``img_size`` a positive [H, W], ratios and rates in range, and, with ``family_cls``, the memory the
    whole configuration needs (:func:`estimate_model_memory`) within the budget (``PIXELVIT_MAX_MODEL_GIB``).
    A ``ValueError`` names ``source`` and the field."""
    for key, most in SIZE_LIMITS.items():
        if key in config:
            value = config[key]
            low = 0 if key == "num_classes" else 1
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= most:
                raise ValueError(f"{source}: config.{key}={value!r:.60} must be an integer in [{low}, {most}]")
    size = config.get("img_size")
    if size is not None:
        sides = [size, size] if isinstance(size, int) and not isinstance(size, bool) else size
        if not (isinstance(sides, list | tuple) and len(sides) == 2 and all(type(v) is int and 1 <= v <= 16384 for v in sides)):
            raise ValueError(f"{source}: config.img_size={size!r:.60} must be [height, width] with sides in [1, 16384]")
    for key in RATIOS:
        if key in config and not (_real(config[key]) and 0 < config[key] <= MAX_RATIO):
            raise ValueError(f"{source}: config.{key}={config[key]!r:.60} must be a number in (0, {MAX_RATIO:g}]")
    if "pos_embed_std" in config and not (_real(config["pos_embed_std"]) and 0 < config["pos_embed_std"] <= 10):
        raise ValueError(f"{source}: config.pos_embed_std={config['pos_embed_std']!r:.60} must be a number in (0, 10]")
    for key in RATES:
        if key in config and not (_real(config[key]) and 0 <= config[key] < 1):
            raise ValueError(f"{source}: config.{key}={config[key]!r:.60} must be a number in [0, 1)")
    if family_cls is not None:
        check_budget(estimate_model_memory(family_cls, config), config, source)


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def estimate_model_memory(family_cls: type, config: dict[str, Any]) -> tuple[int, int]:
    """(parameters, bytes of float32 activations of one image's forward pass) of the model ``config``
    describes, from its shape alone (the constructor's defaults fill what it omits): the blocks
    (attention 4·d², MLP 2·d·hidden, DiT's modulation 6·d²), token and position embeddings, heads, an MAE's
    decoder. Activations count the widest tensor of a block for every token (fused attention keeps no
    tokens² matrix)."""
    defaults = {k: p.default for k, p in inspect.signature(family_cls.__init__).parameters.items() if p.default is not p.empty}
    args = {**defaults, **config}

    def get(key: str, fallback: int | float) -> Any:
        value = args.get(key, fallback)
        return value if _real(value) else fallback

    size = args.get("img_size") or 32  # None: the family's own default (checked by check_sizes otherwise)
    h, w = (size, size) if isinstance(size, int) else size
    p, c = get("patch_size", 1), get("in_chans", 3)
    tokens = -(-h // p) * -(-w // p)
    modulation = 6 if "class_dropout_prob" in defaults else 0  # DiT's adaLN per block

    def tower(dim: int, depth: int, ratio: float) -> tuple[int, int]:
        hidden = int(dim * ratio)
        params = depth * ((4 + modulation) * dim * dim + 2 * dim * hidden) + tokens * dim + p * p * c * dim
        return params, 4 * tokens * (4 * dim + hidden)

    d = get("embed_dim", 192)
    params, activations = tower(d, get("depth", 12), get("mlp_ratio", 4.0))
    params += d * (get("num_classes", 0) + p * p * get("out_channels", 0))
    if "decoder_embed_dim" in args:
        dd = get("decoder_embed_dim", 128)
        more, act = tower(dd, get("decoder_depth", 4), get("decoder_mlp_ratio", 4.0))
        params, activations = params + more + d * dd, max(activations, act)
    return params, activations


def model_budget_gib() -> float:
    """The most memory (GiB) a model description from a file may ask for: ``PIXELVIT_MAX_MODEL_GIB``, else 16."""
    text = os.environ.get(BUDGET_ENV, "")
    try:
        value = float(text) if text else DEFAULT_BUDGET_GIB
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{BUDGET_ENV}={text!r} must be a positive number of GiB (default {DEFAULT_BUDGET_GIB:g})")
    return value


def check_budget(estimate: tuple[int, int], config: dict[str, Any], source: str) -> None:
    """A ``ValueError`` naming the shape fields when parameters plus one image's activations exceed the budget."""
    params, activations = estimate
    need = (4 * params + activations) / 2**30
    budget = model_budget_gib()
    if need > budget:
        fields = ", ".join(f"{k}={config[k]!r}" for k in ("img_size", "patch_size", "embed_dim", "depth", "mlp_ratio",
                           "num_classes", "decoder_embed_dim", "decoder_depth") if k in config)  # fmt: skip
        raise ValueError(
            f"{source}: this model needs about {need:,.1f} GiB ({params:,} parameters and {activations / 2**30:,.1f} GiB "
            f"of activations for one image, from {fields or 'the defaults'}), over the {budget:g} GiB limit on model "
            f"descriptions read from files; if you trust the file, raise the limit: {BUDGET_ENV}=<GiB>"
        )


def read_json_description(path: Path) -> Any:
    """Parse a model's ``config.json``, refusing a symbolic link to a non-file, over 1 MiB, or nested deeper
    than 32 levels (a ``ValueError`` naming the file)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found or not a regular file")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path} is {path.stat().st_size:,} bytes: a model description is at most {MAX_JSON_BYTES:,}")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({first_line(e)})") from None
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply to be a model description") from None
    if nesting_depth(meta) > MAX_JSON_DEPTH:
        raise ValueError(f"{path} is nested more than {MAX_JSON_DEPTH} levels deep: it is not a model description")
    return meta


def nesting_depth(obj: Any) -> int:
    """How deeply lists and dicts nest in ``obj`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, depth + 1)
            if depth + 1 <= MAX_JSON_DEPTH:
                stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def check_weights(weights: dict[str, Any], model: nn.Module, source: str) -> None:
    """Every weight a tensor of a floating dtype with finite values where the model holds a floating one
    (a ``ValueError`` naming the tensor); a float dtype other than the model's is converted, with a warning."""
    own = model.state_dict()
    converted = []
    for name, value in weights.items():
        if not isinstance(name, str):
            raise ValueError(f"{source}: a weight is named {name!r:.40}, not by a string")
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{source}: {name!r:.80} is a {type(value).__name__}, not a tensor")
        target = own.get(name)
        if target is None or not target.is_floating_point():
            continue
        if value.dtype not in FLOAT_DTYPES:
            raise ValueError(
                f"{source}: tensor {name} has dtype {value.dtype}; model weights must be float32, bfloat16, float16 or float64"
            )
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{source}: tensor {name} holds NaN or infinite values: the model is broken (diverged?)")
        if value.dtype != target.dtype:
            converted.append(f"{name} ({value.dtype})")
    if converted:
        shown = ", ".join(converted[:3]) + (f" and {len(converted) - 3} more" if len(converted) > 3 else "")
        warnings.warn(f"{source}: converting {shown} to the model's {next(iter(own.values())).dtype}", stacklevel=3)

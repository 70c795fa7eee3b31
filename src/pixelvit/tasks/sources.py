"""The recipes the configs cite, as data: each source's value for each setting, in this toolkit's config keys.

A config names its source (``paper.source``) and lists every departure from it (``paper.deviations``:
key, the source's value, ours, why). :func:`check_deviations` compares the two: a setting that differs
from its source without a declared deviation, or a declared deviation that no longer matches the config
or the source, is a problem; ``tests/test_configs_follow_sources.py`` runs it on every config, and
``pixelvit train CONFIG --dry-run`` prints the deviations.

Values are as a config writes them (``None`` for "the source has no such setting", e.g. no gradient
clipping). ``"full"`` for ``data.source_size``: crops are cut from the full-resolution decoded image.
Where the sources are read: MAE paper Table 11 (supervised ViT from scratch), facebookresearch/mae
``PRETRAIN.md`` / ``FINETUNE.md`` / ``main_pretrain.py`` / ``main_finetune.py`` (timm 0.3.2/0.4.5 of its
pin), facebookresearch/DiT ``train.py`` / ``sample_ddp.py``, willisma/SiT ``train.py`` / ``models.py`` /
``sample_ddp.py``, JiT as recalled (not verified; two forks of its code agree), and the third-party CIFAR-100
reproduction ``cheeyeo/ML_2024`` ``transformers/pit_train.py``. docs/paper.md says which paper row uses which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..config import Config

RAND_AUGMENT = "rand-m9-mstd0.5-inc1"  # MAE's "RandAug (9, 0.5)": timm's string, as main_finetune.py's --aa default


@dataclass(frozen=True)
class RecipeSource:
    """One cited recipe: ``values`` by dotted config key, ``by_size`` overrides per model size letter
    (``t``/``s``/``b``/``l``), ``cite`` where each value is read."""

    name: str
    cite: str
    values: dict[str, Any]
    by_size: dict[str, dict[str, Any]] = field(default_factory=dict)
    lr_convention: str = "blr"  # "blr": lr = blr × effective batch / 256 (MAE); "absolute": optim.lr as given

    def for_model(self, model_name: str) -> dict[str, Any]:
        """The values for a model preset (``vit_l/1`` -> the ``l`` overrides applied)."""
        size = model_size(model_name)
        return {**self.values, **self.by_size.get(size, {})}


def model_size(model_name: str) -> str:
    """``vit_l/1`` -> ``l``; ``mae_vit_s/2`` -> ``s``; ``dit_l/2`` -> ``l``."""
    return model_name.split("/", 1)[0].rsplit("_", 1)[-1]


_MAE_TABLE11 = {
    "optim.lr": None, "optim.blr": 1e-4, "optim.min_lr": 1e-6, "optim.weight_decay": 0.3, "optim.betas": [0.9, 0.95],
    "optim.schedule": "cosine", "optim.warmup_epochs": 20, "optim.warmup_from_zero": True, "optim.clip_grad": None,
    "optim.layer_decay": None, "train.batch_size": 4096, "train.accum_steps": 1, "train.epochs": 300,
    "train.ema_decay": 0.9999, "train.ema_warmup": False, "train.precision": "fp16", "augment.crop": "rrc",
    "augment.crop_scale": [0.08, 1.0], "augment.hflip": 0.5, "augment.randaugment": RAND_AUGMENT,
    "augment.randaugment_ops": 0, "augment.color_jitter": 0.0, "augment.grayscale": 0.0, "augment.mixup": 0.8,
    "augment.cutmix": 1.0, "augment.label_smoothing": 0.1, "augment.random_erasing": 0.0, "model.drop_path_rate": 0.1,
    "data.source_size": "full", "data.crop_pct": 0.875,
}  # fmt: skip

_MAE_PRETRAIN = {
    "mae.mask_ratio": 0.75, "mae.target": "patch_norm", "mae.decoder_embed_dim": 512, "mae.decoder_depth": 8,
    "mae.decoder_num_heads": 16, "mae.decoder_pos_embed": "sincos", "model.pos_embed": "sincos",
    "model.drop_path_rate": 0.0, "optim.lr": None, "optim.blr": 1.5e-4, "optim.min_lr": 0.0, "optim.weight_decay": 0.05,
    "optim.betas": [0.9, 0.95], "optim.schedule": "cosine", "optim.warmup_epochs": 40, "optim.warmup_from_zero": True,
    "optim.clip_grad": None, "train.batch_size": 4096, "train.accum_steps": 1, "train.epochs": 800,
    "train.ema_decay": None, "train.precision": "fp16", "augment.crop": "rrc", "augment.crop_scale": [0.2, 1.0],
    "augment.hflip": 0.5, "augment.randaugment": "", "augment.randaugment_ops": 0, "augment.color_jitter": 0.0,
}  # fmt: skip

_MAE_FINETUNE = {
    "model.global_pool": "avg", "model.drop_path_rate": 0.1, "model.head_init_std": 2e-5, "optim.lr": None,
    "optim.blr": 5e-4, "optim.min_lr": 1e-6, "optim.weight_decay": 0.05, "optim.betas": [0.9, 0.999],
    "optim.schedule": "cosine", "optim.warmup_epochs": 5, "optim.warmup_from_zero": True, "optim.layer_decay": 0.65,
    "optim.clip_grad": None, "train.batch_size": 1024, "train.accum_steps": 1, "train.epochs": 100,
    "train.ema_decay": None, "train.precision": "fp16", "augment.crop": "rrc", "augment.crop_scale": [0.08, 1.0],
    "augment.hflip": 0.5, "augment.randaugment": RAND_AUGMENT, "augment.randaugment_ops": 0, "augment.mixup": 0.8,
    "augment.cutmix": 1.0, "augment.label_smoothing": 0.1, "augment.random_erasing": 0.25, "data.crop_pct": 0.875,
}  # fmt: skip

_PIT_CIFAR = {
    "optim.lr": 4e-3, "optim.weight_decay": 0.3, "optim.betas": [0.9, 0.95], "optim.schedule": "cosine",
    "optim.warmup_epochs": 20, "optim.clip_grad": None, "optim.layer_decay": None, "train.batch_size": 1024,
    "train.accum_steps": 1, "train.epochs": 2400, "train.ema_decay": None, "train.precision": "bf16",
    "augment.crop": "rrc", "augment.crop_scale": [0.2, 1.0], "augment.hflip": 0.5, "augment.color_jitter": 0.4,
    "augment.grayscale": 0.2, "augment.randaugment": "", "augment.randaugment_ops": 0, "augment.mixup": 0.0,
    "augment.cutmix": 0.0, "augment.label_smoothing": 0.0, "augment.random_erasing": 0.0, "model.drop_path_rate": 0.0,
}  # fmt: skip

_DIT_TRAIN = {
    "optim.lr": 1e-4, "optim.min_lr": 1e-4, "optim.schedule": "constant", "optim.weight_decay": 0.0,
    "optim.betas": [0.9, 0.999], "optim.warmup_epochs": 0, "optim.clip_grad": None, "train.batch_size": 256,
    "train.accum_steps": 1, "train.epochs": 1400, "train.ema_decay": 0.9999, "train.precision": "fp32",
    "augment.hflip": 0.5, "diffusion.space": "latent", "diffusion.objective": "ddpm_eps", "diffusion.num_timesteps": 1000,
    "diffusion.learn_sigma": True, "diffusion.class_dropout": 0.1, "diffusion.latent_scale": 0.18215,
    "diffusion.vae": "sd-vae-ft-ema", "diffusion.sampling.sampler": "ddpm", "diffusion.sampling.steps": "250",
    "diffusion.sampling.cfg_scale": 1.5, "diffusion.sampling.guidance_interval": None,
    "diffusion.sampling.guidance_channels": 3,
}  # fmt: skip

# SiT's sampler (sample.py / sample_ddp.py ODE mode) is torchdiffeq's adaptive dopri5, which this toolkit does not
# offer: "dopri5" is not one of diffusion.sampling.sampler's values, so a config declares heun (or euler) instead.
_SIT_TRAIN = {
    "optim.lr": 1e-4, "optim.min_lr": 1e-4, "optim.schedule": "constant", "optim.weight_decay": 0.0,
    "optim.betas": [0.9, 0.999], "optim.warmup_epochs": 0, "optim.clip_grad": None, "train.batch_size": 256,
    "train.accum_steps": 1, "train.epochs": 1400, "train.ema_decay": 0.9999, "train.precision": "fp32",
    "augment.hflip": 0.5, "diffusion.space": "latent", "diffusion.objective": "flow_v",
    "diffusion.time_sampling": "uniform", "diffusion.learn_sigma": True, "diffusion.class_dropout": 0.1,
    "diffusion.latent_scale": 0.18215, "diffusion.vae": "sd-vae-ft-ema", "diffusion.sampling.sampler": "dopri5",
    "diffusion.sampling.steps": None, "diffusion.sampling.cfg_scale": 1.5, "diffusion.sampling.guidance_interval": None,
    "diffusion.sampling.guidance_channels": 3,
}  # fmt: skip

_JIT_TRAIN = {
    "optim.lr": None, "optim.blr": 5e-5, "optim.schedule": "constant", "optim.weight_decay": 0.0,
    "optim.betas": [0.9, 0.95], "optim.warmup_epochs": 5, "optim.warmup_from_zero": True, "optim.clip_grad": None,
    "train.batch_size": 1024, "train.accum_steps": 1, "train.epochs": 600, "train.ema_decay": 0.9999,
    "train.precision": "bf16", "augment.hflip": 0.5, "diffusion.space": "pixel", "diffusion.objective": "flow_x",
    "diffusion.time_sampling": "logit_normal", "diffusion.p_mean": -0.8, "diffusion.p_std": 0.8, "diffusion.t_eps": 0.05,
    "diffusion.class_dropout": 0.1, "diffusion.sampling.sampler": "heun", "diffusion.sampling.steps": "50",
    "diffusion.sampling.cfg_scale": 2.9, "diffusion.sampling.guidance_interval": [0.1, 1.0],
    "diffusion.sampling.guidance_channels": None,
}  # fmt: skip

SOURCES: dict[str, RecipeSource] = {
    s.name: s
    for s in (
        RecipeSource(
            "mae_table11",
            "MAE (He et al. 2022) Table 11, supervised ViT from scratch; its data pipeline is timm's create_transform "
            "as in facebookresearch/mae util/datasets.py (RandomResizedCrop 0.08-1 on the full image, eval crop_pct "
            "224/256 = 0.875); AMP fp16 in its PyTorch code; min_lr 1e-6 and warmup lr = peak·s/W from main_finetune.py",
            _MAE_TABLE11,
            by_size={size: {"train.epochs": 200, "model.drop_path_rate": 0.2} for size in ("l", "h")},
        ),
        RecipeSource(
            "mae_pretrain",
            "facebookresearch/mae PRETRAIN.md and main_pretrain.py (ViT-B: batch 4096, 800 epochs, 40 warmup, blr 1.5e-4, "
            "wd 0.05, betas (0.9, 0.95), mask 0.75, norm_pix_loss, decoder 512-d x 8 blocks x 16 heads, fixed sin-cos "
            "positions, RandomResizedCrop(0.2, 1) + flip, no clipping, AMP fp16)",
            _MAE_PRETRAIN,
        ),
        RecipeSource(
            "mae_finetune",
            "facebookresearch/mae FINETUNE.md (ViT-B: batch 1024, 100 epochs, blr 5e-4, layer decay 0.65, wd 0.05, drop "
            "path 0.1, reprob 0.25, mixup 0.8, cutmix 1.0) and main_finetune.py defaults (warmup 5, min_lr 1e-6, "
            "smoothing 0.1, aa rand-m9-mstd0.5-inc1, global pool, head std 2e-5, no clipping, AMP fp16)",
            _MAE_FINETUNE,
        ),
        RecipeSource(
            "pit_cifar",
            "third-party CIFAR-100 reproduction said to copy the paper's configuration: cheeyeo/ML_2024 "
            "transformers/pit_train.py (unverified): lr 4e-3 at batch 1024 (read here as absolute), wd 0.3, betas "
            "(0.9, 0.95), 20 warmup, 2400 epochs, MoCo-v1 augmentation (RandomResizedCrop(0.2, 1), grayscale 0.2, "
            "ColorJitter(0.4, 0.4, 0.4, 0.4), flip), bf16, no clipping",
            _PIT_CIFAR,
            lr_convention="absolute",
        ),
        RecipeSource(
            "dit_train",
            "facebookresearch/DiT train.py (AdamW lr 1e-4 constant, wd 0, batch 256, EMA 0.9999, 1400 epochs default, "
            "sd-vae-ft-ema latents x 0.18215, flips, fp32/TF32, no clipping; DDPM with 1000 linear steps, learned sigma) "
            "and sample_ddp.py (cfg 1.5 on 3 channels, 250 DDPM steps)",
            _DIT_TRAIN,
            lr_convention="absolute",
        ),
        RecipeSource(
            "sit_train",
            "willisma/SiT train.py and train_utils.py defaults (linear path, velocity prediction, plain velocity MSE, t "
            "uniform on [0, 1] (train_eps unused for linear + velocity), AdamW lr 1e-4 constant, wd 0, default betas, "
            "batch 256, EMA 0.9999, 1400 epochs, sd-vae-ft-ema latents x 0.18215, flips, fp32/TF32, no clipping; "
            "models.py: class dropout 0.1, learn_sigma=True with the variance half dropped in forward, guidance on "
            "the first 3 channels in forward_with_cfg); sampling: sample_ddp.py's ODE default dopri5 (adaptive, "
            "atol 1e-6, rtol 1e-3); cfg 1.5 is the SiT paper's FID setting (recalled; the scripts default to 1.0 "
            "(sample_ddp.py) and 4.0 (sample.py))",
            _SIT_TRAIN,
            lr_convention="absolute",
        ),
        RecipeSource(
            "jit_train",
            "JiT (Li & He 2025, arXiv 2511.13720), pixel space: recipe as RECALLED, NOT VERIFIED against the official "
            "LTH14/JiT (not readable here). Third-party forks of it agree (char0n-yfy/JiT main_jit.py / denoiser.py / "
            "engine_jit.py defaults, yashbelhe/jitmask README's JiT-B/16 command, both read for this table): "
            "x-prediction with the velocity loss, logit-normal t (P_mean -0.8, P_std 0.8), t_eps 0.05, noise scale 1.0 "
            "at 256 px, AdamW blr 5e-5 (lr = blr x batch / 256), betas (0.9, 0.95), wd 0, 5 warmup epochs from 0 then "
            "constant, no clipping, EMA 0.9999, bf16 autocast, flips, batch 128 x 8 GPUs = 1024, 600 epochs, Heun 50 "
            "steps (the last one Euler), cfg 2.9 on t in [0.1, 1.0] (the README's JiT-B/16 value: the scale is tuned "
            "per model). Class dropout 0.1 is recalled only (the unconditional fork has none)",
            _JIT_TRAIN,
        ),
    )
}
OWN = "own"  # paper.source of a config whose recipe is the project's own (nothing cited to hold it to)


def config_value(cfg: Config, key: str) -> Any:
    """The value of dotted ``key`` in ``cfg`` as its ``config.yaml`` would write it; KeyError when absent."""
    node: Any = cfg.to_dict()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def same(a: Any, b: Any) -> bool:
    """Equal as config values: numbers to 1e-9 relative, lists element-wise, a VAE path by its last part."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
    if isinstance(a, str) and isinstance(b, str) and "/" in a + b:
        return a.rstrip("/").rsplit("/", 1)[-1] == b.rstrip("/").rsplit("/", 1)[-1]
    return a == b


def differences(cfg: Config) -> dict[str, tuple[Any, Any]]:
    """key -> (source value, ours) for every setting of the cited source that ``cfg`` does not match."""
    if cfg.paper.source in ("", OWN):
        return {}
    out = {}
    for key, value in SOURCES[cfg.paper.source].for_model(cfg.model.name).items():
        try:
            ours = config_value(cfg, key)
        except KeyError:
            continue  # a setting this task does not have (e.g. head_init_std of an MAE pre-training)
        if not same(value, ours):
            out[key] = (value, ours)
    return out


def check_deviations(cfg: Config) -> list[str]:
    """Problems of ``cfg.paper``: an unknown source, a difference from it not declared in ``paper.deviations``,
    a declaration whose values no longer match, a declaration without a reason. Empty when all is declared."""
    p = cfg.paper
    if p.source not in SOURCES and p.source != OWN:
        return [f"paper.source={p.source!r} is not a known recipe source; choose one of {', '.join([*SOURCES, OWN])}"]
    problems = []
    found = differences(cfg)
    declared = {d.key: d for d in p.deviations}
    for key, (source, ours) in found.items():
        if key not in declared:
            problems.append(f"{key}: ours {ours!r}, {p.source} has {source!r}, and paper.deviations does not declare it")
    values = SOURCES[p.source].for_model(cfg.model.name) if p.source in SOURCES else {}
    for key, d in declared.items():
        if not d.why.strip():
            problems.append(f"paper.deviations {key}: give the reason (why)")
        try:
            ours = config_value(cfg, key)
        except KeyError:
            problems.append(f"paper.deviations {key}: no such setting in this config")
            continue
        if not same(d.ours, ours):
            problems.append(f"paper.deviations {key}: declares ours={d.ours!r} but the config has {ours!r}")
        if key in values and not same(d.source, values[key]):
            problems.append(f"paper.deviations {key}: declares source={d.source!r} but {p.source} has {values[key]!r}")
        if key in values and key not in found:
            problems.append(f"paper.deviations {key}: declared, but the config matches {p.source} ({ours!r}): remove it")
    return problems

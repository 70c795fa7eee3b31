"""The resolved recipe of a config, before any spending: what ``pixelvit train CONFIG --dry-run`` prints.

:func:`resolve_recipe` builds everything a run needs except the data loader and the training: the
resolved config, the effective batch and learning rate with its formula, warmup and total steps, the lr
at milestones, the augmentation pipeline in order with its parameters, a diffusion config's objective
and resolved sampling spec, the optimizer's parameter groups and layer-decay scales, the FLOPs per image
and per run, a GPU-hours estimate, the paper's numbers and the declared deviations from the cited recipe.
The model is built on PyTorch's meta device (no memory, no weights) and its FLOPs counted there on one
image (``torch.utils.flop_counter``), so a ViT-L costs about a second. The data are looked up, not loaded
into training: a missing dataset is reported, and the step counts then use the dataset's published size.

Cost model (stated in every printout): a training step costs 3x the forward FLOPs (backward = 2x
forward), evaluation 1x on the eval split every ``train.eval_every`` epochs; GPU-hours = FLOPs /
(peak x utilisation), peak the dense bf16 (fp32 runs: TF32) tensor-core rate of the named GPU, utilisation
:data:`UTILISATION` (an assumption, typical of ViT training with fused attention; not measured here).
Data loading, checkpoints and compilation are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from ..config import Config, ConfigError
from ..data import get_dataset_spec
from ..engine.optim import lr_at, param_groups
from ..errors import first_line
from .sources import OWN, SOURCES, check_deviations

# Published training / evaluation split sizes, used when the data are not on this machine.
KNOWN_SIZES = {
    ("imagenet", "train"): 1_281_167, ("imagenet", "val"): 50_000, ("cifar100", "train"): 50_000,
    ("cifar100", "test"): 10_000, ("flowers102", "train"): 1_020, ("flowers102", "val"): 1_020,
    ("flowers102", "test"): 6_149, ("fashion_mnist", "train"): 60_000, ("fashion_mnist", "test"): 10_000,
    ("nyu_depth_v2", "train"): 795, ("nyu_depth_v2", "test"): 654,
}  # fmt: skip


@dataclass(frozen=True)
class Gpu:
    """A GPU's dense tensor-core peak in TFLOP/s (no sparsity), by precision."""

    name: str
    bf16_tflops: float
    tf32_tflops: float


GPUS = (Gpu("NVIDIA H100 SXM", 989.4, 494.7), Gpu("NVIDIA A100 SXM", 312.0, 156.0))
UTILISATION = 0.40  # assumed model-FLOPs utilisation


def _dataset_sizes(cfg: Config) -> tuple[int, int, str]:
    """(train images, eval images, note): counted from the data when present, else the published sizes."""
    d = cfg.data
    if cfg.task == "diffusion" and cfg.diffusion.space == "latent":
        from ..data.latents import LatentDataset

        path = Path(cfg.diffusion.latent_file or "")
        if path.is_file():
            n = len(LatentDataset(path, limit=d.limit_train))
            return n, min(n, d.limit_eval or n), f"latents found: {path} ({n} images)"
        n = KNOWN_SIZES[("imagenet", "train")]
        return n, 0, f"DATA MISSING: no latent file {path}; counts assume ImageNet's {n:,} training images"
    try:
        from ..data.splits import load_split

        _, train = load_split(d, d.train_split, d.limit_train, train=cfg.task == "classify")
        _, test = load_split(d, d.eval_split, d.limit_eval)
        return len(train.images), len(test.images), f"data found: {d.name} at {d.root or '(bundled)'}"
    except (FileNotFoundError, ConfigError, ValueError, OSError, RuntimeError) as e:
        train_n = KNOWN_SIZES.get((d.name, d.train_split))
        eval_n = KNOWN_SIZES.get((d.name, d.eval_split), 0)
        if train_n is None:
            raise ConfigError(f"{d.name} is not on this machine and its size is unknown: {first_line(e)}") from None
        train_n = min(train_n, d.limit_train or train_n)
        return train_n, min(eval_n, d.limit_eval or eval_n), f"DATA MISSING ({first_line(e)}); counts use the published sizes"


def _meta_model(cfg: Config) -> tuple[nn.Module, tuple[Any, ...]]:
    """The run's model on the meta device, and the inputs of one forward pass for one image."""
    spec = get_dataset_spec(cfg.data.name)
    h, w = cfg.data.img_size
    classes = spec.num_classes or 1000
    with torch.device("meta"):
        if cfg.task == "classify":
            from .classify import build_classifier

            model = build_classifier(cfg, spec, spec.channels, classes)
            x = torch.zeros(1, spec.channels, h, w, dtype=torch.uint8)
            return model, (x,)
        if cfg.task == "mae":
            from .mae import build_mae

            mae = build_mae(cfg, spec, spec.channels)
            return mae, (torch.zeros(1, spec.channels, h, w, dtype=torch.uint8),)
        if cfg.task == "depth":
            from .depth import build_dense_model

            return build_dense_model(cfg, spec, spec.channels), (torch.zeros(1, spec.channels, h, w, dtype=torch.uint8),)
        if cfg.task == "diffusion":
            from .diffusion import build_dit

            latent = cfg.diffusion.space == "latent"
            shape = (4, h // 8, w // 8) if latent else (spec.channels, h, w)
            model = build_dit(cfg, shape, cfg.diffusion.num_classes or classes)
            flow = cfg.diffusion.objective != "ddpm_eps"  # flow time in [0, 1]; DDPM an integer step
            t = torch.zeros(1) if flow else torch.zeros(1, dtype=torch.long)
            return model, (torch.zeros(1, *shape), t, torch.zeros(1, dtype=torch.long))
    raise ConfigError(f"--dry-run knows tasks classify, mae, depth and diffusion, not {cfg.task}")


def _forward_flops(model: nn.Module, inputs: tuple[Any, ...]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    model.train()  # training forward: an MAE encodes only its visible tokens
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        if hasattr(model, "forward_decoder"):  # an MAE: encoder on the visible tokens, decoder on all (the target's
            latent, _, ids_restore = model.forward_encoder(*inputs)  # normalisation and the loss are not counted)
            model.forward_decoder(latent, ids_restore)
        else:
            model(*inputs)
    return int(counter.get_total_flops())


def _lr_line(cfg: Config, batch: int) -> tuple[float, str]:
    o = cfg.optim
    if o.lr is not None:
        text = f"lr {o.lr:.4g} (optim.lr, absolute; = blr {o.lr * 256 / batch:.4g} x {batch}/256 under MAE's convention)"
        source = SOURCES.get(cfg.paper.source)
        if source is not None and source.lr_convention == "absolute" and source.name == "pit_cifar":
            text += (f"; the cited source's lr {source.values['optim.lr']:g} is ambiguous: read as a base lr it would give "
                     f"{source.values['optim.lr'] * batch / 256:.4g} here")  # fmt: skip
        return o.lr, text
    lr = o.blr * batch / 256
    return lr, f"lr {lr:.4g} = blr {o.blr:g} x effective batch {batch} / 256 (MAE's linear scaling rule)"


def _augment_lines(cfg: Config) -> list[str]:
    """The training augmentation in the order it runs, with exact parameters."""
    from ..data.source_crop import RATIO
    from ..data.transforms import TimmRandAugment

    a, d = cfg.augment, cfg.data
    size = f"{d.img_size[0]}x{d.img_size[1]}"
    lines = []
    if cfg.task == "diffusion" and cfg.diffusion.space == "latent":
        return [
            f"1. horizontal flip p={a.hflip} (a stored mirrored latent, per sample)",
            "2. none else (DiT: no crop on latents)",
        ]
    if a.crop == "rrc" and d.source_size is not None:
        lines.append(f"RandomResizedCrop(scale={tuple(a.crop_scale)}, ratio=({RATIO[0]:.4g}, {RATIO[1]:.4g})) drawn on the "
                     f"whole image (a {d.source_size}x{d.source_size} cache, aspect kept), resized down to {size} "
                     "(bicubic, antialiased)")  # fmt: skip
    elif a.crop == "rrc":
        lines.append(f"RandomResizedCrop(scale={tuple(a.crop_scale)}, ratio=(0.75, 1.333)) of the {size} stored image, resized "
                     f"back to {size} (bicubic, antialiased): crops are enlarged")  # fmt: skip
    elif a.crop == "pad":
        lines.append(f"pad {a.crop_padding} px (zeros) and random {size} crop (batched)")
    if a.color_jitter > 0:
        cj = a.color_jitter
        lines.append(f"ColorJitter(brightness={cj}, contrast={cj}, saturation={cj}, hue={min(cj, 0.5)}) (RGB)")
    if a.grayscale > 0:
        lines.append(f"RandomGrayscale(p={a.grayscale})")
    if a.randaugment_ops:
        lines.append(f"torchvision RandAugment(num_ops={a.randaugment_ops}, magnitude={a.randaugment_magnitude} of 31 bins)")
    if a.randaugment:
        mean = get_dataset_spec(d.name).mean
        ra = TimmRandAugment(a.randaugment, tuple(d.img_size), mean)
        ops = ", ".join(f"{op.name}(p={op.prob}, m={op.magnitude}, mstd={op.magnitude_std})" for op in ra.transform.ops)
        first = ra.transform.ops[0]
        lines.append(f"timm RandAugment {a.randaugment!r}: {ra.transform.num_layers} of [{ops}]; fill "
                     f"{first.kwargs['fillcolor']}, bicubic, translate {first.hparams.get('translate_pct', 0.45):.0%} of the "
                     "side; posterize to 0 bits gives black")  # fmt: skip
    if a.hflip > 0:
        lines.append(f"horizontal flip p={a.hflip} (batched)")
    lines.append("uint8 -> float, normalised with the dataset mean/std (on the device)")
    if a.random_erasing > 0:
        lines.append(f"RandomErasing(p={a.random_erasing}, mode=pixel, area 0.02-1/3, aspect 0.3-3.3, 1 box) per image, "
                     "before mixup (as MAE's dataset transform)")  # fmt: skip
    if a.mixup > 0 or a.cutmix > 0:
        lines.append(f"timm Mixup(mixup_alpha={a.mixup}, cutmix_alpha={a.cutmix}, prob=1.0, switch_prob=0.5, mode=batch, "
                     f"label_smoothing={a.label_smoothing}) -> soft-target cross-entropy")  # fmt: skip
    elif cfg.task == "classify":
        lines.append(f"cross-entropy, label_smoothing={a.label_smoothing}")
    if cfg.task == "classify" and cfg.model.token_keep < 1:
        lines.append(f"pixel dropout: keep {cfg.model.token_keep:.0%} of the tokens")
    if cfg.task == "mae":
        lines.append(f"mask {cfg.mae.mask_ratio:.0%} of the tokens (blocks of {cfg.mae.mask_block}), target {cfg.mae.target}")
    return [f"{i}. {line}" for i, line in enumerate(lines, 1)]


def _diffusion_lines(cfg: Config) -> list[str]:
    """A diffusion config's objective and its resolved sampling spec (``diffusion.sampling`` with the defaults
    filled in for the objective: what ``pixelvit sample`` and the fid evaluator use unless told otherwise)."""
    from ..diffusion.respace import space_timesteps
    from .diffusion import learns_sigma, resolve_sampling

    d = cfg.diffusion
    if d.objective == "ddpm_eps":
        loss = "ε-MSE + the variational bound of the learned variance" if learns_sigma(d) else "ε-MSE, fixed variance"
        steps = f"{d.num_timesteps} {d.noise_schedule} steps"
        lines = [f"objective ddpm_eps: ε-prediction, {steps}, t uniform over the steps; loss {loss}"]
    else:
        law = ("uniform on [0, 1]" if d.time_sampling == "uniform"
               else f"logit-normal: sigmoid({d.p_mean:g} + {d.p_std:g}·n), n ~ N(0, 1)")  # fmt: skip
        what = ("velocity prediction, velocity MSE" if d.objective == "flow_v"
                else f"x-prediction, velocity MSE (v = (x̂ − z_t) / max(1 − t, {d.t_eps:g}))")  # fmt: skip
        lines = [f"objective {d.objective}: linear path z_t = t·x + (1 − t)·ε, {what}; t {law}"]
    lines.append(f"class dropout {d.class_dropout:g} (the null class for guidance); learned sigma {learns_sigma(d)}")
    spec = resolve_sampling(d)
    if spec.sampler in ("ddpm", "ddim"):
        evals = len(space_timesteps(d.num_timesteps, spec.steps))
        steps = f"steps {spec.steps!r} ({evals} model evaluations)"
    else:
        n = int(spec.steps)
        steps = f"{n} ODE steps ({2 * n - 1 if spec.sampler == 'heun' else n} model evaluations)"
    interval = "everywhere" if spec.guidance_interval is None else f"for t in {list(spec.guidance_interval)}"
    channels = "all channels" if spec.guidance_channels is None else f"the first {spec.guidance_channels} channels"
    eta = f", ddim_eta {spec.ddim_eta:g}" if spec.sampler == "ddim" else ""
    lines.append(f"sampling (diffusion.sampling, resolved): {spec.sampler}, {steps}, cfg_scale {spec.cfg_scale:g} "
                 f"{interval} on {channels}{eta}")  # fmt: skip
    return lines


def _eval_line(cfg: Config) -> str:
    d = cfg.data
    if cfg.task == "diffusion":
        return "evaluation: diffusion loss on held-out latents (sampling and FID: pixelvit sample / fid)"
    if d.name == "imagenet" and d.crop_pct < 1:
        side = math.floor(d.img_size[0] / d.crop_pct)
        return (f"evaluation: short side resized to floor({d.img_size[0]} / {d.crop_pct:g}) = {side} (bicubic, antialiased), "
                f"centre crop {d.img_size[0]} (prepared in the val cache)")  # fmt: skip
    return f"evaluation: the {d.eval_split} images fitted to {d.img_size[0]}x{d.img_size[1]} (cover + centre crop), no margin"


def _groups(cfg: Config, model: nn.Module) -> tuple[list[str], int]:
    from ..models.layer_decay import layer_decay_scale

    scale = None
    if cfg.optim.layer_decay is not None and hasattr(model, "blocks"):
        scale = layer_decay_scale(len(model.blocks), cfg.optim.layer_decay)
    groups = param_groups(model, cfg.optim.weight_decay, lr_scale=scale)
    lines = []
    for g in sorted(groups, key=lambda g: (g["lr_scale"], g["weight_decay"])):
        n = sum(p.numel() for p in g["params"])
        names = ", ".join(g["names"][:3]) + (", ..." if len(g["names"]) > 3 else "")
        lines.append(
            f"wd {g['weight_decay']:g}, lr x {g['lr_scale']:.4g}: {len(g['params'])} tensors, {n:,} parameters ({names})"
        )
    total = sum(p.numel() for p in model.parameters())
    return lines, total


def resolve_recipe(cfg: Config) -> dict[str, Any]:
    """Everything ``--dry-run`` shows, as data (see the module docstring); nothing is trained or allocated."""
    t, o = cfg.train, cfg.optim
    n_train, n_eval, data_note = _dataset_sizes(cfg)
    batch = t.batch_size * t.accum_steps
    lr, lr_text = _lr_line(cfg, batch)
    steps_per_epoch = n_train // t.batch_size // t.accum_steps
    epochs = sum(s.epochs for s in t.stages) if t.stages else t.epochs
    total = epochs * steps_per_epoch
    warmup = round(o.warmup_epochs * steps_per_epoch)
    milestones = sorted({0, 1, warmup // 2, warmup, warmup + (total - warmup) // 2, max(0, total - 1)})
    schedule = [(s, lr_at(o, s, total, warmup, lr)) for s in milestones if 0 <= s < max(total, 1)]
    model, inputs = _meta_model(cfg)
    forward = _forward_flops(model, inputs)
    groups, params = _groups(cfg, model)
    train_flops = 3 * forward * total * batch
    evals = (epochs // t.eval_every) if t.eval_every else 0
    eval_flops = forward * n_eval * evals
    run_flops = train_flops + eval_flops
    fp32 = t.precision == "fp32"
    gpu_hours = {g.name: run_flops / ((g.tf32_tflops if fp32 else g.bf16_tflops) * 1e12 * UTILISATION) / 3600 for g in GPUS}
    source = SOURCES.get(cfg.paper.source)
    return {
        "config": cfg.to_dict(),
        "data": {"train_images": n_train, "eval_images": n_eval, "note": data_note},
        "batch": batch, "lr": lr, "lr_formula": lr_text, "steps_per_epoch": steps_per_epoch, "epochs": epochs,
        "warmup_steps": warmup, "total_steps": total, "schedule": schedule,
        "warmup_formula": "peak·s/W (starts at 0, MAE)" if o.warmup_from_zero else "peak·(s+1)/W",
        "augment": _augment_lines(cfg), "evaluation": _eval_line(cfg),
        "diffusion": _diffusion_lines(cfg) if cfg.task == "diffusion" else [],
        "param_groups": groups, "parameters": params,
        "flops": {"forward_per_image": forward, "train_per_image": 3 * forward, "train_run": train_flops, "eval_run": eval_flops},
        "gpu_hours": gpu_hours, "utilisation": UTILISATION, "precision": "TF32" if fp32 else "bf16",
        "paper": {"table": cfg.paper.table, "metrics": dict(cfg.paper.metrics)},
        "source": {"name": cfg.paper.source or OWN, "cite": source.cite if source else cfg.paper.recipe_source},
        "deviations": [(d.key, d.source, d.ours, d.why) for d in cfg.paper.deviations],
        "undeclared": check_deviations(cfg),
    }  # fmt: skip


def _si(x: float) -> str:
    for unit, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} "


def format_recipe(r: dict[str, Any]) -> str:
    """The text ``--dry-run`` prints for :func:`resolve_recipe`'s result."""
    out = ["== resolved config ==", yaml.safe_dump(r["config"], sort_keys=False).rstrip(), "", "== data =="]
    out.append(f"{r['data']['note']}")
    out.append(f"train images {r['data']['train_images']:,}, eval images {r['data']['eval_images']:,}")
    out += ["", "== schedule ==", f"effective batch {r['batch']} (train.batch_size x train.accum_steps, over all processes)",
            r["lr_formula"],
            f"{r['steps_per_epoch']:,} steps/epoch x {r['epochs']} epochs = {r['total_steps']:,} steps; warmup "
            f"{r['warmup_steps']:,} steps, {r['warmup_formula']}"]  # fmt: skip
    out += [f"  step {s:>9,}: lr {v:.4g}" for s, v in r["schedule"]]
    out += ["", "== augmentation (training, in order) ==", *r["augment"], r["evaluation"]]
    if r["diffusion"]:
        out += ["", "== diffusion ==", *r["diffusion"]]
    out += ["", "== parameter groups ==", f"{r['parameters']:,} parameters", *r["param_groups"]]
    f = r["flops"]
    out += ["", "== cost ==",
            f"forward {_si(f['forward_per_image'])}FLOP/image; training 3x forward = {_si(f['train_per_image'])}FLOP/image",
            f"run: {_si(f['train_run'])}FLOP training + {_si(f['eval_run'])}FLOP evaluation"]  # fmt: skip
    for name, hours in r["gpu_hours"].items():
        out.append(
            f"{name}: {hours:,.{0 if hours >= 10 else 1}f} GPU-hours at {r['utilisation']:.0%} "
            f"of the dense {r['precision']} peak (assumed)"
        )
    out.append("(not counted: data loading, checkpoints, compilation; see pixelvit.tasks.recipe)")
    metrics = ", ".join(f"{k} {v:g}" for k, v in r["paper"]["metrics"].items()) or "none"
    out += [
        "",
        "== paper ==",
        f"expected: {metrics} ({r['paper']['table']})",
        f"recipe source: {r['source']['name']}: {r['source']['cite']}",
    ]
    out.append("== declared deviations ==" if r["deviations"] else "== declared deviations: none ==")
    out += [f"- {key}: source {src!r}, ours {ours!r}: {why}" for key, src, ours, why in r["deviations"]]
    if r["undeclared"]:
        out += ["== UNDECLARED differences from the source ==", *(f"- {p}" for p in r["undeclared"])]
    return "\n".join(out)

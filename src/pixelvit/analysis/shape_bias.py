"""Shape versus texture bias on cue-conflict images (Geirhos et al., ICLR 2019).

Stimuli layout (the public texture-vs-shape / model-vs-human ``cue-conflict`` set): one folder per
shape category, files named ``<shape><n>-<texture><m>.png``, e.g. ``cat/cat3-elephant1.png``: the
shape of a cat with the texture of an elephant. 16 categories.

An ImageNet-1k classifier's softmax is mapped to the 16 categories as in that code
(``helper/human_categories.py`` and ``ImageNetProbabilitiesTo16ClassesMapping``): the probability
of a category is the **mean** of the probabilities of its ImageNet classes; the decision is the
highest. Images whose shape and texture agree are excluded. Shape bias = shape decisions /
(shape decisions + texture decisions); other decisions count for neither.

Paper (slides, "Texture vs. Shape Bias Analysis"): ViT-B/2 56.7, ViT-B/1 57.2 (ImageNet models at
28×28: images are resized to the model's input, bicubic with antialiasing).

A shape bias rests only on the decisions that are the shape or the texture category; the share of
"other" decisions is reported beside it, with a warning when it exceeds ``OTHER_WARNING`` (a random
model decides "other" about 14 times in 16). ``--out DIR`` writes ``shape_bias.{md,json,png}``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import ConfigError
from ..io import write_json_atomic, write_text_atomic
from ..plotting import figure, label_axes, markdown_table, note, save_figure

# ImageNet-1k class indices per category, from bethgelab/model-vs-human
# modelvshuman/helper/human_categories.py (same lists as rgeirhos/texture-vs-shape).
CATEGORY_INDICES: dict[str, list[int]] = {
    "airplane": [404],
    "bear": [294, 295, 296, 297],
    "bicycle": [444, 671],
    "bird": [8, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 80, 81, 82, 83, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96,
             98, 99, 100, 127, 128, 129, 130, 131, 132, 133, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145],
    "boat": [472, 554, 625, 814, 914],
    "bottle": [440, 720, 737, 898, 899, 901, 907],
    "car": [436, 511, 817],
    "cat": [281, 282, 283, 284, 285, 286],
    "chair": [423, 559, 765, 857],
    "clock": [409, 530, 892],
    "dog": [152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173,
            174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 193, 194, 195, 196,
            197, 198, 199, 200, 201, 202, 203, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219,
            220, 221, 222, 223, 224, 225, 226, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 243,
            244, 245, 246, 247, 248, 249, 250, 252, 253, 254, 255, 256, 257, 259, 261, 262, 263, 265, 266, 267, 268],
    "elephant": [385, 386],
    "keyboard": [508, 878],
    "knife": [499],
    "oven": [766],
    "truck": [555, 569, 656, 675, 717, 734, 864, 867],
}  # fmt: skip
CATEGORIES = sorted(CATEGORY_INDICES)
PAPER_SHAPE_BIAS = {"ViT-B/2": 56.7, "ViT-B/1": 57.2}
OTHER_WARNING = 50.0  # % of "other" decisions above which the shape bias is flagged
_NAME = re.compile(r"^(?P<shape>[a-z]+)\d+-(?P<texture>[a-z]+)\d+$")


def category_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(N, 1000) ImageNet logits -> (N, 16) mean softmax probability per category (``CATEGORIES`` order)."""
    if logits.shape[-1] != 1000:
        raise ConfigError(f"shape bias needs an ImageNet-1k classifier (1000 outputs); this model has {logits.shape[-1]}")
    probs = logits.float().softmax(dim=-1)
    return torch.stack([probs[:, CATEGORY_INDICES[c]].mean(dim=-1) for c in CATEGORIES], dim=1)


def cue_conflict_files(root: str | os.PathLike) -> list[tuple[Path, str, str]]:
    """(path, shape, texture) of every stimulus under ``root/<shape>/``, sorted; errors name a bad file."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root} not found: expected the cue-conflict stimuli as ROOT/<shape>/<shape><n>-<texture><m>.png"
        )
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
                continue
            match = _NAME.match(path.stem)
            if not match or match["shape"] != folder.name:
                raise ValueError(f"{path}: expected a name <shape><n>-<texture><m> whose shape is its folder's ({folder.name})")
            for cue in ("shape", "texture"):
                if match[cue] not in CATEGORY_INDICES:
                    raise ValueError(f"{path}: unknown {cue} category {match[cue]!r}; the 16 are {', '.join(CATEGORIES)}")
            found.append((path, match["shape"], match["texture"]))
    if not found:
        raise FileNotFoundError(f"no cue-conflict images under {root} (expected ROOT/<shape>/<shape><n>-<texture><m>.png)")
    return found


def count_decisions(decisions: list[str], shapes: list[str], textures: list[str]) -> dict[str, Any]:
    """Shape bias and counts from 16-way decisions; images whose shape equals their texture are excluded."""
    per_category = {c: {"images": 0, "shape": 0, "texture": 0} for c in CATEGORIES}
    excluded = 0
    for decision, shape, texture in zip(decisions, shapes, textures, strict=True):
        if shape == texture:
            excluded += 1
            continue
        row = per_category[shape]
        row["images"] += 1
        row["shape"] += decision == shape
        row["texture"] += decision == texture
    shape_hits = sum(r["shape"] for r in per_category.values())
    texture_hits = sum(r["texture"] for r in per_category.values())
    images = sum(r["images"] for r in per_category.values())
    other = images - shape_hits - texture_hits
    other_share = 100.0 * other / images if images else None
    return {
        "shape_bias": 100.0 * shape_hits / (shape_hits + texture_hits) if shape_hits + texture_hits else None,
        "shape_decisions": shape_hits,
        "texture_decisions": texture_hits,
        "other_decisions": other,
        "other_share": other_share,
        "warning": other_warning(other_share, shape_hits + texture_hits, images),
        "images": images,
        "excluded_same_cue": excluded,
        "per_category": per_category,
    }


def other_warning(other_share: float | None, decisive: int, images: int) -> str | None:
    """One line when most decisions are neither the shape nor the texture category: the bias then says little."""
    if other_share is None or other_share <= OTHER_WARNING:
        return None
    return (
        f"warning: {other_share:.0f}% of the decisions ({images - decisive} of {images}) are neither the shape nor the "
        f"texture category (more than {OTHER_WARNING:.0f}%); the shape bias rests on {decisive} decisions and says little"
    )


@torch.no_grad()
def shape_bias(
    model: nn.Module, root: str | os.PathLike, batch_size: int = 64, device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Shape bias (%) of an ImageNet-1k classifier on the cue-conflict stimuli under ``root``."""
    from ..data.imageio import decode_image

    files = cue_conflict_files(root)
    size = tuple(model.img_size)
    mode = {1: "L", 3: "RGB"}.get(model.in_chans)
    if mode is None:
        raise ConfigError(f"the model takes {model.in_chans}-channel images; cue-conflict images are RGB (or grey)")
    model = model.to(device).eval()
    decisions: list[str] = []
    for lo in range(0, len(files), batch_size):
        batch = np.stack([decode_image(path, size, mode) for path, _, _ in files[lo : lo + batch_size]])
        probs = category_probabilities(model(torch.from_numpy(batch).to(device)).cpu())
        decisions += [CATEGORIES[i] for i in probs.argmax(dim=1).tolist()]
    return count_decisions(decisions, [s for _, s, _ in files], [t for _, _, t in files])


def format_table(result: dict[str, Any], label: str) -> str:
    rows = [
        [
            c,
            r["images"],
            r["shape"],
            r["texture"],
            f"{100 * r['shape'] / (r['shape'] + r['texture']):.1f}" if r["shape"] + r["texture"] else "—",
        ]
        for c, r in result["per_category"].items()
        if r["images"]
    ]
    bias, other = result["shape_bias"], result["other_share"]
    head = (
        f"{label}: shape bias {'—' if bias is None else f'{bias:.1f}'}% ({result['shape_decisions']} shape, "
        f"{result['texture_decisions']} texture, {result['other_decisions']} other decisions on {result['images']} "
        f"cue-conflict images, other: {'—' if other is None else f'{other:.1f}'}%; {result['excluded_same_cue']} with "
        f"shape = texture excluded). Paper: ViT-B/2 {PAPER_SHAPE_BIAS['ViT-B/2']}, ViT-B/1 {PAPER_SHAPE_BIAS['ViT-B/1']}."
    )
    if result["warning"]:
        head += "\n\n" + result["warning"]
    return head + "\n\n" + markdown_table(["shape category", "images", "shape", "texture", "shape bias (%)"], rows)


def figure_shape_bias(result: dict[str, Any], label: str) -> Any:
    """Per category (and all together): the share of shape, texture and other decisions, stacked to 100 %."""
    cats = [c for c, r in result["per_category"].items() if r["images"]]
    rows = [result["per_category"][c] for c in cats]
    all_row = {"images": result["images"], "shape": result["shape_decisions"], "texture": result["texture_decisions"]}
    names, rows = ["all", *cats], [all_row, *rows]
    fig, axes = figure(size=(5.5, 1.2 + 0.22 * len(names)))
    ax = axes[0, 0]
    left = [0.0] * len(rows)
    for key, color in (("shape", "C0"), ("texture", "C1"), ("other", "0.75")):
        counts = [r["images"] - r["shape"] - r["texture"] if key == "other" else r[key] for r in rows]
        share = [100.0 * k / r["images"] for k, r in zip(counts, rows, strict=True)]
        ax.barh(names, share, left=left, color=color, label=key)
        left = [a + b for a, b in zip(left, share, strict=True)]
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    bias = result["shape_bias"]
    title = f"{label}: shape bias {'—' if bias is None else f'{bias:.1f}'}%, other {result['other_share'] or 0:.0f}%"
    label_axes(ax, "share of the category's cue-conflict decisions (%)", "shape category", title)
    fig.legend(loc="outside upper center", ncol=3, fontsize=7)
    paper = ", ".join(f"{k} {v}" for k, v in PAPER_SHAPE_BIAS.items())
    note(fig, (result["warning"] or "shape bias = shape / (shape + texture) decisions") + f". Paper shape bias: {paper}")
    return fig


def shape_bias_command(
    checkpoint: str | os.PathLike, root: str, out: Path | None = None, batch_size: int = 64, device: str = "auto"
) -> tuple[dict[str, Any], str]:
    """``pixelvit shape-bias``: the result and the text to print (the table, with the warning when most decisions
    are "other"); writes ``shape_bias.{json,md,png}`` under ``out`` if given."""
    from ..engine.device import resolve_device
    from .samples import load_vit

    model, _ = load_vit(checkpoint)
    result = shape_bias(model, root, batch_size, resolve_device(device))
    label = f"ViT/{model.patch_size} ({Path(checkpoint).name}) at {model.img_size[0]}x{model.img_size[1]}"
    text = format_table(result, label)
    if out is None:
        return result, text
    write_json_atomic(out / "shape_bias.json", {"checkpoint": str(checkpoint), "label": label, **result})
    write_text_atomic(out / "shape_bias.md", text + "\n")
    save_figure(figure_shape_bias(result, label), out / "shape_bias.png")
    return result, f"{text}\n\nwrote {out / 'shape_bias.md'}, .json and .png"

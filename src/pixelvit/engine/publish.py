"""Sharing a trained model: a timm folder (``pixelvit export --to timm``) and a Hugging Face Hub
repository with a generated model card (``pixelvit push``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..io import copy_regular_file, refuse_link, write_text_atomic
from ..models.hub import CONFIG_NAME, REPO_ID, WEIGHTS_NAME, from_pretrained, hub_repo_id, upload_folder
from ..models.timm_export import export_timm, timm_config, timm_unsupported_reason
from ..plotting import fmt, markdown_table, md_code, md_text
from ..provenance import provenance_lines
from .loading import load_model_and_config
from .run_info import WEIGHTS_TEXT, metric_columns, read_run, run_label, size_text

CARD_NAME = "README.md"
TRAIN_CONFIG_NAME = "train_config.yaml"
TASK_NOUNS = {
    "classify": "An image classifier",
    "depth": "A depth estimator",
    "mae": "A masked autoencoder",
    "diffusion": "A diffusion model",
}
PIPELINE_TAGS = {"classify": "image-classification", "depth": "depth-estimation", "diffusion": "unconditional-image-generation"}


def export_to_timm(source: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Export the model of ``source`` (a run directory, model directory, ``step_*.pt`` or Hub repo id) as a timm folder.

    Returns {"out": folder, "architecture": timm entry point, "patch_size", "tokens"}; a ``ValueError``
    naming the reason when timm cannot represent the model, or when a model file of a local ``source`` is a
    symbolic link (only regular files inside the directory are exported, never a link's target).
    """
    if not hub_repo_id(source):
        refuse_linked_files(source)
    model = from_pretrained(source) if hub_repo_id(source) else load_model_and_config(source)[0]
    out = export_timm(model, out_dir)
    return {
        "out": out,
        "architecture": timm_config(model)["architecture"],
        "patch_size": model.patch_size,
        "tokens": model.num_patches,
    }


def _reproduce_command(run: dict[str, Any]) -> str:
    root = (run["config"].get("data") or {}).get("root")
    extra = f" data.root=/path/to/{run['dataset']}" if root else ""
    return md_code(f"pixelvit train {TRAIN_CONFIG_NAME} run_dir=runs/{run['name']}{extra}")


def _lr_text(optim: dict[str, Any]) -> str:
    if optim.get("lr") is not None:
        return f"lr {md_text(optim['lr'])}"
    return f"base lr {md_text(optim.get('blr', '?'))} (lr = blr × batch / 256)"


def _architecture_rows(run: dict[str, Any], params: int) -> list[list[str]]:
    cfg, p, (h, w) = run["model_config"], run["patch_size"], run["img_size"]
    rows = [
        [
            "family",
            f"pixelvit `{md_code(run['architecture'])}` (preset `{md_code(run['preset'])}`; shape below is the trained model's)",
        ],
        ["patch size", f"{p}×{p}" + (" (one token per pixel)" if p == 1 else "")],
        ["tokens", f"{run['tokens']:,} = ({h}/{p})·({w}/{p})"],
        ["input", md_text(f"{cfg.get('in_chans', '?')}×{h}×{w}")],
        ["width / depth / heads", md_text(f"{cfg.get('embed_dim')} / {cfg.get('depth')} / {cfg.get('num_heads')}")],
        ["parameters", f"{params:,}"],
    ]
    for key, label in (("tokenizer", "tokenizer"), ("pos_embed", "position embedding"), ("global_pool", "pooling")):
        if key in cfg:
            rows.append([label, md_text(cfg[key])])
    if "num_classes" in cfg:
        rows.append(["classes", md_text(cfg["num_classes"])])
    return rows


def model_card(run_dir: str | os.PathLike, repo_id: str) -> str:
    """The Hub model card (``README.md``) of a run: architecture, tokens, training data, the final metrics
    beside the paper's for the row, how to load it and the command that reproduces it."""
    return render_card(read_run(run_dir), repo_id)


def render_card(run: dict[str, Any], repo_id: str) -> str:
    """:func:`model_card` of a run already read with :func:`pixelvit.engine.run_info.read_run`."""
    if run["model_dir"] is None:
        raise FileNotFoundError(f"{run['path']} has no final/ or best/ model yet: train it to the end first")
    model = from_pretrained(run["model_dir"])
    params = sum(t.numel() for t in model.parameters())
    cfg = run["config"]
    data, train, optim = cfg.get("data") or {}, cfg.get("train") or {}, cfg.get("optim") or {}
    tags = ["pixelvit", "vision-transformer", f"patch-size-{run['patch_size']}"]
    front = {"library_name": "pixelvit", "tags": tags}
    if run["task"] in PIPELINE_TAGS:
        front["pipeline_tag"] = PIPELINE_TAGS[run["task"]]
    keys = metric_columns([run])
    results = [[md_text(k), fmt(run["final"].get(k), 2), fmt(run["paper"].get(k), 2)] for k in keys]
    timm_reason = timm_unsupported_reason(model)
    use = [
        "```python",
        "from pixelvit import from_pretrained",
        "",
        f'model = from_pretrained("{repo_id}")  # uint8 (B, C, H, W) images are normalised inside the model',
        "```",
    ]
    if timm_reason is None:
        use.append(
            f"For timm: `pixelvit export --to timm {repo_id} timm_{md_code(run['name'])}`, then "
            f'`timm.create_model("local-dir:timm_{md_code(run["name"])}", pretrained=True)` gives the same logits '
            "(timm's transforms apply the mean/std of its config)."
        )
    parts = [
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---",
        f"# {repo_id}: {md_text(run_label(run))}",
        f"{TASK_NOUNS.get(run['task'], 'A model')} trained with pixelvit (run `{md_code(run['name'])}`): a Vision Transformer "
        f"that reads the image as {run['tokens']:,} tokens of {run['patch_size']}×{run['patch_size']} pixels.",
        "## Architecture",
        markdown_table(["property", "value"], _architecture_rows(run, params), "ll"),
        "## Training data",
        f"`{md_code(run['dataset'])}` at {size_text(run['img_size'])} (split `{md_code(data.get('train_split', 'train'))}`, "
        f"evaluated on `{md_code(data.get('eval_split', 'test'))}`); {md_text(train.get('epochs', '?'))} epochs, batch "
        f"{md_text(train.get('batch_size', '?'))}, {_lr_text(optim)}, precision {md_text(train.get('precision', '?'))}. "
        f"Run status: {md_text(run['status'])} after {md_text(run['step'] if run['step'] is not None else '?')} steps.",
        "## Results",
        f"The run's {WEIGHTS_TEXT.get(run['weights'], 'weights')}, as saved in this repository, on "
        f"`{md_code(data.get('eval_split', 'test'))}`:\n\n"
        + markdown_table(["metric", f"this run ({md_text(data.get('eval_split', 'test'))})", "paper"], results, "lrr")
        if results
        else "No evaluation was recorded.",
    ]
    if run["paper_table"]:
        parts.append(
            f"Paper row: {md_text(run['paper_table'])} (Nguyen et al., *An Image is Worth More Than 16x16 Patches*, ICLR 2025)."
        )
    if run["paper_mismatch"]:
        keys = ", ".join(md_text(str(m).split(":")[0]) for m in run["paper_mismatch"])
        parts.append(f"The paper's numbers are not shown: not comparable, this run changes the row's recipe ({keys}).")
    if run["recipe_source"]:
        parts.append(f"Recipe: {md_text(run['recipe_source'])}")
    prov = run["summary"].get("provenance")
    if isinstance(prov, dict):
        parts += ["## Provenance", "\n".join(f"- {md_text(line)}" for line in provenance_lines(prov))]
    parts += [
        "## Use",
        "\n".join(use),
        "## Reproduce",
        f"`{TRAIN_CONFIG_NAME}` in this repository is the run's resolved config:",
        f"```bash\n{_reproduce_command(run)}\n```",
    ]
    return "\n\n".join(parts) + "\n"


# What push and export read from a run or model directory: none of these may be a symbolic link.
SHARED_FILES = ("config.yaml", CONFIG_NAME, WEIGHTS_NAME, "final", "best",
                *(f"{sub}/{name}" for sub in ("final", "best") for name in (CONFIG_NAME, WEIGHTS_NAME)))  # fmt: skip


def refuse_linked_files(directory: str | os.PathLike) -> None:
    """An ``UnsafeFileError`` (a ValueError) naming the first file of :data:`SHARED_FILES` (or the model folders) in
    ``directory`` that is a symbolic link: a planted link must not copy another file out of the machine."""
    for name in SHARED_FILES:
        refuse_link(Path(directory) / name)


def write_repo_folder(run_dir: str | os.PathLike, repo_id: str, out: str | os.PathLike) -> Path:
    """Write what ``pixelvit push`` uploads into ``out``: the model files, the run's config as
    ``train_config.yaml`` and the model card ``README.md``; returns ``out``."""
    if not REPO_ID.fullmatch(repo_id) or "@" in repo_id:
        raise ValueError(f"{repo_id!r} is not a Hub repository id: give ORG/NAME, e.g. my-lab/vit-t1-cifar100")
    run_dir, out = Path(run_dir), Path(out)
    refuse_linked_files(run_dir)  # only regular files inside the run directory leave it, never a link's target
    run = read_run(run_dir)
    card = render_card(run, repo_id)  # refuses a run without a model before anything is written
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        copy_regular_file(run["model_dir"] / name, out / name)
    if (run_dir / "config.yaml").is_file():
        copy_regular_file(run_dir / "config.yaml", out / TRAIN_CONFIG_NAME)
    write_text_atomic(out / CARD_NAME, card)
    return out


def push_run(run_dir: str | os.PathLike, repo_id: str, dry_run: bool = False, out: str | os.PathLike | None = None) -> dict:
    """Upload a run's model files and card to Hub repo ``repo_id``; with ``dry_run`` only write the folder.

    The folder is ``out`` (kept), else ``RUN_DIR/hub`` for a dry run, else a temporary one.
    Returns {"folder": the kept folder or None, "files": its file names, "url": the commit URL, None when dry}.
    """
    message = f"Add pixelvit model from run {Path(run_dir).name}"
    with tempfile.TemporaryDirectory(prefix="pixelvit-push-") as tmp:
        kept = Path(out) if out is not None else Path(run_dir) / "hub" if dry_run else None
        if out is None and kept is not None:
            refuse_link(kept)  # RUN_DIR/hub as a link would write outside the run
        folder = write_repo_folder(run_dir, repo_id, kept or tmp)
        files = sorted(p.name for p in folder.iterdir())
        url = None if dry_run else upload_folder(folder, repo_id, message)
    return {"folder": kept, "files": files, "url": url}

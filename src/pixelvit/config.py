"""Typed run configuration: YAML files + dotted command-line overrides, validated before any work.

A config is a tree of dataclasses (:class:`Config`). :func:`load_config` reads a YAML file
(safe loader), applies ``key.sub=value`` overrides (values parsed as YAML scalars), converts
every field to its annotated type and checks choices and ranges. Any problem raises
:class:`ConfigError` naming the dotted key, the bad value and what is allowed.

Written here rather than with OmegaConf because OmegaConf has no ``Literal`` choices or range
checks and its unknown-key errors do not list the valid keys; both would need this layer anyway.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A config value or key is wrong; the message names the key and the fix."""


@dataclass
class ModelConfig:
    """Which network. ``name`` is a preset (``vit_s/1``); other fields override it when set."""

    name: str = "vit_t/1"
    patch_size: int | None = None
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    mlp_ratio: float = 4.0
    tokenizer: Literal["linear", "dictionary"] = "linear"
    pos_embed: Literal["learned", "sincos", "none"] = "learned"
    pos_embed_std: float = 0.02
    global_pool: Literal["token", "avg"] = "token"
    class_token: bool = True
    drop_rate: float = 0.0
    drop_path_rate: float = 0.1
    grad_checkpointing: bool = False
    token_keep: float = 1.0  # pixel dropout: train on this random fraction of tokens per step (eval uses all)
    token_keep_epochs: int | None = None  # pixel dropout for the first N epochs only, all tokens after (null: all)
    init_from: str | None = None  # a model/run dir or checkpoint whose encoder weights start this run
    head_init_std: float | None = None  # re-draw the classifier weight at this std (MAE fine-tuning: 2e-5); null: model init


@dataclass
class DataConfig:
    """Which dataset, where, at what size. ``img_size`` must match what the model is built for."""

    name: str = "digits"
    root: str | None = None
    img_size: list[int] = field(default_factory=lambda: [8, 8])
    train_split: str = "train"
    eval_split: str = "test"
    num_workers: int = 0
    limit_train: int | None = None
    limit_eval: int | None = None
    download: bool = False
    # Pixel-permutation study: one fixed permutation of T swaps of pixel pairs within distance delta
    # (null: any pair), the same for every image of every split.
    permute_pairs: int = 0
    permute_delta: float | None = None
    permute_seed: int = 0
    # Resize a fixed-size dataset (digits, CIFAR-100, Fashion-MNIST) to data.img_size instead of
    # refusing a different size (bicubic, antialiased): the fixed-sequence-length patch sweep needs it.
    resize: bool = False
    # ImageNet, crop-and-resize recipes: take training crops from a cache at this short side (stored R×R with each
    # image's aspect ratio, so a crop is cut in the image's own geometry) and downsample them to img_size (null:
    # crop the img_size cache itself, the old way). crop_pct: evaluation resizes the short side to
    # floor(img_size / crop_pct) and centre-crops img_size (timm/MAE: 0.875; 1.0: no margin).
    source_size: int | None = None
    crop_pct: float = 1.0
    # Model selection (best/) without the test split: a seeded random fraction of the training split held
    # out as a validation set (the run trains on the rest), or a split of the dataset's own (e.g. "val").
    # Neither (the default): no best/ (final/ only; the test split is evaluated for curves and the reported
    # number, never to choose weights).
    val_fraction: float = 0.0
    val_split: str | None = None
    val_seed: int = 0


@dataclass
class AugmentConfig:
    """Training augmentation (evaluation uses none). Per-sample ops run in DataLoader workers on
    uint8 tensors (torchvision v2); mixup/cutmix and random erasing run on the batch (timm)."""

    crop: Literal["none", "pad", "rrc"] = "none"
    crop_padding: int = 4
    crop_scale: list[float] = field(default_factory=lambda: [0.08, 1.0])
    hflip: float = 0.0
    randaugment_ops: int = 0  # torchvision RandAugment(ops, magnitude of 31 bins), every op always applied
    randaugment_magnitude: int = 9
    randaugment: str = ""  # timm's RandAugment config string, e.g. rand-m9-mstd0.5-inc1 (MAE, DeiT); "" for none
    color_jitter: float = 0.0
    grayscale: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    label_smoothing: float = 0.0
    random_erasing: float = 0.0


@dataclass
class OptimConfig:
    """AdamW with per-step linear warmup then cosine decay. ``lr`` = ``blr`` × batch / 256 unless set."""

    lr: float | None = None
    blr: float = 1e-3
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_epochs: float = 0.0
    schedule: Literal["cosine", "constant"] = "cosine"  # after warmup: cosine to min_lr, or constant
    clip_grad: float | None = None
    warmup_from_zero: bool = False  # lr = peak·s/W at step s (MAE, starts at 0); false: peak·(s+1)/W
    layer_decay: float | None = None  # fine-tuning: lr × layer_decay^(depth - layer)


@dataclass
class StageConfig:
    """One stage of a staged run (``train.stages``): train at ``patch_size`` for ``epochs`` epochs; ``lr`` and
    ``warmup_epochs``, when set, replace ``optim.lr`` / ``optim.warmup_epochs`` for this stage."""

    patch_size: int = 1
    epochs: int = 1
    lr: float | None = None
    warmup_epochs: float | None = None


@dataclass
class TrainConfig:
    """The loop: length, batch, precision, evaluation, checkpoints, scale-out.

    ``batch_size`` is the global batch of one micro-step: under torchrun each of the N processes
    takes batch_size / N, so a config means the same run on any number of processes.
    """

    epochs: int = 10
    batch_size: int = 64
    accum_steps: int = 1
    max_steps: int | None = None
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 where the device runs it natively, else fp32
    device: str = "auto"
    seed: int = 0
    ema_decay: float | None = None
    ema_warmup: bool = False  # decay min(ema_decay, (1 + n) / (10 + n)) at update n, so short runs forget the init
    fsdp: bool = False  # shard parameters, gradients and optimizer state (FSDP2) instead of DDP
    # Context parallelism: this many processes split each image's token sequence (ring attention, PyTorch's
    # context_parallel); the processes / context_parallel groups split the batch (engine/context_parallel.py).
    context_parallel: int = 1
    compile: Literal["auto", True, False] = "auto"  # torch.compile the model for training; auto: where it pays
    sdpa_backend: Literal["auto", "math", "flash", "efficient", "cudnn"] = "auto"  # attention kernel (engine/attention.py)
    threads: Literal["auto"] | int = "auto"  # CPU threads; auto: the cores free at start (engine/threads.py)
    on_nonfinite: Literal["stop", "skip"] = "stop"  # a NaN/inf gradient: stop the run, or skip the step
    max_consecutive_skips: int = 20  # with on_nonfinite=skip: stop after this many skipped steps in a row
    dist_timeout_s: float = 300.0  # a collective waiting longer (a lost or frozen rank) ends the job with an error
    eval_every: int = 1
    checkpoint_every_steps: int = 0
    keep_checkpoints: int = 2
    log_every_steps: int = 20
    progress: bool = True
    stages: list[StageConfig] = field(default_factory=list)  # staged patch sizes, one resumable run (tasks/stages.py)


@dataclass
class Deviation:
    """One departure of a config from the recipe it cites: the dotted ``key``, the ``source``'s value,
    ``ours`` and ``why`` (values as written in YAML; ``none`` for "the source has no such setting")."""

    key: str
    source: Any = None
    ours: Any = None
    why: str = ""


@dataclass
class PaperResult:
    """What the paper reports for this row, and where the recipe comes from (for reports).

    ``source``: the key of the cited recipe in :mod:`pixelvit.tasks.sources` (e.g. ``mae_finetune``);
    ``deviations``: every setting where this config departs from it (tests/test_configs_follow_sources.py
    holds each config to its source and fails on an undeclared difference).
    """

    table: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    recipe_source: str = ""
    source: str = ""
    deviations: list[Deviation] = field(default_factory=list)
    # Where this run departs from the row's recipe (``key: file value -> run value``), filled by
    # load_config from the overrides of recipe keys: non-empty means the paper's numbers are not this run's
    # to compare against, and summaries, reports and model cards leave them out.
    mismatch: list[str] = field(default_factory=list)


@dataclass
class EvalConfig:
    """One extra evaluator of a run (``evals:`` list): ``type`` names a registered evaluator, run every
    ``every`` epochs (0: once, after the last epoch); its metrics are logged as ``prefix/<metric>``
    (default prefix: the type). ``options`` holds the evaluator's own typed options."""

    type: str
    every: int = 1
    prefix: str | None = None
    options: Any = None


@dataclass(frozen=True)
class TaskSchema:
    """What the config loader knows of a task; each task module registers its own.

    sections: the task's own top-level sections (key -> dataclass), e.g. {"depth": DepthConfig}.
    model_fields: the ``model.*`` fields the task's model family reads; another field set to a
        non-default value is an error naming the field and ``model_family``.
    validate: the task's checks, run after the generic ones (raise :class:`ConfigError`).
    stages, context_parallel: whether the task implements ``train.stages`` / ``train.context_parallel``
        (another task's config that sets one is an error).
    upgrade: rewrites the task's raw sections as an earlier version wrote them (renamed keys) into today's
        form, so that run directories and checkpoints of that version still load and resume.
    """

    name: str
    sections: dict[str, type] = field(default_factory=dict)
    model_fields: tuple[str, ...] = ()
    model_family: str = "vit"
    validate: Callable[[Config], None] | None = None
    stages: bool = False
    context_parallel: bool = False
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@dataclass(frozen=True)
class EvaluatorSchema:
    """What the config loader knows of an evaluator type: its options dataclass and the tasks it serves."""

    name: str
    options: type
    tasks: tuple[str, ...]


# The registries the task and evaluator modules fill when imported (``import pixelvit`` imports
# them all). Written once at import, read by the loader; nothing else changes them.
TASK_SCHEMAS: dict[str, TaskSchema] = {}
EVALUATOR_SCHEMAS: dict[str, EvaluatorSchema] = {}


def register_task_schema(schema: TaskSchema) -> TaskSchema:
    """Make a task known to the config loader (called once, by the task's module)."""
    TASK_SCHEMAS[schema.name] = schema
    return schema


def register_evaluator_schema(schema: EvaluatorSchema) -> EvaluatorSchema:
    """Make an evaluator type known to the config loader (called once, by its module)."""
    EVALUATOR_SCHEMAS[schema.name] = schema
    return schema


MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(ModelConfig))
CORE_SECTIONS = ("task", "run_dir", "model", "data", "augment", "optim", "train", "evals", "paper")


@dataclass
class Config:
    """One run: the sections every task has, plus the chosen task's own (``cfg.depth``, ``cfg.mae``,
    ``cfg.diffusion``: see each task module). ``run_dir`` defaults to ``runs/<config file stem>``."""

    task: str = "classify"
    run_dir: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evals: list[EvalConfig] = field(default_factory=list)
    paper: PaperResult = field(default_factory=PaperResult)
    sections: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        schema = task_schema(self.task)
        for key, cls in schema.sections.items():
            self.sections.setdefault(key, cls())

    def __getattr__(self, name: str) -> Any:
        """``cfg.depth`` -> the task's own section ``depth``."""
        if name.startswith("__") or name == "sections":
            raise AttributeError(name)
        if name in self.sections:
            return self.sections[name]
        raise AttributeError(f"a {self.task} run has no {name!r} section (its sections: {', '.join(self.section_names())})")

    def section_names(self) -> list[str]:
        return [*CORE_SECTIONS[2:], *self.sections]

    def to_dict(self) -> dict[str, Any]:
        """Only what this run uses: the core sections, the model fields its family reads, its task's sections."""
        schema = task_schema(self.task)
        out: dict[str, Any] = {"task": self.task, "run_dir": self.run_dir}
        model = dataclasses.asdict(self.model)
        out["model"] = {k: v for k, v in model.items() if k in schema.model_fields} if schema.model_fields else model
        for key in ("data", "augment", "optim", "train"):
            out[key] = dataclasses.asdict(getattr(self, key))
        for key, section in self.sections.items():
            out[key] = dataclasses.asdict(section)
        if self.evals:
            out["evals"] = [eval_to_dict(e) for e in self.evals]
        out["paper"] = dataclasses.asdict(self.paper)
        return out


def task_schema(name: str) -> TaskSchema:
    """The registered schema of task ``name``; a ConfigError listing the known tasks otherwise."""
    if not isinstance(name, str) or name not in TASK_SCHEMAS:
        known = ", ".join(sorted(TASK_SCHEMAS)) or "none registered: import pixelvit first"
        close = difflib.get_close_matches(str(name), list(TASK_SCHEMAS), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ConfigError(f"task={name!r} is not a task.{hint} Known tasks: {known}")
    return TASK_SCHEMAS[name]


def eval_to_dict(e: EvalConfig) -> dict[str, Any]:
    """An ``evals`` entry as written in YAML: type, every, prefix and the options flat beside them."""
    out = {"type": e.type, "every": e.every, "prefix": e.prefix}
    if e.options is not None:
        out.update(dataclasses.asdict(e.options))
    return out


# ---- loading ------------------------------------------------------------------------------------


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML file (or start from defaults), apply ``a.b=value`` overrides, type-check, validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from None
        except Exception as e:  # a tag that cannot build its value ("!!int abc") fails outside YAMLError
            raise ConfigError(f"{path} is not valid YAML: a value cannot be read ({type(e).__name__}: {e})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path} must hold a mapping of config sections, got {type(raw).__name__}")
    written = None
    if overrides:
        with contextlib.suppress(ConfigError):  # a file that only its overrides make whole: nothing to compare
            written = parse_config(copy.deepcopy(raw))
    for item in overrides:
        apply_override(raw, item)
    cfg = parse_config(raw)
    if cfg.run_dir is None and path is not None:
        cfg.run_dir = str(Path("runs") / Path(path).stem)
    validate(cfg)
    if written is not None and written.paper.metrics and cfg.paper.metrics:  # the file names a paper row: is this it?
        mismatch = recipe_changes(written, cfg)
        cfg.paper.mismatch = cfg.paper.mismatch + [m for m in mismatch if m not in cfg.paper.mismatch]
    return cfg


# Keys that say where and how a run executes, not what it computes: overriding them keeps a run comparable
# with the paper row its config file describes (prefixes end with a dot).
RECIPE_NEUTRAL = (
    "run_dir", "paper.", "evals", "data.root", "data.num_workers", "data.download", "train.device", "train.precision",
    "train.progress", "train.log_every_steps", "train.checkpoint_every_steps", "train.keep_checkpoints", "train.compile",
    "train.sdpa_backend", "train.dist_timeout_s", "train.fsdp", "train.context_parallel", "train.eval_every",
    "model.grad_checkpointing",
)  # fmt: skip


def recipe_changes(written: Config, run: Config) -> list[str]:
    """``key: file value -> run value`` for every recipe key where ``run`` (the file plus overrides) differs
    from ``written`` (the file as written): the run is then not the paper row's recipe."""

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    old, new = flat(written.to_dict()), flat(run.to_dict())
    neutral = [n for n in RECIPE_NEUTRAL if not n.endswith(".")]
    prefixes = tuple(n for n in RECIPE_NEUTRAL if n.endswith("."))
    if (old.get("model.init_from") is None) == (new.get("model.init_from") is None):
        neutral.append("model.init_from")  # another folder of pre-trained weights: only a start from scratch departs
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in neutral and not k.startswith(prefixes))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys]


def parse_config(raw: Any, strict: bool = True) -> Config:
    """A mapping (as read from YAML) -> :class:`Config`, every value converted to its field's type.

    ``strict`` (files and overrides a user writes): a section of another task, or a ``model`` field
    that the task's model family does not read, is an error naming it. Not strict (configs saved by
    earlier versions, which wrote every section): those are dropped.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {raw!r}")
    schema = task_schema(raw.get("task", "classify"))
    raw = dict(raw)
    foreign = [k for k in raw if k not in CORE_SECTIONS and k not in schema.sections]
    for key in foreign:
        owner = next((t.name for t in TASK_SCHEMAS.values() if key in t.sections), None)
        if strict and owner is not None:
            raise ConfigError(
                f"{key} is the section of task {owner}, but this config's task is {schema.name}: "
                f"remove {key}, or set task: {owner}"
            )
        if owner is not None:
            del raw[key]
        else:
            valid = [*CORE_SECTIONS, *schema.sections]
            close = difflib.get_close_matches(str(key), valid, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown key {key}.{hint} Valid keys here: {', '.join(valid)}")
    model = raw.get("model")
    if isinstance(model, dict) and schema.model_fields:
        ignored = [k for k in model if k in MODEL_FIELDS and k not in schema.model_fields]
        if strict and ignored:
            raise ConfigError(
                f"model.{ignored[0]} does not apply to the {schema.model_family} family (task {schema.name}): remove it. "
                f"The {schema.model_family} family reads: {', '.join('model.' + f for f in schema.model_fields)}"
            )
        raw["model"] = {k: v for k, v in model.items() if k not in ignored}
    if schema.upgrade is not None:
        raw = schema.upgrade(raw)
    sections = {key: convert(cls, raw.pop(key, None), key) for key, cls in schema.sections.items()}
    evals = raw.pop("evals", None) or []
    if not isinstance(evals, list):
        raise ConfigError(f"evals must be a list of evaluators like [{{type: fid, every: 10}}], got {evals!r}")
    cfg = from_dict(Config, raw)
    cfg.sections = sections
    cfg.evals = [parse_eval(entry, i, schema.name) for i, entry in enumerate(evals)]
    return cfg


def parse_eval(entry: Any, index: int, task: str) -> EvalConfig:
    """One ``evals`` entry -> EvalConfig with its evaluator's typed options."""
    key = f"evals[{index}]"
    if not isinstance(entry, dict) or "type" not in entry:
        raise ConfigError(f"{key} must be a mapping with a type, e.g. {{type: fid, every: 10}}; got {entry!r}")
    entry = dict(entry)
    name = entry.pop("type")
    if not isinstance(name, str) or name not in EVALUATOR_SCHEMAS:
        close = difflib.get_close_matches(str(name), list(EVALUATOR_SCHEMAS), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ConfigError(f"{key}.type={name!r} is not an evaluator.{hint} Known: {', '.join(sorted(EVALUATOR_SCHEMAS))}")
    schema = EVALUATOR_SCHEMAS[name]
    if task not in schema.tasks:
        raise ConfigError(f"{key}: evaluator {name} works with task {' or '.join(schema.tasks)}, not {task}")
    every = convert(int, entry.pop("every", 1), f"{key}.every")
    prefix = convert(str | None, entry.pop("prefix", None), f"{key}.prefix")
    if every < 0:
        raise ConfigError(f"{key}.every={every} must be >= 0 (0: once, after the last epoch)")
    return EvalConfig(type=name, every=every, prefix=prefix, options=from_dict(schema.options, entry, f"{key}."))


def apply_override(raw: dict[str, Any], item: str) -> None:
    """``"optim.lr=1e-3"`` -> raw["optim"]["lr"] = 0.001 (the value is parsed as YAML)."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not of the form key.sub=value (e.g. model.patch_size=2)")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    except Exception as e:  # a YAML tag that cannot build its value ("!!int abc", "!!timestamp x") fails in many ways
        raise ConfigError(f"override {item!r}: the value {value!r} cannot be read ({type(e).__name__})") from None
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = parsed


def from_dict(cls: type, data: Any, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, converting each field to its annotation."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), names, n=3)
        hint = f" Did you mean {', '.join(prefix + c for c in close)}?" if close else ""
        raise ConfigError(f"unknown key {prefix}{key}.{hint} Valid keys here: {', '.join(names)}")
    kwargs = {name: convert(hints[name], data[name], f"{prefix}{name}") for name in names if name in data}
    return cls(**kwargs)


def convert(tp: Any, value: Any, key: str) -> Any:
    """Convert ``value`` to annotation ``tp`` (dataclass, Optional, Literal, list, dict, scalars)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:  # free-form (a deviation's values): kept as YAML read it
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value if value is not None else {}, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return convert(inner[0], value, key)
        for option in inner:  # e.g. Literal["auto"] | int: the first member that takes the value
            with contextlib.suppress(ConfigError):
                return convert(option, value, key)
        kinds = [" or ".join(map(str, typing.get_args(a))) if typing.get_origin(a) is Literal else a.__name__ for a in inner]
        raise ConfigError(f"{key}={value!r} must be {' or '.join(kinds)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}={value!r} is not a valid choice; choose one of: {', '.join(map(str, args))}")
        return value
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list like [1, 2], got {value!r}")
        return [convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return {str(k): convert(args[1], v, f"{key}.{k}") for k, v in value.items()}
    return _scalar(tp, value, key)


def _scalar(tp: type, value: Any, key: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= 2**63:
                raise ConfigError(f"{key}={value} is out of range (an integer below 2^63)")
            return value
    elif tp is float:
        number = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is not None:
            if not math.isfinite(number):
                raise ConfigError(f"{key}={value!r} must be a finite number")
            return number
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    else:
        raise ConfigError(f"{key}: unsupported annotation {tp!r}")
    raise ConfigError(f"{key} must be a {tp.__name__}, got {value!r} ({type(value).__name__})")


# ---- validation ---------------------------------------------------------------------------------


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(cfg: Config) -> None:
    """Range and consistency checks that types alone cannot express: each section's, then the task's own."""
    validate_model(cfg.model)
    validate_data(cfg.data)
    validate_augment(cfg.augment, cfg.model, cfg.train)
    validate_optim(cfg.optim)
    validate_train(cfg.train)
    schema = task_schema(cfg.task)
    validate_task_features(cfg, schema)
    if schema.validate is not None:
        schema.validate(cfg)


def validate_model(m: ModelConfig) -> None:
    """The ``model`` section: sizes, ratios and the pooling it needs."""
    for key, value in [("model.patch_size", m.patch_size), ("model.embed_dim", m.embed_dim), ("model.depth", m.depth)]:
        _check(value is None or value >= 1, f"{key}={value} must be >= 1")
    _check(m.num_heads is None or m.num_heads >= 1, f"model.num_heads={m.num_heads} must be >= 1")
    _check(m.pos_embed_std > 0, f"model.pos_embed_std={m.pos_embed_std} must be > 0")
    _check(0 < m.mlp_ratio <= 64, f"model.mlp_ratio={m.mlp_ratio} must be in (0, 64]")
    for key, value, most in [("model.embed_dim", m.embed_dim, 65536), ("model.depth", m.depth, 1024),
                             ("model.num_heads", m.num_heads, 1024), ("model.patch_size", m.patch_size, 1024)]:  # fmt: skip
        _check(value is None or value <= most, f"{key}={value} is larger than any model this toolkit builds (at most {most})")
    _check(0 < m.token_keep <= 1, f"model.token_keep={m.token_keep} must be in (0, 1]")
    _check(m.token_keep_epochs is None or m.token_keep_epochs >= 1,
           f"model.token_keep_epochs={m.token_keep_epochs} must be >= 1 or null")  # fmt: skip
    _check(m.token_keep_epochs is None or m.token_keep < 1,
           "model.token_keep_epochs is set but model.token_keep=1.0 drops no token: "
           "set model.token_keep < 1 or drop it")  # fmt: skip
    _check(m.global_pool == "avg" or m.class_token, "model.global_pool=token needs model.class_token=true")
    for key in ("drop_rate", "drop_path_rate"):
        _check(0.0 <= getattr(m, key) < 1.0, f"model.{key}={getattr(m, key)} must be in [0, 1)")
    _check(m.head_init_std is None or m.head_init_std > 0, f"model.head_init_std={m.head_init_std} must be > 0 or null")


def validate_data(d: DataConfig) -> None:
    """The ``data`` section: input size, loader workers, limits and the pixel permutation."""
    _check(len(d.img_size) == 2 and min(d.img_size) >= 1, f"data.img_size={d.img_size} must be [height, width]")
    _check(d.num_workers >= 0, f"data.num_workers={d.num_workers} must be >= 0")
    for key in ("limit_train", "limit_eval"):
        _check(getattr(d, key) is None or getattr(d, key) >= 1, f"data.{key} must be >= 1 or null")
    _check(0.0 <= d.val_fraction < 1.0, f"data.val_fraction={d.val_fraction} must be in [0, 1) (0: no validation split)")
    _check(d.val_fraction == 0 or d.val_split is None,
           "data.val_fraction and data.val_split both name a validation set: keep one")  # fmt: skip
    _check(d.val_split is None or d.val_split not in (d.eval_split, d.train_split),
           f"data.val_split={d.val_split} is also the {'evaluation' if d.val_split == d.eval_split else 'training'} "
           "split: choose weights on a split of their own (or data.val_fraction, held out of the training split)")  # fmt: skip
    _check(0 <= d.val_seed < 2**63, f"data.val_seed={d.val_seed} must be in [0, 2^63)")
    _check(d.permute_pairs >= 0, f"data.permute_pairs={d.permute_pairs} must be >= 0 (0: no permutation)")
    _check(d.permute_delta is None or d.permute_delta >= 1,
           f"data.permute_delta={d.permute_delta} must be >= 1 pixel, or null for any distance")  # fmt: skip
    height, width = d.img_size
    _check(
        2 * d.permute_pairs <= height * width,
        f"data.permute_pairs={d.permute_pairs} disjoint swaps need {2 * d.permute_pairs} pixels, but a "
        f"{height}x{width} image has {height * width} (at most {height * width // 2} pairs)",
    )
    _check(0 < d.crop_pct <= 1, f"data.crop_pct={d.crop_pct} must be in (0, 1] (timm/MAE evaluate at 0.875)")
    _check(d.source_size is None or d.source_size >= max(d.img_size),
           f"data.source_size={d.source_size} must be at least the training size {max(d.img_size)} "
           "(crops are downsampled from it)")  # fmt: skip


def validate_augment(a: AugmentConfig, m: ModelConfig, t: TrainConfig) -> None:
    """The ``augment`` section, and what it asks of the batch size and the tokenizer."""
    _check(
        len(a.crop_scale) == 2 and 0 < a.crop_scale[0] <= a.crop_scale[1] <= 1,
        f"augment.crop_scale={a.crop_scale} must be [lo, hi] in (0, 1]",
    )
    for key in ("hflip", "grayscale", "random_erasing", "label_smoothing"):
        _check(0.0 <= getattr(a, key) <= 1.0, f"augment.{key}={getattr(a, key)} must be in [0, 1]")
    for key in ("mixup", "cutmix", "color_jitter"):
        _check(getattr(a, key) >= 0.0, f"augment.{key}={getattr(a, key)} must be >= 0")
    _check(0 <= a.randaugment_magnitude <= 30, f"augment.randaugment_magnitude={a.randaugment_magnitude} must be in 0..30")
    _check(0 <= a.randaugment_ops <= 16, f"augment.randaugment_ops={a.randaugment_ops} must be in 0..16")
    _check(not a.randaugment or a.randaugment.startswith("rand-"),
           f"augment.randaugment={a.randaugment!r} must be a timm RandAugment string like rand-m9-mstd0.5-inc1, "
           "or empty")  # fmt: skip
    _check(not (a.randaugment and a.randaugment_ops), "augment.randaugment (timm) and augment.randaugment_ops "
           "(torchvision) are two RandAugments: set one of them")  # fmt: skip
    _check(a.crop_padding >= 0, f"augment.crop_padding={a.crop_padding} must be >= 0")
    _check(
        (a.mixup == 0 and a.cutmix == 0) or t.batch_size % 2 == 0,
        f"augment.mixup/cutmix pair each image with another of its batch: train.batch_size={t.batch_size} must be even",
    )
    _check(
        m.tokenizer != "dictionary" or (a.mixup == 0 and a.random_erasing == 0),
        "augment.mixup and augment.random_erasing make non-integer pixels, which model.tokenizer=dictionary "
        "cannot look up; set them to 0 (cutmix keeps pixel values and is allowed)",
    )


def validate_optim(o: OptimConfig) -> None:
    """The ``optim`` section: learning rates, decay, betas, warm-up, clipping."""
    _check(o.lr is None or o.lr > 0, f"optim.lr={o.lr} must be > 0")
    _check(o.blr > 0 and o.min_lr >= 0, "optim.blr must be > 0 and optim.min_lr >= 0")
    _check(o.weight_decay >= 0, f"optim.weight_decay={o.weight_decay} must be >= 0")
    _check(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas), f"optim.betas={o.betas} must be two values in [0, 1)")
    _check(o.warmup_epochs >= 0, f"optim.warmup_epochs={o.warmup_epochs} must be >= 0")
    _check(o.clip_grad is None or o.clip_grad > 0, f"optim.clip_grad={o.clip_grad} must be > 0 or null")
    _check(o.lr is None or o.min_lr <= o.lr, f"optim.min_lr={o.min_lr} must not exceed optim.lr={o.lr}")
    _check(o.layer_decay is None or 0.0 < o.layer_decay <= 1.0, f"optim.layer_decay={o.layer_decay} must be in (0, 1] or null")


def validate_train(t: TrainConfig) -> None:
    """The ``train`` section: length, seed, kernels, scale-out, checkpoints, device."""
    _check(t.epochs >= 1, f"train.epochs={t.epochs} must be >= 1")
    _check(0 <= t.seed < 2**63, f"train.seed={t.seed} must be in [0, 2^63)")
    _check(t.compile == "auto" or isinstance(t.compile, bool), f"train.compile={t.compile!r}: choose auto, true or false")
    _check(t.threads == "auto" or t.threads >= 1, f"train.threads={t.threads} must be auto or a number >= 1")
    _check(t.max_consecutive_skips >= 1, f"train.max_consecutive_skips={t.max_consecutive_skips} must be >= 1")
    _check(t.dist_timeout_s > 0, f"train.dist_timeout_s={t.dist_timeout_s} must be > 0")
    _check(t.batch_size >= 1 and t.accum_steps >= 1, "train.batch_size and train.accum_steps must be >= 1")
    _check(t.max_steps is None or t.max_steps >= 1, f"train.max_steps={t.max_steps} must be >= 1 or null")
    _check(t.sdpa_backend in ("auto", "math", "flash") or not t.device.startswith("cpu"),
           f"train.sdpa_backend={t.sdpa_backend} has no CPU kernel: choose auto, math or flash on {t.device}")  # fmt: skip
    _check(t.context_parallel >= 1, f"train.context_parallel={t.context_parallel} must be >= 1")
    _check(t.ema_decay is None or 0 < t.ema_decay < 1, f"train.ema_decay={t.ema_decay} must be in (0, 1) or null")
    _check(t.eval_every >= 1 and t.log_every_steps >= 1, "train.eval_every and train.log_every_steps must be >= 1")
    _check(
        t.keep_checkpoints >= 1 and t.checkpoint_every_steps >= 0,
        "train.keep_checkpoints must be >= 1, checkpoint_every_steps >= 0",
    )
    _check(
        not (t.fsdp and t.ema_decay), "train.fsdp with train.ema_decay is not supported yet; use DDP (train.fsdp=false) for EMA"
    )
    _check(t.device in ("auto", "cpu") or t.device.startswith("cuda"), f"train.device={t.device!r}: choose auto, cpu or cuda[:N]")


def validate_task_features(cfg: Config, schema: TaskSchema) -> None:
    """``train.stages`` and ``train.context_parallel`` only for a task that implements them (its schema says so);
    their own checks are that task's."""
    t = cfg.train
    for key, used, implements, phrase in [
        ("train.stages", bool(t.stages), "stages", "works with"),
        ("train.context_parallel", t.context_parallel > 1, "context_parallel", "is implemented for"),
    ]:
        tasks = " or ".join(name for name, other in TASK_SCHEMAS.items() if getattr(other, implements))
        _check(not used or getattr(schema, implements), f"{key} {phrase} task {tasks}, not {cfg.task}")

"""Config loading: YAML + overrides, types, choices, ranges, and errors that name the key."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelvit.config import Config, ConfigError, load_config


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_defaults_and_overrides(tmp_path):
    path = write(tmp_path, "model:\n  name: vit_s/1\noptim:\n  blr: 5.0e-4\n")
    cfg = load_config(path, ["model.patch_size=2", "optim.lr=1e-3", "data.img_size=[32, 32]", "train.ema_decay=null"])
    assert isinstance(cfg, Config)
    assert cfg.model.name == "vit_s/1" and cfg.model.patch_size == 2
    assert cfg.optim.lr == 0.001 and cfg.optim.blr == 5e-4  # "1e-3" (YAML string) becomes a float
    assert cfg.data.img_size == [32, 32] and cfg.train.ema_decay is None
    assert cfg.run_dir == "runs/exp"


@pytest.mark.parametrize(
    "override,match",
    [
        ("model.pach_size=2", r"unknown key model\.pach_size\. Did you mean model\.patch_size"),
        ("optimizer.lr=1", r"unknown key optimizer\. Did you mean optim"),
        ("model.patch_size=two", r"model\.patch_size must be a int, got 'two'"),
        ("model.pos_embed=rope", r"model\.pos_embed='rope' is not a valid choice; choose one of: learned, sincos, none"),
        ("train.precision=fp16", "choose one of: auto, fp32, bf16"),
        ("optim.lr=-1", r"optim\.lr=-1\.0 must be > 0"),
        ("model.drop_path_rate=1.5", r"drop_path_rate=1\.5 must be in \[0, 1\)"),
        ("model.name=vit_q/1", "model.name: unknown model 'vit_q/1'"),
        ("data.img_size=32", r"data\.img_size must be a list"),
        ("model.class_token=maybe", r"model\.class_token must be a bool"),
        ("train.batch_size", "not of the form key.sub=value"),
        ("model.class_token=false", "global_pool=token needs model.class_token=true"),
    ],
)
def test_bad_values_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


def test_dictionary_tokenizer_refuses_mixup():
    with pytest.raises(ConfigError, match="tokenizer=dictionary"):
        load_config(None, ["model.tokenizer=dictionary", "augment.mixup=0.8"])
    assert load_config(None, ["model.tokenizer=dictionary", "augment.cutmix=1.0"]).augment.cutmix == 1.0


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "model: [unclosed"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
    # a safe loader: no Python objects from YAML tags
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "model: !!python/object/apply:os.system ['echo hacked']\n"))


KEYS = [
    "model.patch_size",
    "model.depth",
    "optim.lr",
    "train.epochs",
    "augment.hflip",
    "data.img_size",
    "model.pos_embed",
    "nope.x",
]
VALUES = st.one_of(
    st.integers(-5, 100),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-2, 64), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(KEYS), VALUES)
def test_fuzzed_overrides_either_load_or_raise_config_error(key, value):
    """Whatever the value, loading gives a valid Config or a ConfigError: never another exception."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    try:
        cfg = load_config(None, [f"{key}={text}"])
    except ConfigError as e:
        assert key.split(".")[0] in str(e) or "override" in str(e)
    else:
        assert isinstance(cfg, Config)


# ---- sections per task -------------------------------------------------------------------------


def test_a_classification_config_holds_only_its_own_sections():
    saved = load_config(None, []).to_dict()
    assert set(saved) == {"task", "run_dir", "model", "data", "augment", "optim", "train", "paper"}
    depth = load_config(None, ["task=depth", "data.name=depth_folder", "depth.loss=l1"])
    assert depth.depth.loss == "l1" and "depth" in depth.to_dict() and "mae" not in depth.to_dict()
    with pytest.raises(AttributeError, match="a classify run has no 'depth' section"):
        _ = load_config(None, []).depth


def test_another_tasks_section_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="depth is the section of task depth, but this config's task is classify"):
        load_config(None, ["depth.loss=l1"])
    with pytest.raises(ConfigError, match=r"task='clasify' is not a task\. Did you mean classify\?"):
        load_config(None, ["task=clasify"])


def test_a_model_field_the_family_does_not_read_is_refused():
    base = ["task=diffusion", "model.name=dit_s/1"]
    with pytest.raises(ConfigError, match=r"model\.tokenizer does not apply to the dit family \(task diffusion\)"):
        load_config(None, [*base, "model.tokenizer=dictionary", "model.global_pool=avg"])
    cfg = load_config(None, base)
    assert set(cfg.to_dict()["model"]) == {
        "name",
        "patch_size",
        "embed_dim",
        "depth",
        "num_heads",
        "mlp_ratio",
        "grad_checkpointing",
    }
    with pytest.raises(ConfigError, match=r"task diffusion trains dit_\* models; model\.name=vit_t/1 is a vit model"):
        load_config(None, ["task=diffusion", "model.name=vit_t/1"])


def test_configs_saved_by_earlier_versions_still_parse():
    """Earlier versions saved every task's section and every model field; reading them drops what the task ignores."""
    from pixelvit.config import parse_config

    old = load_config(None, ["task=diffusion", "model.name=dit_s/1"]).to_dict()
    old.update(depth={"loss": "silog"}, mae={"mask_ratio": 0.75})
    old["model"].update(tokenizer="linear", global_pool="token")
    with pytest.raises(ConfigError):
        parse_config(old)
    cfg = parse_config(old, strict=False)
    assert cfg.task == "diffusion" and cfg.diffusion.space == "pixel" and "depth" not in cfg.to_dict()


def test_evals_entries_are_typed_and_checked():
    cfg = load_config(None, ["evals=[{type: attention_distance, every: 0, num_images: 8}]"])
    (entry,) = cfg.evals
    assert entry.type == "attention_distance" and entry.every == 0 and entry.options.num_images == 8
    assert cfg.to_dict()["evals"] == [{"type": "attention_distance", "every": 0, "prefix": None, "num_images": 8,
                                        "batch_size": 16, "seed": 0}]  # fmt: skip
    for value, match in [
        (
            "[{type: attention_distanse}]",
            r"evals\[0\]\.type='attention_distanse' is not an evaluator\. Did you mean attention_distance",
        ),
        ("[{type: fid}]", r"evals\[0\]: evaluator fid works with task diffusion, not classify"),
        (
            "[{type: attention_distance, num_image: 8}]",
            r"unknown key evals\[0\]\.num_image\. Did you mean evals\[0\]\.num_images",
        ),
        ("[{type: attention_distance, every: -1}]", r"evals\[0\]\.every=-1 must be >= 0"),
        ("{type: fid}", "evals must be a list"),
    ]:
        with pytest.raises(ConfigError, match=match):
            load_config(None, [f"evals={value}"])


def all_keys() -> list[tuple[str, str]]:
    """(task, dotted key) of every field of every section, core and per task."""
    import dataclasses

    from pixelvit.config import TASK_SCHEMAS, AugmentConfig, DataConfig, ModelConfig, OptimConfig, TrainConfig

    core = {"model": ModelConfig, "data": DataConfig, "augment": AugmentConfig, "optim": OptimConfig, "train": TrainConfig}
    out = [("classify", f"{s}.{f.name}") for s, cls in core.items() for f in dataclasses.fields(cls)]
    for name, schema in TASK_SCHEMAS.items():
        out += [(name, f"{s}.{f.name}") for s, cls in schema.sections.items() for f in dataclasses.fields(cls)]
    return out


RAW_VALUES = st.one_of(
    st.sampled_from(
        [
            "!!timestamp x",
            "!!bool maybe",
            "!!int abc",
            "!!float zz",
            "!!binary @@",
            "[1, [2",
            "{a: 1",
            "1e400",
            "-1e400",
            ".nan",
            ".inf",
            "0x1F",
            "1_000",
            "~",
            "",
            "'",
            "yes",
            "1e20",
            "2**64",
            "[]",
            "{}",
            "!!python/name:os.system",
            "&a [*a]",
            "9" * 30,
        ]
    ),
    st.text(max_size=12),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
FUZZ_EXAMPLES = int(os.environ.get("PIXELVIT_FUZZ_EXAMPLES", "10000"))  # ~10 s on 2 cores


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.sampled_from(all_keys()), RAW_VALUES, st.sampled_from(["", "x.", ".", " "]))
def test_fuzzed_raw_overrides_never_raise_anything_but_config_error(task_key, value, junk):
    """Any text after any key of any section (and mangled keys) loads or raises ConfigError: never another
    exception. A longer run: PIXELVIT_FUZZ_EXAMPLES=100000 pytest tests/test_config.py -k fuzzed."""
    task, key = task_key
    base = {"depth": ["data.name=depth_folder"], "diffusion": ["model.name=dit_s/1"]}.get(task, [])
    try:
        cfg = load_config(None, [f"task={task}", *base, f"{junk}{key}={value}"])
    except ConfigError:
        pass
    else:
        assert isinstance(cfg, Config)


SCALARS = st.one_of(st.integers(-3, 300), st.floats(allow_nan=True), st.text(max_size=4), st.booleans(), st.none())
SHAPES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6
)
EVAL_ENTRIES = st.lists(
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(["fid", "attention_distance"]), SHAPES)},
        optional={"every": SHAPES, "prefix": SHAPES, "num_images": SHAPES},
    ),
    max_size=2,
)
TOP_KEYS = [("classify", k) for k in ("task", "evals", "run_dir", "model", "data", "train", "paper.metrics", "paper.table")]


@settings(max_examples=max(200, FUZZ_EXAMPLES // 5), deadline=None)
@given(st.sampled_from(all_keys() + TOP_KEYS), st.one_of(SHAPES, EVAL_ENTRIES))
def test_fuzzed_shapes_where_scalars_are_expected_raise_only_config_error(task_key, value):
    """Mappings and lists (nested) where a scalar is expected, and the other way round, in every key, the task
    and the ``evals`` entries: a valid Config or a ConfigError, never another exception (``task={a: 1}`` and
    ``evals=[{type: {}}]`` used to raise TypeError: unhashable type)."""
    import yaml

    task, key = task_key
    base = {"depth": ["data.name=depth_folder"], "diffusion": ["model.name=dit_s/1"]}.get(task, [])
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()
    try:
        cfg = load_config(None, [f"task={task}", *base, f"{key}={text}"])
    except ConfigError:
        pass
    else:
        assert isinstance(cfg, Config)


@pytest.mark.parametrize("override", ["task={a: 1}", "task=[1]", "evals=[{type: {}}]", "evals=[{type: [1]}]"])
def test_a_mapping_or_list_for_a_name_is_a_config_error(override):
    with pytest.raises(ConfigError, match=r"is not a task|is not an evaluator"):
        load_config(None, [override])

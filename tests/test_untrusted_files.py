"""Nothing executes code from a file a user hands pixelvit: a pickle that would run a command on load is
refused, with a clear error, by every loader that reads user files."""

import contextlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from pixelvit.commands import main

PWNED = "pwned.txt"


class Evil:
    def __reduce__(self):
        return (os.system, (f"echo pwned > {PWNED}",))


def evil_file(path: Path, payload=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(payload if payload is not None else {"model": Evil(), "state_dict": Evil()}, f)
    return path


def load_checkpoint_file(tmp_path):
    from pixelvit.engine.checkpoint import load_checkpoint

    load_checkpoint(evil_file(tmp_path / "step_00000001.pt"))


def resume_from_run_dir(tmp_path):
    from pixelvit.engine.checkpoint import latest_valid_checkpoint

    evil_file(tmp_path / "run" / "checkpoints" / "step_00000001.pt")
    with pytest.warns(UserWarning, match="could run code"):
        assert latest_valid_checkpoint(tmp_path / "run") is None
    raise ValueError("skipped")  # the loader refused it (and says so in a warning)


def init_from_file(tmp_path):
    from pixelvit.engine.init_from import init_encoder_from
    from pixelvit.models import create_model

    init_encoder_from(create_model("vit_t/2", img_size=8, embed_dim=16, depth=1, num_heads=2), evil_file(tmp_path / "mae.pth"))


def dit_reference_checkpoint(tmp_path):
    from pixelvit.models.dit import load_reference_checkpoint

    load_reference_checkpoint(evil_file(tmp_path / "DiT-XL-2-256x256.pt"))


def inception_logits(tmp_path):
    from pixelvit.metrics.features import _load_logits_weight

    _load_logits_weight(evil_file(tmp_path / "pt_inception.pth"))


def cifar_pickle(tmp_path):
    from pixelvit.data.safepickle import load_restricted

    load_restricted(evil_file(tmp_path / "cifar-100-python" / "train", {"data": Evil()}))


def latent_labels(tmp_path):
    np.save(tmp_path / "lat.npy", np.zeros((2, 4, 2, 2), np.float32))
    np.save(tmp_path / "lat.labels.npy", np.array([Evil(), Evil()], dtype=object), allow_pickle=True)
    (tmp_path / "lat.json").write_text('{"num_classes": 2, "scale": 0.18215, "flip": false}')
    from pixelvit.data.latents import LatentDataset

    LatentDataset(tmp_path / "lat.npy")


def eval_command_on_a_pickled_checkpoint(tmp_path):
    code = main(["eval", str(evil_file(tmp_path / "step_00000001.pt")), "--device", "cpu"])
    assert code == 2
    raise ValueError("refused by the command with exit code 2")


LOADERS = [load_checkpoint_file, resume_from_run_dir, init_from_file, dit_reference_checkpoint, inception_logits,
           cifar_pickle, latent_labels, eval_command_on_a_pickled_checkpoint]  # fmt: skip


@pytest.mark.parametrize("loader", LOADERS, ids=lambda f: f.__name__)
def test_a_code_carrying_pickle_is_refused_and_runs_nothing(loader, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises((ValueError, RuntimeError, pickle.UnpicklingError)):
        loader(tmp_path)
    assert not (tmp_path / PWNED).exists()


# ---- symbolic links: nothing outside the run is read, written or truncated through one ----------

SECRET = "token: hunter2\n"


def tiny_model():
    from pixelvit.models import create_model

    return create_model("vit_t/2", img_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=10, in_chans=1)


def fabricated_run(root: Path) -> Path:
    """A finished run directory without training: final/ model files and a config.yaml."""
    import yaml

    from pixelvit import save_pretrained
    from pixelvit.config import load_config

    save_pretrained(tiny_model(), root / "final")
    (root / "config.yaml").write_text(yaml.safe_dump(load_config(None, ["data.name=digits", "model.name=vit_t/2"]).to_dict()))
    return root


def test_a_lock_file_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    """D1: the lock used to open .lock with open(..., "a+"), following the link, and truncate the target on exit."""
    from pixelvit.engine.run_dir import RunDirLock
    from pixelvit.io import UnsafeFileError

    victim = tmp_path / "victim.txt"
    victim.write_text(SECRET)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").symlink_to(victim)
    with contextlib.suppress(UnsafeFileError), RunDirLock(tmp_path / "run"):
        pass
    assert victim.read_text() == SECRET, "the lock wrote through the link"
    with pytest.raises(UnsafeFileError, match=r"\.lock is a symbolic link"), RunDirLock(tmp_path / "run"):
        pass


def test_a_lock_file_hard_linked_to_another_file_is_refused_and_that_file_untouched(tmp_path):
    from pixelvit.engine.run_dir import RunDirLock
    from pixelvit.io import UnsafeFileError

    victim = tmp_path / "victim.txt"
    victim.write_text(SECRET)
    (tmp_path / "run").mkdir()
    os.link(victim, tmp_path / "run" / ".lock")
    with pytest.raises(UnsafeFileError, match="other hard link"), RunDirLock(tmp_path / "run"):
        pass
    assert victim.read_text() == SECRET


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_lock_that_is_no_regular_file_is_refused(tmp_path, kind):
    from pixelvit.engine.run_dir import RunDirLock
    from pixelvit.io import UnsafeFileError

    (tmp_path / "run").mkdir()
    os.mkfifo(tmp_path / "run" / ".lock") if kind == "fifo" else (tmp_path / "run" / ".lock").mkdir()
    with pytest.raises(UnsafeFileError), RunDirLock(tmp_path / "run"):
        pass


def test_a_metrics_log_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    from pixelvit.engine.logging import MetricWriter
    from pixelvit.io import UnsafeFileError

    victim = tmp_path / "victim.txt"
    victim.write_text(SECRET)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").symlink_to(victim)
    for resume_step in (None, 3):
        with pytest.raises(UnsafeFileError, match=r"metrics\.jsonl is a symbolic link"):
            MetricWriter(tmp_path / "run", tensorboard=False, resume_step=resume_step)
    assert victim.read_text() == SECRET


@pytest.mark.parametrize("linked", ["config.yaml", "final/model.safetensors", "final/config.json", "final"])
def test_push_copies_only_regular_files_never_a_links_target(tmp_path, linked):
    """D3: push used to copy a symlinked config.yaml's target (e.g. a credentials file) into the upload folder."""
    from pixelvit.engine.publish import write_repo_folder

    run = fabricated_run(tmp_path / "run")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = run / linked
    moved = elsewhere / target.name
    target.rename(moved)
    if linked == "config.yaml":
        moved.write_text("task: classify\ndata: {name: digits}\nsecret: hunter2\n")  # a credentials file that parses
    target.symlink_to(moved)
    out = tmp_path / "hub"
    with pytest.raises(ValueError, match=f"{linked} is a symbolic link"):
        write_repo_folder(run, "lab/model", out)
    copied = [p.read_bytes() for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert not any(b"hunter2" in data for data in copied)
    assert main(["push", str(run), "lab/model", "--dry-run", "--out", str(out)]) == 2


def test_export_refuses_a_symlinked_model_file(tmp_path):
    run = fabricated_run(tmp_path / "run")
    (run / "final" / "model.safetensors").rename(tmp_path / "other.safetensors")
    (run / "final" / "model.safetensors").symlink_to(tmp_path / "other.safetensors")
    for source in (run, run / "final"):
        with pytest.raises(ValueError, match=r"model\.safetensors is a symbolic link"):
            from pixelvit.engine.publish import export_to_timm

            export_to_timm(source, tmp_path / "timm")
    assert not (tmp_path / "timm").exists()


# ---- hostile model sources: refused in one line naming the file and field, never "unexpected" --------


def model_dir_with(root: Path, text: str | bytes | None = None, weights=None) -> Path:
    """A model directory whose config.json is ``text`` (default: the tiny model's) and weights ``weights``."""
    from safetensors.torch import save_file

    from pixelvit import save_pretrained

    save_pretrained(tiny_model(), root)
    if text is not None:
        (root / "config.json").write_bytes(text.encode() if isinstance(text, str) else text)
    if weights is not None:
        save_file(weights, str(root / "model.safetensors"))
    return root


def description(**config) -> str:
    import json

    base = {"img_size": [8, 8], "patch_size": 2, "in_chans": 1, "embed_dim": 16, "depth": 1, "num_heads": 2, "num_classes": 10}
    return json.dumps({"architecture": "vit", "config": {**base, **config}})


def tensors(transform):

    return {k: transform(v) for k, v in tiny_model().state_dict().items()}


HOSTILE_CONFIGS = {
    "51 GB (embed_dim x depth)": (
        description(embed_dim=65536, depth=1024, num_heads=1024),
        r"GiB limit .*PIXELVIT_MAX_MODEL_GIB",
    ),
    "4 TB (mlp_ratio)": (description(mlp_ratio=1e9), r"config\.mlp_ratio=1000000000\.0 must be a number in \(0, 64\]"),
    "negative mlp_ratio": (description(mlp_ratio=-2), r"config\.mlp_ratio=-2"),
    "34 GB (img_size 16384², p=1)": (description(img_size=[16384, 16384], patch_size=1), r"img_size=\[16384, 16384\].*GiB limit"),
    "drop_path_rate 5.0": (description(drop_path_rate=5.0), r"config\.drop_path_rate=5\.0 must be a number in \[0, 1\)"),
    "a mapping for a size": (description(embed_dim={"a": 1}), r"config\.embed_dim=\{'a': 1\} must be an integer"),
    "a list for a ratio": (description(mlp_ratio=[4]), r"config\.mlp_ratio=\[4\]"),
    "nan ratio": (description(mlp_ratio=float("nan")), r"config\.mlp_ratio=nan"),
    "deep nesting": ('{"architecture": "vit", "config": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
    "moderate nesting": ('{"architecture": "vit", "config": {"a": ' + "[" * 500 + "]" * 500 + "}}", "nested"),
    "a list-shaped file": ("[1, 2]", "must hold a JSON object"),
    "a list-shaped config": ('{"architecture": "vit", "config": [1]}', "a model description is"),
    "a 2 MB file": ('{"architecture": "vit", "config": {}, "pad": "' + "x" * 2_000_000 + '"}', "a model description is at most"),
    "not utf-8": (b"\xff\xfe{", "not valid JSON"),
}


@pytest.mark.parametrize("case", list(HOSTILE_CONFIGS), ids=list(HOSTILE_CONFIGS))
def test_a_hostile_config_json_is_refused_before_anything_is_allocated(tmp_path, case, capsys):
    from pixelvit import from_pretrained

    text, match = HOSTILE_CONFIGS[case]
    directory = model_dir_with(tmp_path / "m", text)
    with pytest.raises(ValueError, match=match) as caught:
        from_pretrained(directory)
    assert "config.json" in str(caught.value) and len(str(caught.value).splitlines()) == 1
    assert main(["export", "--to", "timm", str(directory), str(tmp_path / "out")]) == 2
    assert "unexpected" not in capsys.readouterr().err


def test_the_budget_is_raised_by_the_environment_variable_it_names(tmp_path, monkeypatch):
    from pixelvit import from_pretrained

    directory = model_dir_with(tmp_path / "m", description(embed_dim=64, num_heads=2))
    monkeypatch.setenv("PIXELVIT_MAX_MODEL_GIB", "0.0001")
    with pytest.raises(ValueError, match=r"over the 0\.0001 GiB limit"):
        from_pretrained(directory)
    monkeypatch.setenv("PIXELVIT_MAX_MODEL_GIB", "lots")
    with pytest.raises(ValueError, match="PIXELVIT_MAX_MODEL_GIB='lots' must be a positive number"):
        from_pretrained(directory)
    monkeypatch.setenv("PIXELVIT_MAX_MODEL_GIB", "1")
    with pytest.raises(ValueError, match="does not hold the weights"):  # past the budget: the 16-wide weights do not fit
        from_pretrained(directory)


def _float8(v):
    import torch

    return v.to(torch.float8_e4m3fn) if v.is_floating_point() else v


def _nan(v):
    import torch

    return torch.full_like(v, float("nan")) if v.is_floating_point() else v


HOSTILE_WEIGHTS = {
    "bool": (lambda v: v > 0, "dtype torch.bool"),
    "int64": (lambda v: v.long(), "dtype torch.int64"),
    "complex": (lambda v: v.to(__import__("torch").complex64), "dtype torch.complex64"),
    "float8": (_float8, "dtype torch.float8_e4m3fn"),
    "nan": (_nan, "holds NaN or infinite values"),
}


@pytest.mark.parametrize("case", list(HOSTILE_WEIGHTS), ids=list(HOSTILE_WEIGHTS))
def test_weights_of_a_wrong_dtype_or_not_finite_are_refused_naming_the_tensor(tmp_path, case, capsys):
    from pixelvit import from_pretrained

    transform, match = HOSTILE_WEIGHTS[case]
    directory = model_dir_with(tmp_path / "m", weights=tensors(transform))
    with pytest.raises(ValueError, match=rf"model\.safetensors: tensor [\w.]+ .*{match}"):
        from_pretrained(directory)
    assert main(["export", "--to", "timm", str(directory), str(tmp_path / "out")]) == 2
    assert "unexpected" not in capsys.readouterr().err


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_weights_of_another_float_dtype_load_with_a_warning_naming_the_tensor(tmp_path, dtype):
    import torch

    from pixelvit import from_pretrained

    directory = model_dir_with(tmp_path / "m", weights=tensors(lambda v: v.to(getattr(torch, dtype))))
    with pytest.warns(UserWarning, match=rf"converting [\w.]+ \(torch\.{dtype}\).* to the model's torch.float32"):
        from_pretrained(directory)


def plain_state_dict(tmp_path):
    import torch

    torch.save(tiny_model().state_dict(), tmp_path / "weights.pth")
    return tmp_path / "weights.pth"


def checkpoint_without_description(tmp_path):
    import torch

    torch.save({"model": tiny_model().state_dict(), "config": {}}, tmp_path / "step_00000001.pt")
    return tmp_path / "step_00000001.pt"


def checkpoint_with_a_list_description(tmp_path):
    import torch

    torch.save({"model": tiny_model().state_dict(), "config": {}, "model_description": []}, tmp_path / "step_00000001.pt")
    return tmp_path / "step_00000001.pt"


def checkpoint_with_strings_for_weights(tmp_path):
    import json

    import torch

    description_ = json.loads(description())
    torch.save({"model": {"w": "x"}, "config": {}, "model_description": description_}, tmp_path / "step_00000001.pt")
    return tmp_path / "step_00000001.pt"


def checkpoint_with_an_integer_weight_name(tmp_path):
    import json

    import torch

    state = {"model": {1: torch.zeros(1)}, "config": {}, "model_description": json.loads(description())}
    torch.save(state, tmp_path / "step_00000001.pt")
    return tmp_path / "step_00000001.pt"


def checkpoint_with_a_malformed_config(tmp_path):
    import json

    import torch

    state = {"model": tiny_model().state_dict(), "config": {"model": 5}, "model_description": json.loads(description())}
    torch.save(state, tmp_path / "step_00000001.pt")
    return tmp_path / "step_00000001.pt"


@pytest.mark.parametrize(
    "make",
    [
        plain_state_dict,
        checkpoint_without_description,
        checkpoint_with_a_list_description,
        checkpoint_with_strings_for_weights,
        checkpoint_with_an_integer_weight_name,
        checkpoint_with_a_malformed_config,
    ],
    ids=lambda f: f.__name__,
)
@pytest.mark.parametrize("command", ["eval", "export"])
def test_a_checkpoint_that_is_no_pixelvit_training_checkpoint_is_a_usage_error(tmp_path, make, command, capsys):
    path = make(tmp_path)
    argv = (
        ["eval", str(path), "--device", "cpu"]
        if command == "eval"
        else ["export", "--to", "timm", str(path), str(tmp_path / "o")]
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unexpected" not in err and str(path.name) in err


def test_an_init_from_state_without_the_patch_bias_names_what_is_missing(tmp_path):
    """A timm / reference-MAE layout state without patch_embed.proj.bias used to end as a KeyError."""
    import torch

    from pixelvit.engine.init_from import init_encoder_from
    from pixelvit.models.timm_export import export_timm

    model = tiny_model()
    export_timm(model, tmp_path / "timm")
    from safetensors.torch import load_file

    state = load_file(str(tmp_path / "timm" / "model.safetensors"))
    del state["patch_embed.proj.bias"]
    torch.save({"model": state}, tmp_path / "mae.pth")
    with pytest.raises(ValueError, match=r"missing from the source \(1\): patch_embed\.proj\.bias"):
        init_encoder_from(tiny_model(), tmp_path / "mae.pth")


# ---- a full disk is a full disk, not a corrupt input ----------------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (writes fail with ENOSPC)")
def test_a_full_disk_while_writing_model_files_is_reported_as_a_full_disk(tmp_path, capsys, monkeypatch):
    """D7: safetensors' own writer turned ENOSPC into a SafetensorError, reported as a corrupt input (exit 2)."""
    import pixelvit.models.hub
    import pixelvit.models.timm_export
    from pixelvit import save_pretrained

    @contextlib.contextmanager
    def full_disk(path):
        link = tmp_path / f"full.{path.name}"  # writes through the link fail with ENOSPC; a rename replaces only the link
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/full")
        yield link

    save_pretrained(tiny_model(), tmp_path / "m")
    for module in (pixelvit.models.hub, pixelvit.models.timm_export):
        monkeypatch.setattr(module, "atomic_path", full_disk, raising=False)
    assert main(["export", "--to", "timm", str(tmp_path / "m"), str(tmp_path / "out")]) == 1
    assert "no space left on the disk" in capsys.readouterr().err
    with pytest.raises(OSError, match="No space left"):
        save_pretrained(tiny_model(), tmp_path / "again")


def test_run_names_and_config_strings_are_escaped_in_the_model_card(tmp_path):
    """D10: a run name or config string went raw into the Hub model card (Markdown that may allow HTML)."""
    import yaml

    from pixelvit.engine.publish import model_card

    payload = "<img src=x onerror=alert(1)>"
    run = fabricated_run(tmp_path / f"run`{payload}")
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"]["eval_split"] = payload
    config["paper"].update(table="<script>alert(2)</script>", recipe_source=f"[click](javascript:alert(3)) {payload}")
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    card = model_card(run, "lab/model")
    import re

    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", card, flags=re.S))  # code renders no HTML
    assert "<img" not in prose and "<script" not in prose and not re.search(r"(?<!\\)\]\(javascript", prose)
    assert "&lt;script&gt;" in card and "&lt;img src=x onerror=alert(1)&gt;" in card
    assert "run`" not in card  # a backtick in the name cannot close the code span it is shown in


# ---- fuzzed model descriptions: any shape in any field is a ValueError naming the file ---------------

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    FIELDS = ["img_size", "patch_size", "in_chans", "num_classes", "embed_dim", "depth", "num_heads", "mlp_ratio",
              "qkv_bias", "tokenizer", "pos_embed", "pos_embed_std", "global_pool", "class_token", "drop_rate",
              "attn_drop_rate", "drop_path_rate", "pixel_mean", "pixel_std", "nope"]  # fmt: skip
    SCALARS = st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=True), st.text(max_size=4), st.booleans(), st.none())
    SHAPES = st.recursive(
        SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
        max_leaves=5,
    )  # fmt: skip
    ARCHITECTURES = st.one_of(st.sampled_from(["vit", "mae", "dit", "dense_vit"]), SHAPES)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ARCHITECTURES, st.dictionaries(st.sampled_from(FIELDS), SHAPES, max_size=3))
    def test_fuzzed_model_descriptions_build_or_raise_a_value_error_naming_the_source(architecture, fields):
        """Scalars, lists and mappings in any constructor field of any family (and as the family): a small model or
        a ValueError naming the source; never another exception, never a large allocation."""
        from pixelvit.models.hub import build_from_description

        config = {"img_size": 8, "patch_size": 2, "embed_dim": 8, "depth": 1, "num_heads": 2, **fields}
        try:
            model = build_from_description({"architecture": architecture, "config": config}, "fuzz/config.json")
        except ValueError as e:
            assert "fuzz/config.json" in str(e)
        else:
            assert sum(p.numel() for p in model.parameters()) < 50_000_000


def test_a_dry_run_push_does_not_write_through_a_symlinked_hub_folder(tmp_path, capsys):
    run = fabricated_run(tmp_path / "run")
    (tmp_path / "elsewhere").mkdir()
    (run / "hub").symlink_to(tmp_path / "elsewhere")
    assert main(["push", str(run), "lab/model", "--dry-run"]) == 2
    assert "hub is a symbolic link" in capsys.readouterr().err
    assert list((tmp_path / "elsewhere").iterdir()) == []

"""What the tasks share (tasks/common.py): the model section as constructor arguments, for every task."""

import pytest

from pixelvit.config import load_config, task_schema
from pixelvit.models.registry import create_model, with_family
from pixelvit.tasks.common import model_kwargs

TASKS = {"classify": [], "depth": ["data.name=depth_folder"], "mae": [], "diffusion": ["model.name=dit_s/2"]}


@pytest.mark.parametrize("task", TASKS)
def test_model_kwargs_are_arguments_of_the_tasks_family(task):
    cfg = load_config(None, [f"task={task}", *TASKS[task]])
    schema = task_schema(task)
    kwargs = model_kwargs(cfg, schema.model_fields)
    assert "mlp_ratio" in kwargs and "patch_size" not in kwargs  # unset shape fields keep the preset's
    # the family's constructor takes every one of them (a TypeError names one it does not)
    model = create_model(with_family(cfg.model.name, schema.model_family), img_size=8, **kwargs, embed_dim=16, depth=1,
                         num_heads=2)  # fmt: skip
    assert {k: model.config[k] for k in kwargs} == kwargs


def test_model_kwargs_pass_a_set_shape_field_and_only_the_families_fields():
    cfg = load_config(None, ["model.patch_size=2", "model.embed_dim=48"])
    assert model_kwargs(cfg, task_schema("classify").model_fields) == {
        "patch_size": 2, "embed_dim": 48, "mlp_ratio": 4.0, "tokenizer": "linear", "pos_embed": "learned",
        "pos_embed_std": 0.02, "global_pool": "token", "class_token": True, "drop_rate": 0.0, "drop_path_rate": 0.1,
    }  # fmt: skip
    assert model_kwargs(cfg, ("name", "patch_size", "mlp_ratio", "grad_checkpointing")) == {"patch_size": 2, "mlp_ratio": 4.0}

"""train.sdpa_backend: which attention kernel a training step runs."""

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from pixelvit import create_model
from pixelvit.config import ConfigError, load_config
from pixelvit.engine.attention import sdpa_backend

pytestmark = pytest.mark.usefixtures("one_thread")
CPU_FLASH = "aten::_scaled_dot_product_flash_attention_for_cpu"


def kernels_of_a_step(backend: str) -> set[str]:
    model = create_model("vit_t/1", img_size=8, in_chans=1, num_classes=3, embed_dim=16, depth=1, num_heads=2)
    x = torch.randn(2, 1, 8, 8)
    with profile(activities=[ProfilerActivity.CPU]) as prof, sdpa_backend(backend):
        model(x).sum().backward()
    return {event.name for event in prof.events()}


def test_auto_and_flash_run_the_cpu_flash_kernel_and_math_does_not():
    assert CPU_FLASH in kernels_of_a_step("auto")
    assert CPU_FLASH in kernels_of_a_step("flash")
    math = kernels_of_a_step("math")
    assert CPU_FLASH not in math and "aten::_scaled_dot_product_attention_math" in math


def test_backends_without_a_cpu_kernel_are_refused_on_a_cpu():
    assert load_config(None, ["train.sdpa_backend=efficient", "train.device=cuda"]).train.sdpa_backend == "efficient"
    with pytest.raises(ConfigError, match=r"train.sdpa_backend=cudnn has no CPU kernel: choose auto, math or flash"):
        load_config(None, ["train.sdpa_backend=cudnn", "train.device=cpu"])
    with pytest.raises(ValueError, match="unknown SDPA backend 'fast'"):
        sdpa_backend("fast")

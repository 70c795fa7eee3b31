"""Which ``scaled_dot_product_attention`` kernel a training step uses (``train.sdpa_backend``).

"auto" leaves the choice to PyTorch, which picks per call from the device, dtype and shapes (on CUDA: cuDNN,
flash or memory-efficient attention where each applies, else the math form; on a CPU its flash kernel).
A named backend forces that kernel (PyTorch raises if it cannot run the call): use it to pin the kernel the
GPU check (``pixelvit bench --suite gpu``) measured fastest for your shapes.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from torch.nn.attention import SDPBackend, sdpa_kernel

SDPA_BACKENDS = {
    "math": SDPBackend.MATH,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}
CPU_BACKENDS = ("auto", "math", "flash")  # PyTorch has no efficient or cuDNN attention on a CPU


def sdpa_backend(name: str) -> AbstractContextManager:
    """``sdpa_kernel`` forcing backend ``name`` (a key of :data:`SDPA_BACKENDS`), or nothing for "auto"."""
    if name == "auto":
        return nullcontext()
    if name not in SDPA_BACKENDS:
        raise ValueError(f"unknown SDPA backend {name!r}; choose auto or one of {', '.join(SDPA_BACKENDS)}")
    return sdpa_kernel(SDPA_BACKENDS[name])

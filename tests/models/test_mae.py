"""The masked autoencoder: visible-only encoder, masked-only loss, model files, learning on real digits."""

import json

import pytest
import torch

from pixelvit import VisionTransformer, create_model, from_pretrained, save_pretrained
from pixelvit.data import get_dataset_spec, load_arrays
from pixelvit.models.mae import MaskedAutoencoder, masked_mse

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster on a shared 2-core machine

DECODER = dict(decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
ENCODER = dict(embed_dim=16, depth=2, num_heads=2)


def tiny(p=1, mae=None, **kw):
    return create_model(f"mae_vit_t/{p}", **{"img_size": 8, **ENCODER, **DECODER, **(mae or {}), **kw})


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_encoder_is_a_plain_vit_without_head_and_sees_only_visible_tokens():
    model = tiny(p=1, in_chans=3)
    assert type(model.encoder) is VisionTransformer and model.encoder.num_classes == 0
    assert isinstance(model.encoder.head, torch.nn.Identity)
    seen = []
    model.encoder.blocks[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    model.decoder_blocks[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    out = model(torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8))
    assert seen == [(3, 1 + 16, 16), (3, 1 + 64, 16)]  # encoder: class + 25 % of 64; decoder: class + all
    assert out.pred.shape == out.target.shape == (3, 64, 3) and out.mask.shape == (3, 64)


def test_predictions_do_not_depend_on_masked_pixels():
    model = tiny(p=2, in_chans=3).eval()
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    out = model(x, gen(1))
    pixel_mask = out.mask.reshape(2, 4, 4).repeat_interleave(2, 1).repeat_interleave(2, 2).bool()[:, None].expand_as(x)
    changed = x.clone()
    changed[pixel_mask] = 255 - changed[pixel_mask]
    again = model(changed, gen(1))
    assert torch.equal(again.mask, out.mask)
    torch.testing.assert_close(again.pred, out.pred)  # the encoder never saw the masked pixels
    assert not torch.equal(again.target, out.target)


def test_loss_ignores_visible_tokens():
    model = tiny(p=1, in_chans=1)
    out = model(torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8), gen())
    visible = out.mask == 0
    pred = out.pred.detach().clone()
    pred[visible] += 100.0
    torch.testing.assert_close(masked_mse(pred, out.target, out.mask), out.loss.detach())
    pred[~visible] += 1.0
    assert not torch.allclose(masked_mse(pred, out.target, out.mask), out.loss.detach())
    grad = torch.autograd.grad(out.loss, out.pred)[0]
    assert (grad[visible] == 0).all() and (grad[~visible] != 0).any()


def test_loss_value_by_hand():
    pred, target = torch.zeros(1, 4, 2), torch.tensor([[[1.0, 1.0], [2.0, 0.0], [3.0, 3.0], [0.0, 0.0]]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert masked_mse(pred, target, mask).item() == pytest.approx((1.0 + 2.0) / 2)


@pytest.mark.parametrize(
    ("p", "kw"),
    [
        (2, dict(img_size=(8, 12), in_chans=1)),
        (2, dict(img_size=(8, 12), in_chans=4, mae=dict(target="patch_norm", mask_block=2))),
        (1, dict(in_chans=3, tokenizer="dictionary", mae=dict(target="local_norm", decoder_pos_embed="learned"))),
    ],
)
def test_non_square_any_channels_any_target_and_model_files_round_trip(tmp_path, p, kw):
    model = tiny(p=p, **kw).eval()
    x = torch.randint(0, 256, (2, model.in_chans, *model.img_size), dtype=torch.uint8)
    loss = model(x, gen()).loss
    assert torch.isfinite(loss)
    save_pretrained(model, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["architecture"] == "mae" and meta["config"]["patch_size"] == p
    again = from_pretrained(tmp_path / "m").eval()
    assert type(again) is MaskedAutoencoder and again.config == model.config
    assert torch.equal(again(x, gen()).loss, loss)


def test_no_weight_decay_names_are_parameters_and_clear_errors():
    model = tiny(p=1, mae=dict(decoder_pos_embed="learned"))
    names = dict(model.named_parameters())
    assert model.no_weight_decay() <= set(names)
    assert {"encoder.pos_embed.weight", "decoder_pos_embed.weight"} <= model.no_weight_decay()
    assert not {"mask_token", "encoder.cls_token"} & model.no_weight_decay()  # decayed, as MAE's pre-training
    with pytest.raises(ValueError, match="mask_block=3 must divide the 8x8 token grid"):
        tiny(p=1, mae=dict(mask_block=3))
    with pytest.raises(ValueError, match="global_pool='token'"):
        tiny(p=1, global_pool="avg")
    with pytest.raises(ValueError, match="decoder_pos_embed"):
        tiny(p=1, mae=dict(decoder_pos_embed="none"))


def test_reconstruct_pastes_visible_pixels_back():
    model = tiny(p=2, in_chans=3, mae=dict(target="local_norm")).eval()
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    views = model.reconstruct(x, gen())
    visible = views["pixel_mask"].expand_as(x) == 0
    torch.testing.assert_close(views["pasted"][visible], views["input"][visible])
    torch.testing.assert_close(views["pasted"][~visible], views["reconstruction"][~visible])
    assert (views["masked"][~visible] == 0).all()


def test_reconstruction_loss_falls_on_real_digits():
    """A tiny pixel MAE (p=1) on scikit-learn's bundled digits: 25 steps (~2 s) halve the held-out masked loss."""
    spec = get_dataset_spec("digits")
    train = torch.from_numpy(load_arrays("digits", None, "train").images)
    test = torch.from_numpy(load_arrays("digits", None, "test").images)
    model = tiny(p=1, in_chans=1, pixel_mean=spec.mean, pixel_std=spec.std, pos_embed_std=1.0, embed_dim=32)

    def held_out() -> float:
        model.eval()
        with torch.no_grad():
            loss = model(test, gen(0)).loss.item()
        model.train()
        return loss

    before = held_out()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    g = gen(1)
    for _ in range(25):
        loss = model(train[torch.randint(0, len(train), (128,), generator=g)]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = held_out()
    zero_baseline = model.targets(test).pow(2).mean().item()  # predicting the dataset mean everywhere
    assert after < 0.7 * before and after < 0.75 * zero_baseline, (before, after, zero_baseline)

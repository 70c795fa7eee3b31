"""Every config follows the recipe it cites (``paper.source``, the table in tasks/sources.py) or declares each
departure in ``paper.deviations`` with a reason; an undeclared difference fails here."""

from pathlib import Path

import pytest

from pixelvit.config import ConfigError, load_config
from pixelvit.tasks.sources import OWN, SOURCES, check_deviations, config_value, differences

CONFIGS = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))
IMAGENET_B1 = Path(__file__).parents[1] / "configs" / "imagenet" / "vit_b1.yaml"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_follows_its_source_or_declares_why_not(path):
    cfg = load_config(path)
    assert cfg.paper.source in (*SOURCES, OWN), "each config names the recipe it follows (paper.source)"
    assert check_deviations(cfg) == []
    if cfg.paper.source == OWN:
        assert not cfg.paper.deviations and cfg.paper.recipe_source, "an own recipe says what it is, in recipe_source"


def test_an_undeclared_difference_fails():
    cfg = load_config(IMAGENET_B1, ["optim.clip_grad=1.0"])  # neither MAE Table 11 nor its code clips
    assert check_deviations(cfg) == ["optim.clip_grad: ours 1.0, mae_table11 has None, and paper.deviations does not declare it"]


def test_a_stale_or_wrong_declaration_fails():
    flowers = IMAGENET_B1.parents[1] / "flowers102" / "vit_s1.yaml"
    stale = load_config(flowers, ["optim.lr=4e-3"])  # now matches the CIFAR source, still declared
    assert any("optim.lr: declared, but the config matches" in p for p in check_deviations(stale))
    changed = load_config(IMAGENET_B1, ["data.source_size=96"])  # declared as 112
    assert any("declares ours=112 but the config has 96" in p for p in check_deviations(changed))


def test_values_depend_on_the_model_size():
    l1 = load_config(IMAGENET_B1, ["model.name=vit_l/1"])  # ViT-B recipe on a ViT-L: Table 11 says 200 epochs, drop path 0.2
    assert differences(l1)["train.epochs"] == (200, 300) and differences(l1)["model.drop_path_rate"] == (0.2, 0.1)
    assert load_config(IMAGENET_B1.with_name("vit_l1.yaml")).train.epochs == 200


def test_unknown_source_is_named():
    with pytest.raises(ConfigError):
        load_config(IMAGENET_B1, ["paper.deviations=oops"])
    assert "not a known recipe source" in check_deviations(load_config(IMAGENET_B1, ["paper.source=deit"]))[0]


def test_every_key_of_a_source_is_a_setting_of_a_config_that_cites_it():
    # a key no config has (a renamed or moved setting: diffusion.cfg_scale -> diffusion.sampling.cfg_scale) would be
    # skipped by differences() in silence, and the configs no longer held to that value
    cfgs = [load_config(path) for path in CONFIGS]
    for name, source in SOURCES.items():
        citing = [cfg for cfg in cfgs if cfg.paper.source == name]
        assert citing, f"no config cites {name}"
        keys = {*source.values, *(k for over in source.by_size.values() for k in over)}

        def present(cfg, key):
            try:
                config_value(cfg, key)
            except KeyError:
                return False
            return True

        assert [k for k in sorted(keys) if not any(present(cfg, k) for cfg in citing)] == [], name

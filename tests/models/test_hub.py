"""Model files on the Hugging Face Hub, fully offline: a fabricated hub cache stands in for the Hub."""

from typing import ClassVar

import pytest
import torch

from fixtures.hub import add_to_cache, use_hub_cache
from pixelvit import create_model, from_pretrained, save_pretrained
from pixelvit.models.hub import hub_repo_id
from pixelvit.models.timm_export import export_timm

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(img_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=3)


def perturbed(model):
    with torch.no_grad():
        for t in model.parameters():
            t.add_(torch.randn_like(t))
    return model.eval()


def test_from_pretrained_loads_a_repo_id_from_the_offline_cache(tmp_path, monkeypatch):
    cache = use_hub_cache(tmp_path, monkeypatch)
    main = perturbed(create_model("vit_t/1", tokenizer="dictionary", **TINY))
    tagged = perturbed(create_model("vit_t/2", **TINY))
    save_pretrained(main, tmp_path / "main")
    save_pretrained(tagged, tmp_path / "v1")
    add_to_cache(cache, "some-org/some-model", tmp_path / "main")
    add_to_cache(cache, "some-org/some-model", tmp_path / "v1", branch="v1")
    monkeypatch.chdir(tmp_path)  # no folder named some-org/ here: the name is a repo id
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    for source, revision, expected in [
        ("some-org/some-model", None, main),
        ("hf-hub:some-org/some-model", None, main),
        ("some-org/some-model", "v1", tagged),
        ("hf-hub:some-org/some-model@v1", None, tagged),
    ]:
        loaded = from_pretrained(source, revision=revision).eval()
        assert loaded.config == expected.config
        torch.testing.assert_close(loaded(x), expected(x), rtol=0, atol=0)


def test_a_repo_missing_from_the_offline_cache_is_a_clear_error(tmp_path, monkeypatch):
    use_hub_cache(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"some-org/absent: no local folder of that name.*HF_HUB_OFFLINE=1 forbids"):
        from_pretrained("some-org/absent")


def test_folders_win_over_repo_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = create_model("vit_t/2", **TINY)
    save_pretrained(model, "org/name")  # a bare ORG/NAME is a folder when saving
    assert (tmp_path / "org" / "name" / "config.json").is_file()
    assert hub_repo_id("org/name") is None and from_pretrained("org/name").config == model.config
    assert hub_repo_id("other/name") == "other/name" and hub_repo_id("hf-hub:org/name") == "org/name"
    assert hub_repo_id(tmp_path / "absent" / "x") is None  # a Path is always a folder
    assert hub_repo_id("runs/a/final") is None and hub_repo_id("./x/y") is None
    with pytest.raises(ValueError, match="hf-hub:ORG/NAME"):
        hub_repo_id("hf-hub:no-slash")


def test_a_timm_folder_given_to_from_pretrained_says_what_to_do(tmp_path):
    export_timm(create_model("vit_t/2", **TINY), tmp_path / "timm")
    with pytest.raises(ValueError, match=r"it is timm's .*timm\.create_model\('local-dir:.*model\.init_from"):
        from_pretrained(tmp_path / "timm")


class FakeApi:
    """Records what would be uploaded instead of reaching the network."""

    calls: ClassVar[list] = []

    def create_repo(self, repo_id, exist_ok=False):
        self.calls.append(("create_repo", repo_id, exist_ok))

    def upload_folder(self, repo_id, folder_path, commit_message):
        from pathlib import Path

        files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        self.calls.append(("upload_folder", repo_id, files, commit_message))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/abc"})()


def test_save_pretrained_to_a_repo_uploads_the_model_files(tmp_path, monkeypatch):
    import huggingface_hub

    model = perturbed(create_model("vit_t/1", **TINY))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE=1 is set: uploading to org/m needs the network"):
        save_pretrained(model, "hf-hub:org/m")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    FakeApi.calls = []
    assert save_pretrained(model, "hf-hub:org/m") == "https://huggingface.co/org/m/commit/abc"
    (_, repo, exist_ok), (_, repo2, files, _) = FakeApi.calls
    assert repo == repo2 == "org/m" and exist_ok and sorted(files) == ["config.json", "model.safetensors"]
    save_pretrained(model, tmp_path / "local")
    assert files["model.safetensors"] == (tmp_path / "local" / "model.safetensors").read_bytes()

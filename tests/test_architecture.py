"""The layering contract (.importlinter, docs/architecture.md) holds, and would catch an upward import."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(tree / "src"), "PATH": str(LINT_IMPORTS.parent), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True)


def test_the_layers_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_a_model_module_importing_the_command_layer_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "src" / "pixelvit", tmp_path / "src" / "pixelvit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    vit = tmp_path / "src" / "pixelvit" / "models" / "vit.py"
    vit.write_text(vit.read_text() + "\n\ndef _upward():\n    from ..commands import main\n\n    return main\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "pixelvit.models is not allowed to import pixelvit.commands" in result.stdout

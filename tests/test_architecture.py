"""The import contracts (.importlinter, docs/architecture.md) hold, and would catch an upward import or an import
circle between sibling modules; no module below ``commands/`` calls ``print``."""

import ast
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
    assert "3 kept, 0 broken" in result.stdout


def copy_with(tmp_path: Path, module: str, addition: str) -> Path:
    """A copy of the package and its contracts in ``tmp_path`` with ``addition`` appended to ``module`` (a path under
    ``src/pixelvit``)."""
    shutil.copytree(ROOT / "src" / "pixelvit", tmp_path / "src" / "pixelvit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    path = tmp_path / "src" / "pixelvit" / module
    path.write_text(path.read_text() + addition)
    return tmp_path


def test_a_model_module_importing_the_command_layer_breaks_the_contract(tmp_path):
    tree = copy_with(tmp_path, "models/vit.py", "\n\ndef _upward():\n    from ..commands import main\n\n    return main\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "pixelvit.models is not allowed to import pixelvit.commands" in result.stdout


def test_an_import_circle_between_sibling_modules_breaks_the_contract(tmp_path):
    # the circle this contract was added for: the registry importing the family modules that import it
    tree = copy_with(tmp_path, "models/registry.py", "\n\ndef _families():\n    from . import vit\n\n    return vit\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "No cycles are allowed in pixelvit.models." in result.stdout and ".vit -> .registry" in result.stdout


def print_calls(path: Path) -> list[int]:
    """Lines of ``path`` that call the builtin ``print`` (a call, not the word in a string or comment)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
    return [n.lineno for n in calls]


def test_only_the_command_layer_prints():
    package = ROOT / "src" / "pixelvit"
    below = [p for p in sorted(package.rglob("*.py")) if p.relative_to(package).parts[0] != "commands"]
    assert len(below) > 50  # the walk found the package
    found = [f"{p.relative_to(ROOT)}:{line}" for p in below for line in print_calls(p)]
    assert not found, f"print() below commands/ (return the text, or log progress with logging.getLogger(__name__)): {found}"


def test_the_print_check_sees_a_call_and_not_the_word(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""print(x) in a docstring"""\n# print(y)\ntext = "print(z)"\n\n\ndef f():\n    print(text)\n')
    assert print_calls(path) == [7]

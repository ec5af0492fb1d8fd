"""The models package sits beside store and schemas: it imports only entities, errors and settings
(and itself), and importing the public model modules loads no data library and no client."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import modelyard.models

PACKAGE = Path(modelyard.models.__file__).parent
ALLOWED = ("modelyard.models", "modelyard.entities", "modelyard.errors", "modelyard.settings")


def _modelyard_imports(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("modelyard"))
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("modelyard")
        ):
            found.add(node.module)
    return found


def test_models_imports_only_the_layers_below_it() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    wrong = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in files
        for name in _modelyard_imports(path)
        if name != "modelyard" and not name.startswith(ALLOWED)
    }
    assert not wrong, sorted(wrong)


def test_public_model_modules_import_cheaply() -> None:
    code = (
        "import json, sys\n"
        "import modelyard, modelyard.pyfunc, modelyard.sklearn, modelyard.pytorch, modelyard.models\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout.splitlines()[-1])
    heavy = ("numpy", "pandas", "sklearn", "skops", "torch", "cloudpickle", "sqlalchemy", "httpx")
    assert [m for m in modules if m.split(".")[0] in heavy] == []
    assert [m for m in modules if m.startswith(("modelyard.client", "modelyard.server"))] == []

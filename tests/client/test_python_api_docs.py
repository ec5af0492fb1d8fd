"""docs/python-api.md is a tested contract: its examples run, and it names the whole public API."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import modelyard
from modelyard.client.tracking import ModelyardClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_python_examples_run_in_order(tmp_path):
    blocks = re.findall(r"^```python\n(.*?)^```", _text(), flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 4
    script = tmp_path / "examples.py"
    script.write_text("\n\n".join(blocks))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env["MODELYARD_DEFAULT_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "modelyard.db").exists()


def test_every_public_function_and_client_method_is_documented():
    text = _text()
    for name in modelyard.__all__:
        if name.startswith("__"):
            continue
        if inspect.isfunction(getattr(modelyard, name)):
            assert f"`{name}(" in text, f"modelyard.{name} is not documented in docs/python-api.md"
        else:
            assert name in text, f"modelyard.{name} is not documented in docs/python-api.md"
    for name, _member in inspect.getmembers(ModelyardClient, inspect.isfunction):
        if not name.startswith("_"):
            assert re.search(rf"`{name}[(`]|`{name},", text) or f"`{name}(" in text, (
                f"ModelyardClient.{name} is not documented in docs/python-api.md"
            )

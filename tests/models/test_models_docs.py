"""docs/models.md is a tested contract: its Python examples run, in order, and print what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


@pytest.mark.slow
def test_models_page_examples_run(tmp_path: Path) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 5
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    proc = subprocess.run(
        [sys.executable, "-c", "\n\n".join(blocks)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "[0 0 1 1]" in out
    assert "['shoes-0', 'bags-2']" in out
    assert "(4, 2)" in out
    assert "The input is missing required column(s) ['rooms']" in out
    assert "Incompatible input type for column 'rooms': expected long (int64), got float64" in out
    assert "Refusing to load model.pkl: it is stored with pickle" in out
    assert "[4.]" in out
    assert re.search(r"^models:/m-[0-9a-f]{32}$", out, flags=re.MULTILINE)
    assert "[9.]" in out and "LOGGED_MODEL_READY" in out
    assert "[5.]" in out and "[2.]" in out
    for name in ("house_model", "recommender_model", "torch_model", "pickled_model"):
        assert (tmp_path / name / "MLmodel").is_file()

"""A small model saved from code (no pickle, only modelyard and pandas needed to load it) and data.

The scorer scores ``2 * x + y`` (plus ``bias`` from the params), checks the ``name`` column is text,
and remembers the size of every chunk it was called on, so tests can see how input was read.
``WhereAmI`` needs one tiny package (six) and answers with the environment it runs in.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

MODEL_CODE = textwrap.dedent(
    """
    import modelyard.pyfunc


    class Scorer(modelyard.pyfunc.PythonModel):
        def __init__(self):
            self.calls = []

        def predict(self, model_input, params=None):
            self.calls.append(len(model_input))
            if not all(isinstance(v, str) for v in model_input["name"]):
                raise TypeError("name must be text")
            bias = (params or {}).get("bias", 0.0)
            return model_input["x"] * 2 + model_input["y"] + bias


    modelyard.pyfunc.set_model(Scorer())
    """
)


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "y": rng.integers(0, 100, size=rows),
            "name": [f"{i:05d}" for i in range(rows)],
        }
    )


def save_model(directory: Path) -> Path:
    """Save the scorer (signature: x double, y long, name string; param bias) under ``directory``."""
    import modelyard.pyfunc
    from modelyard.models.signature import infer_signature

    directory.mkdir(parents=True, exist_ok=True)
    code = directory / "scorer_code.py"
    code.write_text(MODEL_CODE)
    example = frame(3)
    signature = infer_signature(example, example["x"] * 2.0, params={"bias": 0.0})
    target = directory / "model"
    modelyard.pyfunc.save_model(target, python_model=str(code), signature=signature)
    return target


def expected(data: pd.DataFrame, bias: float = 0.0) -> list[float]:
    return (data["x"] * 2 + data["y"] + bias).tolist()


WHERE_AM_I_CODE = textwrap.dedent(
    """
    import sys

    import six

    import modelyard.pyfunc


    class WhereAmI(modelyard.pyfunc.PythonModel):
        def predict(self, model_input, params=None):
            out = model_input[["x"]] * 2
            out["prefix"] = sys.prefix
            out["six"] = six.__version__
            return out


    modelyard.pyfunc.set_model(WhereAmI())
    """
)


def save_where_am_i(tmp_path: Path) -> Path:
    """A model that needs one tiny package (six) and reports the environment it runs in."""
    code = tmp_path / "where_code.py"
    code.write_text(WHERE_AM_I_CODE)
    import modelyard.pyfunc

    modelyard.pyfunc.save_model(tmp_path / "model", python_model=str(code))
    return tmp_path / "model"

"""Fixtures for the serving tests: saved models and real scoring servers.

* ``lr_frame`` / ``lr_model_dir``: a 20-feature frame and a scikit-learn LogisticRegression fitted
  on it, saved by modelyard with its signature (session-wide: saving and loading take a while);
* ``write_python_model(tmp_path, source, ...)`` (in ``serving_support``, with the other helpers):
  a custom pyfunc model saved from code (nothing pickled), for models that sleep, record their
  batches or echo their params;
* ``start_scoring_server(model_uri, *options)``: ``modelyard models serve`` in a subprocess on a
  free 127.0.0.1 port, as a context manager giving a :class:`ScoringServer`; its log must hold no
  traceback;
* ``lr_server``: one server of ``lr_model_dir`` shared by a test module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serving_support import FEATURES, ScoringServer, scoring_server


@pytest.fixture
def start_scoring_server(tmp_path: Path) -> Callable[..., Any]:
    """``with start_scoring_server(uri, "--workers", "2") as server: ...``"""

    def start(model_uri: str | os.PathLike[str], *options: str, **kwargs: Any) -> Any:
        kwargs.setdefault("cwd", tmp_path)
        return scoring_server(model_uri, *options, **kwargs)

    return start


# ---------------------------------------------------------------------------- models


@pytest.fixture(scope="session")
def lr_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(200, len(FEATURES))), columns=FEATURES)


@pytest.fixture(scope="session")
def lr_model_dir(tmp_path_factory: pytest.TempPathFactory, lr_frame: pd.DataFrame) -> Path:
    """A LogisticRegression on 20 double features, saved by modelyard with a signature."""
    from sklearn.linear_model import LogisticRegression

    import modelyard.sklearn
    from modelyard.models.signature import infer_signature

    labels = (lr_frame["f0"] + 0.5 * lr_frame["f1"] > 0).astype(np.int64)
    model = LogisticRegression().fit(lr_frame, labels)
    path = tmp_path_factory.mktemp("lr") / "model"
    signature = infer_signature(lr_frame, model.predict(lr_frame))
    modelyard.sklearn.save_model(model, path, signature=signature)
    return path


@pytest.fixture(scope="module")
def lr_server(
    tmp_path_factory: pytest.TempPathFactory, lr_model_dir: Path
) -> Iterator[ScoringServer]:
    with scoring_server(lr_model_dir, cwd=tmp_path_factory.mktemp("lr-server")) as server:
        yield server

"""Fixtures for the model tests: small data made here, a fitted estimator, a clean pickle setting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # No opt-in unless a test asks for one; MLflow keeps any state it wants under tmp_path.
    monkeypatch.delenv("MODELYARD_ALLOW_PICKLE", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "size": rng.normal(size=40),
            "rooms": rng.integers(1, 6, size=40),
        }
    )


@pytest.fixture
def labels(frame: pd.DataFrame) -> np.ndarray:
    return (frame["size"] + 0.3 * frame["rooms"] > 1.0).astype(np.int64).to_numpy()


@pytest.fixture
def estimator(frame: pd.DataFrame, labels: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(frame, labels)

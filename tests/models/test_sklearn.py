"""The sklearn flavor: skops by default, pickle only on request and on load only with the opt-in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import modelyard.pyfunc
import modelyard.sklearn
from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.models.flavors.sklearn import SklearnPredictor


class Doubler(TransformerMixin, BaseEstimator):
    """A custom step: skops does not trust its type by default."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X) * 2.0


def test_skops_round_trip_with_signature_and_environment(tmp_path: Path, frame, estimator) -> None:
    manifest = modelyard.sklearn.save_model(estimator, tmp_path / "m", input_example=frame.head(3))
    conf = manifest.flavors["sklearn"]
    assert conf["serialization_format"] == "skops" and conf["pickled_model"] == "model.skops"
    assert manifest.flavors["python_function"]["loader_module"] == "mlflow.sklearn"
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert files == {
        "MLmodel",
        "model.skops",
        "conda.yaml",
        "python_env.yaml",
        "requirements.txt",
        "input_example.json",
        "serving_input_example.json",
    }
    reqs = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("scikit-learn==") for r in reqs) and any(
        r.startswith("skops==") for r in reqs
    )
    assert [s.name for s in manifest.signature.inputs.specs] == ["size", "rooms"]

    loaded = modelyard.sklearn.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(frame), estimator.predict(frame))
    model = modelyard.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_array_equal(model.predict(frame), estimator.predict(frame))
    # dicts and records go through the signature into a DataFrame
    row = frame.iloc[0].to_dict()
    row["rooms"] = int(row["rooms"])
    assert model.predict(row).tolist() == estimator.predict(frame.head(1)).tolist()
    with pytest.raises(InvalidInput, match=r"column 'rooms': expected long"):
        model.predict(frame.assign(rooms=frame["rooms"] + 0.5))


@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle"])
def test_pickle_formats_only_on_request_and_load_only_with_opt_in(
    tmp_path: Path, frame, estimator, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = modelyard.sklearn.save_model(estimator, tmp_path / "m", serialization_format=fmt)
    assert manifest.flavors["sklearn"]["pickled_model"] == "model.pkl"
    with pytest.raises(PermissionDenied) as info:
        modelyard.sklearn.load_model(tmp_path / "m")
    assert f"stored with {fmt}" in info.value.message
    assert (
        "allow_pickle=True" in info.value.message
        and "MODELYARD_ALLOW_PICKLE=true" in info.value.message
    )
    with pytest.raises(PermissionDenied):
        modelyard.pyfunc.load_model(tmp_path / "m")
    loaded = modelyard.sklearn.load_model(tmp_path / "m", allow_pickle=True)
    np.testing.assert_array_equal(loaded.predict(frame), estimator.predict(frame))
    monkeypatch.setenv("MODELYARD_ALLOW_PICKLE", "1")
    np.testing.assert_array_equal(
        modelyard.pyfunc.load_model(tmp_path / "m").predict(frame), estimator.predict(frame)
    )


def test_skops_types_outside_the_default_trust_need_naming(tmp_path: Path) -> None:
    X = np.arange(12, dtype=float).reshape(6, 2)
    pipe = make_pipeline(Doubler(), StandardScaler()).fit(X)
    manifest = modelyard.sklearn.save_model(pipe, tmp_path / "m")
    listed = manifest.flavors["sklearn"]["skops_trusted_types"]
    custom = [t for t in listed if t.endswith("Doubler")]
    assert custom, listed
    with pytest.raises(PermissionDenied) as info:
        modelyard.sklearn.load_model(tmp_path / "m")
    assert custom[0] in info.value.message and "skops_trusted_types=" in info.value.message
    # the model's own list is not trusted without the opt-in; the caller's list is
    loaded = modelyard.sklearn.load_model(tmp_path / "m", skops_trusted_types=custom)
    np.testing.assert_allclose(loaded.transform(X), pipe.transform(X))
    loaded = modelyard.sklearn.load_model(tmp_path / "m", allow_pickle=True)
    np.testing.assert_allclose(loaded.transform(X), pipe.transform(X))


def test_unknown_format_and_missing_model_file(tmp_path: Path, frame, estimator) -> None:
    with pytest.raises(InvalidInput, match="serialization_format must be one of skops"):
        modelyard.sklearn.save_model(estimator, tmp_path / "x", serialization_format="joblib")
    modelyard.sklearn.save_model(estimator, tmp_path / "m")
    (tmp_path / "m" / "model.skops").unlink()
    with pytest.raises(NotFound, match=r"The model file model\.skops is missing from"):
        modelyard.pyfunc.load_model(tmp_path / "m")
    mlmodel = tmp_path / "m" / "MLmodel"
    raw = yaml.safe_load(mlmodel.read_text())
    raw["flavors"]["sklearn"]["serialization_format"] = "marshal"
    mlmodel.write_text(yaml.safe_dump(raw))
    with pytest.raises(InvalidInput, match="Unknown sklearn serialization_format 'marshal'"):
        modelyard.sklearn.load_model(tmp_path / "m")


def test_predict_fn_is_honoured(tmp_path: Path, frame, estimator) -> None:
    modelyard.sklearn.save_model(estimator, tmp_path / "m", pyfunc_predict_fn="predict_proba")
    out = modelyard.pyfunc.load_model(tmp_path / "m").predict(frame)
    np.testing.assert_allclose(out, estimator.predict_proba(frame))
    assert isinstance(frame, pd.DataFrame)


def _numeric_frame(rows: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.random((rows, 4)), columns=["a", "b", "c", "d"])
    frame["n"] = rng.integers(0, 5, rows)  # an int column beside the floats
    return frame, (frame["a"] + frame["n"] / 5 > 0.9).astype(int)


def test_array_estimators_are_given_the_frames_values_with_the_same_answers(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    frame, target = _numeric_frame()
    for estimator in (LogisticRegression(), RandomForestClassifier(n_estimators=5, random_state=0)):
        estimator.fit(frame, target)
        path = tmp_path / type(estimator).__name__
        modelyard.sklearn.save_model(estimator, path)
        for predict_fn in ("predict", "predict_proba"):
            trusted = ["sklearn.tree._tree.Tree"]  # the forest's trees
            model = SklearnPredictor(
                modelyard.sklearn.load_model(path, skops_trusted_types=trusted), predict_fn
            )
            assert model._plain_values(frame) is not None  # the fast path is the one taken
            got = model.predict(frame.head(7))  # no "feature names" warning (warnings are errors)
            assert np.array_equal(got, getattr(estimator, predict_fn)(frame.head(7)))


def test_frames_that_are_not_the_fitted_features_go_to_the_estimator_as_they_are(
    tmp_path: Path,
) -> None:
    from sklearn.linear_model import LogisticRegression

    frame, target = _numeric_frame()
    estimator = LogisticRegression().fit(frame, target)
    modelyard.sklearn.save_model(estimator, tmp_path / "lr")
    model = SklearnPredictor(modelyard.sklearn.load_model(tmp_path / "lr"))
    reordered = frame[["b", "a", "c", "d", "n"]]
    assert model._plain_values(reordered) is None
    with pytest.raises(ValueError, match="feature names"):
        model.predict(reordered)  # scikit-learn's own refusal, as without the fast path
    texts = frame.astype({"n": "string"})
    assert model._plain_values(texts) is None
    nullable = frame.astype({"a": "Float64"})
    assert model._plain_values(nullable) is None
    assert np.array_equal(model.predict(nullable), estimator.predict(frame))

    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, target)
    modelyard.sklearn.save_model(pipeline, tmp_path / "pipe")
    piped = SklearnPredictor(modelyard.sklearn.load_model(tmp_path / "pipe"))
    assert piped._plain_values(frame) is None  # a pipeline may select columns by name
    assert np.array_equal(piped.predict(frame), pipeline.predict(frame))

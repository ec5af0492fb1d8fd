"""How ``modelyard models serve`` starts: the garbage collector stays off until the model serves,
one worker serves from the process that loaded the model, and skops's trusted-type names come from
a checked cache (never wider than what skops itself trusts)."""

from __future__ import annotations

import json
import operator
import subprocess
import sys
from pathlib import Path

import pytest
from serving_support import FEATURES, server_env, write_python_model

GC_MODEL = """
import gc
import os

import pandas as pd

from modelyard.pyfunc import PythonModel, set_model

LOADED_WITH_GC = gc.isenabled()  # this file runs while the server loads the model


class Model(PythonModel):
    def predict(self, model_input, params=None):
        return pd.DataFrame(
            {
                "loaded_with_gc": [LOADED_WITH_GC] * len(model_input),
                "gc_now": [gc.isenabled()] * len(model_input),
                "frozen": [gc.get_freeze_count() > 0] * len(model_input),
                "pid": [os.getpid()] * len(model_input),
            }
        )


set_model(Model())
"""


def _state(server) -> dict[str, object]:
    response = server.invoke({"dataframe_split": {"columns": ["x"], "data": [[1]]}})
    assert response.status_code == 200, response.text
    (row,) = response.json()["predictions"]
    return row


def test_one_worker_loads_without_gc_and_serves_from_its_own_process(
    start_scoring_server, tmp_path
):
    model = write_python_model(tmp_path, GC_MODEL)
    with start_scoring_server(model) as server:
        state = _state(server)
        assert state["loaded_with_gc"] is False  # off while the model loaded
        assert state["gc_now"] is True  # and back on once it served,
        assert state["frozen"] is True  # with what start-up loaded frozen
        assert state["pid"] == server.process.pid  # no fork: the command's own process answers
        children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        assert children.read_text().split() == []


def test_forked_workers_get_the_model_loaded_without_gc_and_collect_again(
    start_scoring_server, tmp_path
):
    model = write_python_model(tmp_path, GC_MODEL)
    with start_scoring_server(model, "--workers", "2") as server:
        state = _state(server)
        assert state["loaded_with_gc"] is False  # the parent loaded it once, collector off
        assert (state["gc_now"], state["frozen"]) == (True, True)
        assert state["pid"] != server.process.pid


def test_a_skops_model_served_after_the_cache_is_written_answers_the_same(
    start_scoring_server, lr_model_dir, lr_frame, tmp_path
):
    import modelyard.pyfunc

    expected = [int(v) for v in modelyard.pyfunc.load_model(lr_model_dir).predict(lr_frame[:5])]
    body = {"dataframe_split": {"columns": FEATURES, "data": lr_frame[:5].to_numpy().tolist()}}
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for _ in range(2):  # the scan writes the cache; the second server reads it
        with start_scoring_server(lr_model_dir, env=env) as server:
            assert server.invoke(body).json() == {"predictions": expected}
    assert list((tmp_path / "cache" / "modelyard").glob("skops-trusted-types-*.json"))


# ---------------------------------------------------------------------------- the skops cache

PROBE = """
import json, sys
import numpy as np
from modelyard.models.flavors.skops_import import import_skops_io
from modelyard.errors import PermissionDenied
import modelyard.sklearn

import_skops_io()
module = sys.modules["skops.io._trusted_types"]
lists = {k: v for k, v in vars(module).items() if k.endswith("_NAMES") and isinstance(v, list)}
try:
    modelyard.sklearn.load_model(sys.argv[1])
    refused = None
except PermissionDenied as exc:
    refused = exc.message
estimator = modelyard.sklearn.load_model(sys.argv[1], skops_trusted_types=["_operator.neg"])
print(json.dumps({
    "cached": module.__spec__ is None,
    "lists": lists,
    "internal": len(module._SKLEARN_INTERNAL_TYPES),
    "refused": refused,
    "neg_of_4": estimator.transform(np.array([[4.0]])).tolist(),
}))
"""


@pytest.fixture(scope="module")
def neg_model(tmp_path_factory) -> Path:
    """A skops model holding a type skops does not trust by default (``_operator.neg``)."""
    from sklearn.preprocessing import FunctionTransformer

    import modelyard.sklearn

    path = tmp_path_factory.mktemp("neg") / "model"
    modelyard.sklearn.save_model(FunctionTransformer(func=operator.neg), path)
    return path


def _probe(model: Path, cache: Path) -> dict[str, object]:
    env = server_env({"XDG_CACHE_HOME": str(cache)})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(model)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _cache_file(cache: Path) -> Path:
    (path,) = (cache / "modelyard").glob("skops-trusted-types-*.json")
    return path


def test_the_trusted_type_names_come_from_the_cache_unchanged(neg_model, tmp_path):
    cache = tmp_path / "cache"
    scanned = _probe(neg_model, cache)
    assert scanned["cached"] is False  # the first import runs skops's own scan
    cached = _probe(neg_model, cache)
    assert cached["cached"] is True  # the next one uses the names it wrote
    assert cached["lists"] == scanned["lists"]
    assert len(cached["lists"]["SKLEARN_ESTIMATOR_TYPE_NAMES"]) > 100
    assert cached["internal"] == scanned["internal"] > 0  # skops's private lists still there
    for probe in (scanned, cached):  # the same refusal, and the same opt-in, either way
        assert "_operator.neg" in str(probe["refused"])
        assert probe["neg_of_4"] == [[-4.0]]


@pytest.mark.parametrize(
    ("list_name", "added"),
    [
        ("PRIMITIVE_TYPE_NAMES", "builtins.eval"),
        ("CONTAINER_TYPE_NAMES", "_operator.neg"),
        ("NUMPY_UFUNC_TYPE_NAMES", "numpy.load"),
        ("NUMPY_DTYPE_TYPE_NAMES", "numpy.lib.npyio.NpzFile"),
        ("SCIPY_UFUNC_TYPE_NAMES", "scipy.no_such_ufunc"),
        ("EXTRA_TYPE_NAMES", "os.system"),
    ],
)
def test_a_cache_that_trusts_more_than_skops_is_ignored(neg_model, tmp_path, list_name, added):
    cache = tmp_path / "cache"
    _probe(neg_model, cache)
    path = _cache_file(cache)
    data = json.loads(path.read_text())
    data["lists"].setdefault(list_name, []).append(added)
    path.write_text(json.dumps(data))
    probe = _probe(neg_model, cache)
    assert probe["cached"] is False  # skops scanned again
    assert all(added not in names for names in probe["lists"].values())
    assert "_operator.neg" in str(probe["refused"])
    rewritten = json.loads(path.read_text())["lists"]  # and the cache is whole again
    assert all(added not in names for names in rewritten.values())


def test_a_cache_of_other_versions_or_a_broken_one_is_ignored(neg_model, tmp_path):
    cache = tmp_path / "cache"
    _probe(neg_model, cache)
    path = _cache_file(cache)
    data = json.loads(path.read_text())
    data["key"]["sklearn"] = "0.0.1"
    path.write_text(json.dumps(data))
    assert _probe(neg_model, cache)["cached"] is False
    assert _probe(neg_model, cache)["cached"] is True  # rewritten for these versions
    path.write_text("{not json")
    assert _probe(neg_model, cache)["cached"] is False


def test_an_unusable_cache_directory_only_means_the_scan_runs(neg_model, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    for _ in range(2):
        probe = _probe(neg_model, blocker)
        assert probe["cached"] is False
        assert "_operator.neg" in str(probe["refused"])
        assert probe["neg_of_4"] == [[-4.0]]


THREADS = """
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import modelyard.sklearn


def load(_):
    model = modelyard.sklearn.load_model(sys.argv[1], skops_trusted_types=["_operator.neg"])
    return model.transform(np.array([[4.0]])).tolist()


with ThreadPoolExecutor(4) as pool:
    print(list(pool.map(load, range(4))))
"""


@pytest.mark.parametrize("cached", [False, True])
def test_threads_loading_skops_models_at_once_all_get_them(neg_model, tmp_path, cached):
    cache = tmp_path / "cache"
    if cached:
        _probe(neg_model, cache)
    done = subprocess.run(
        [sys.executable, "-c", THREADS, str(neg_model)],
        env=server_env({"XDG_CACHE_HOME": str(cache)}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str([[[-4.0]]] * 4)

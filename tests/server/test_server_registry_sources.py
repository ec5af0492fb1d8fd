"""Model-version source validation (reference §1.9, §9): attack strings are refused with 400.

Each refused request must leave no version behind. The accepted sources show that the checks do not
refuse what MLflow's clients legitimately send.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlparse

import pytest

BAD = "INVALID_PARAMETER_VALUE"


@pytest.fixture(scope="module")
def api(module_api):
    """One app for the module: refused requests change nothing, accepted ones use their own model."""
    return module_api


@pytest.fixture(scope="module")
def seeded(module_api, tmp_path_factory):
    api = module_api
    exp = api.experiment("sources")
    run_id = api.run(exp)
    other_run = api.run(exp)
    run = api.ok_get("runs/get", {"run_id": run_id})["run"]["info"]
    api.ok_post("registered-models/create", {"name": "target"})
    root = run["artifact_uri"]
    return {"run": run_id, "other": other_run, "root": root, "dir": urlparse(root).path}


def _create(api, name="target", **body):
    return api.post("model-versions/create", {"name": name, **body})


def _fresh_model(api) -> str:
    name = f"ok-{uuid.uuid4().hex[:8]}"
    api.ok_post("registered-models/create", {"name": name})
    return name


ATTACKS = [
    "/etc/passwd",
    "/etc",
    "file:///etc/passwd",
    "file://evil.example/etc/passwd",
    "//proc/self/root/etc/passwd",
    "{root}/../../../../etc/passwd",
    "{root}/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "{root}/%252e%252e/%252e%252e/etc/passwd",
    "{root}/%25252e%25252e/etc",
    "{root}/model\x00.txt",
    "{root}/model%00",
    "{root}\\..\\..\\etc",
    "runs:/{run}/../../etc/passwd",
    "runs:/{run}/%2e%2e/%2e%2e/secret",
    "runs:/{other}/model",
    "runs:/0123456789abcdef0123456789abcdef/model",
    "models:/m-0123456789abcdef0123456789abcdef",
    "models:/other-model/1",
    "models://host/m-0123456789abcdef0123456789abcdef",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8080/model",
    "https://localhost/model",
    "http://[::1]/model",
    "http://10.0.0.5/model",
    "http://192.168.1.1/model",
    "http://2130706433/model",
    "http://0x7f000001/model",
    "http://127.1/model",
    "http://0.0.0.0/model",
    "http:///#/../../etc/passwd",
    "http://example.com/#/../../etc",
    "mlflow-artifacts:/0/../../../etc/passwd",
    "mlflow-artifacts:/%2e%2e/%2e%2e/etc",
    "s3://bucket/models/../../other",
    "dbfs:/databricks/driver/secrets",
    "ftp://files.example.com/model",
    "javascript:alert(1)",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "",
    "   ",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_sources_are_refused(api, seeded, attack):
    source = attack.format(**seeded)
    response = _create(api, source=source, run_id=seeded["run"])
    assert response.status_code == 400, (source, response.text)
    body = response.json()
    assert body["error_code"] == BAD, body
    assert "Traceback" not in response.text and "/site-packages/" not in response.text
    assert api.ok_get("model-versions/search", {"filter": "name = 'target'"}) == {}


def test_local_paths_need_the_run_that_holds_them(api, seeded):
    name = _fresh_model(api)
    inside = f"{seeded['root']}/model"
    refused = _create(api, name, source=inside)  # no run_id: a local path is never trusted alone
    assert refused.status_code == 400
    other_root = api.ok_get("runs/get", {"run_id": seeded["other"]})["run"]["info"]
    refused = _create(api, name, source=f"{other_root['artifact_uri']}/model", run_id=seeded["run"])
    assert refused.status_code == 400, "a path inside another run's directory"
    for source in (inside, f"{seeded['dir']}/model"):  # as a file: URI and as a plain path
        accepted = _create(api, name, source=source, run_id=seeded["run"])
        assert accepted.status_code == 200, accepted.text


def test_symlink_out_of_the_run_directory_is_refused(api, seeded, tmp_path):
    directory = seeded["dir"]
    os.makedirs(directory, exist_ok=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, os.path.join(directory, "escape"))
    for source in (f"{directory}/escape/model", f"{seeded['root']}/escape/model"):
        response = _create(api, source=source, run_id=seeded["run"])
        assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "source",
    [
        "runs:/{run}/model",
        "runs:/{run}/nested/dir/model",
        "s3://bucket/models/m1",
        "mlflow-artifacts:/1/abc/artifacts/model",
        "https://models.example.com/m1.tar.gz",
        "gs://bucket/m1",
    ],
)
def test_legitimate_sources_are_accepted(api, seeded, source):
    name = _fresh_model(api)
    response = _create(api, name, source=source.format(**seeded), run_id=seeded["run"])
    assert response.status_code == 200, response.text
    mv = response.json()["model_version"]
    assert mv["source"] == source.format(**seeded) and mv["run_id"] == seeded["run"]


def test_runs_source_fills_run_id_and_resolves_the_download_uri(api, seeded):
    name = _fresh_model(api)
    mv = _create(api, name, source=f"runs:/{seeded['run']}/model").json()["model_version"]
    assert mv["run_id"] == seeded["run"]
    uri = api.ok_get("model-versions/get-download-uri", {"name": name, "version": "1"})
    assert uri == {"artifact_uri": f"{seeded['root']}/model"}


def test_logged_model_source_resolves_its_storage_location(api, seeded):
    exp = api.experiment("lm-src")
    model = api.ok_post("logged-models", {"experiment_id": exp, "source_run_id": seeded["run"]})
    info = model["model"]["info"]
    name = _fresh_model(api)
    mv = _create(
        api,
        name,
        source=f"models:/{info['model_id']}",
        model_id=info["model_id"],
        run_id=seeded["run"],
    ).json()["model_version"]
    assert mv["model_id"] == info["model_id"]
    uri = api.ok_get("model-versions/get-download-uri", {"name": name, "version": mv["version"]})
    assert uri["artifact_uri"] == info["artifact_uri"]
    mismatch = _create(
        api,
        name,
        source=f"models:/{info['model_id']}",
        model_id="m-0123456789abcdef0123456789abcdef",
    )
    assert mismatch.status_code in (400, 404)
    assert mismatch.json()["error_code"] in (BAD, "RESOURCE_DOES_NOT_EXIST")

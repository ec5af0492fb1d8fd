"""Searches a user may read only part of: every page is full until the last, and paging through
them returns each readable item once (the server refills a filtered page from the next ones)."""

from __future__ import annotations

import uuid

import pytest
from authz_world import ADMIN, AuthWorld

from modelyard.entities.auth import Permission, ResourceType
from modelyard.server.auth.policy import MAX_PAGES_PER_ANSWER, MIN_REFILL_PAGE
from modelyard.service.auth import OPERATOR

API = "/api/2.0/mlflow"
PASSWORD = "paging-secret-pw"


def _pages(
    client, method: str, path: str, key: str, field: str, size: int, name_like: str
) -> list[list[str]]:
    pages, token = [], None
    while True:
        params = {"max_results": size, "filter": f"name LIKE '{name_like}'"}
        if token:
            params["page_token"] = token
        if method == "GET":
            response = client.get(f"{API}/{path}", params=params)
        else:
            response = client.post(f"{API}/{path}", json=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item[field] for item in body.get(key, [])])
        token = body.get("next_page_token")
        if not token:
            return pages


@pytest.fixture(scope="module")
def sparse(auth_world: AuthWorld) -> dict[str, object]:
    """A user who may read every third of 20 new experiments and of 20 new models (with a version)."""
    w, tag = auth_world, uuid.uuid4().hex[:8]
    user = f"pager-{tag}"
    w.auth.create_user(OPERATOR, user, PASSWORD)
    experiments, models = [], []
    with w.client(ADMIN) as admin:
        for i in range(20):
            made = admin.post(f"{API}/experiments/create", json={"name": f"page-{tag}-{i:02d}"})
            assert made.status_code == 200, made.text
            name = f"page-model-{tag}-{i:02d}"
            assert admin.post(f"{API}/registered-models/create", json={"name": name}).is_success
            version = admin.post(
                f"{API}/model-versions/create", json={"name": name, "source": "s3://b/m"}
            )
            assert version.status_code == 200, version.text
            if i % 3 == 0:
                experiments.append(made.json()["experiment_id"])
                models.append(name)
    for experiment_id in experiments:
        w.auth.set_permission(
            OPERATOR, ResourceType.EXPERIMENT, experiment_id, Permission.READ, username=user
        )
    for name in models:
        w.auth.set_permission(
            OPERATOR, ResourceType.REGISTERED_MODEL, name, Permission.READ, username=user
        )
    return {"user": user, "experiments": experiments, "models": models, "tag": tag}


@pytest.mark.parametrize(
    ("method", "path", "key", "field", "wanted"),
    [
        ("GET", "experiments/search", "experiments", "experiment_id", "experiments"),
        ("POST", "experiments/search", "experiments", "experiment_id", "experiments"),
        ("GET", "registered-models/search", "registered_models", "name", "models"),
        ("GET", "model-versions/search", "model_versions", "name", "models"),
    ],
)
@pytest.mark.parametrize("size", [1, 3, 5])
def test_pages_are_full_and_each_readable_item_comes_once(
    auth_world: AuthWorld, sparse, method, path, key, field, wanted, size
) -> None:
    prefix = f"page-{sparse['tag']}-" if wanted == "experiments" else f"page-model-{sparse['tag']}-"
    with auth_world.client(sparse["user"], PASSWORD) as client:
        pages = _pages(client, method, path, key, field, size, prefix + "%")
    seen = [item for page in pages for item in page]
    assert sorted(seen) == sorted(sparse[wanted])  # all 7, none twice, nothing unreadable
    assert all(len(page) == size for page in pages[:-1])
    # the last may be empty: only reading past the last readable item shows there is no other
    assert len(pages[-1]) <= size and len(pages) <= len(seen) // size + 1


def test_a_page_of_nothing_readable_still_continues(auth_world: AuthWorld) -> None:
    """Past MAX_PAGES_PER_ANSWER unreadable pages the answer is short but its token goes on."""
    w, tag = auth_world, uuid.uuid4().hex[:8]
    user = f"far-{tag}"
    w.auth.create_user(OPERATOR, user, PASSWORD)
    registry = w.app.state.registry.for_user(ADMIN)  # a thousand models: faster than over HTTP
    for i in range(MAX_PAGES_PER_ANSWER * MIN_REFILL_PAGE + 1):
        registry.create_registered_model(f"far-{tag}-{i:04d}", [])
    last = f"far-{tag}-{MAX_PAGES_PER_ANSWER * MIN_REFILL_PAGE:04d}"
    w.auth.set_permission(
        OPERATOR, ResourceType.REGISTERED_MODEL, last, Permission.READ, username=user
    )
    with w.client(user, PASSWORD) as client:
        filtered = {"max_results": 1, "filter": f"name LIKE 'far-{tag}-%'"}
        first = client.get(f"{API}/registered-models/search", params=filtered)
        assert first.status_code == 200, first.text
        # the first page and nine of a hundred: all unreadable, none kept
        assert "registered_models" not in first.json()
        token = first.json()["next_page_token"]
        second = client.get(
            f"{API}/registered-models/search", params={**filtered, "page_token": token}
        )
    assert [m["name"] for m in second.json()["registered_models"]] == [last]
    assert "next_page_token" not in second.json()


def test_the_ui_lists_full_pages_of_readable_experiments(auth_world: AuthWorld) -> None:
    import html
    import re

    w, tag = auth_world, uuid.uuid4().hex[:8]
    user = f"ui-pager-{tag}"
    w.auth.create_user(OPERATOR, user, PASSWORD)
    readable = []
    with w.client(ADMIN) as admin:
        for i in range(60):
            made = admin.post(f"{API}/experiments/create", json={"name": f"uipage-{tag}-{i:02d}"})
            assert made.status_code == 200, made.text
            if i % 2:
                readable.append(f"uipage-{tag}-{i:02d}")
                w.auth.set_permission(
                    OPERATOR,
                    ResourceType.EXPERIMENT,
                    made.json()["experiment_id"],
                    Permission.READ,
                    username=user,
                )
    shown, pages, url = [], [], "/experiments?max=25"
    with w.client(user, PASSWORD) as client:
        while url:
            page = client.get(url)
            assert page.status_code == 200, page.text
            names = re.findall(rf">(uipage-{tag}-\d\d)<", page.text)
            pages.append(len(names))
            shown += names
            link = re.search(r'href="([^"]+)">Next page', page.text)
            url = html.unescape(link.group(1)) if link else ""
    assert sorted(shown) == sorted(readable)
    assert pages[:2] == [25, 5]

"""Every param, metric and tag key of an experiment's runs, for the runs table's column chooser: the
store query on every backend, and the chooser in headless Chromium offering keys that no run on the
current page has."""

from __future__ import annotations

import httpx
import pytest

from modelyard.entities import Metric, Param, RunTag
from modelyard.errors import InvalidInput, NotFound


def test_run_keys_lists_every_key_of_the_experiments(tracking, unique):
    first = tracking.create_experiment(f"keys-a-{unique}")
    second = tracking.create_experiment(f"keys-b-{unique}")
    elsewhere = tracking.create_experiment(f"keys-c-{unique}")
    for i in range(30):
        run = tracking.create_run(first, start_time=i).info.run_id
        tracking.log_batch(
            run,
            metrics=[Metric("loss", 1.0, 0, 0)]
            + ([Metric("rare metric", 2.0, 0, 0)] if i == 7 else []),
            params=[Param("lr", "0.1")] + ([Param("rare.param", "x")] if i == 3 else []),
            tags=[RunTag("team", "a")] + ([RunTag("rare-tag", "y")] if i == 11 else []),
        )
    gone = tracking.create_run(second, start_time=0).info.run_id
    tracking.log_batch(gone, params=[Param("deleted_only", "1")])
    tracking.delete_run(gone)
    other = tracking.create_run(elsewhere, start_time=0).info.run_id
    tracking.log_batch(other, params=[Param("not_mine", "1")], metrics=[Metric("nope", 1, 0, 0)])

    keys = tracking.run_keys([first])
    assert keys["params"] == ["lr", "rare.param"]
    assert keys["metrics"] == ["loss", "rare metric"]
    assert [k for k in keys["tags"] if not k.startswith("mlflow.")] == ["rare-tag", "team"]
    both = tracking.run_keys([first, second])
    assert both["params"] == ["deleted_only", "lr", "rare.param"]  # any lifecycle stage
    assert "not_mine" not in both["params"] and "nope" not in both["metrics"]
    assert tracking.run_keys([first], max_keys=1)["params"] == ["lr"]
    assert tracking.run_keys([tracking.create_experiment(f"keys-empty-{unique}")]) == {
        "params": [],
        "metrics": [],
        "tags": [],
    }
    for missing in (["987654321"], ["x"]):
        with pytest.raises(NotFound):
            tracking.run_keys(missing)
    for bad in ([], [first] * 101):
        with pytest.raises(InvalidInput):
            tracking.run_keys(bad)
    with pytest.raises(InvalidInput):
        tracking.run_keys([first], max_keys=0)


@pytest.fixture(scope="module")
def keyed(ui_server) -> str:
    """An experiment of 30 runs whose oldest alone has the keys ``rare_*`` (never on page 1)."""
    svc = ui_server.app.state.tracking
    exp = svc.create_experiment("column keys")
    for i in range(30):
        run = svc.create_run(exp, run_name=f"k-{i:02d}", start_time=1_700_000_000_000 + i)
        extra = i == 0
        svc.log_batch(
            run.info.run_id,
            metrics=[Metric("loss", 0.5, 0, 0)]
            + ([Metric("rare_metric", 1.0, 0, 0)] if extra else []),
            params=[Param("lr", "0.1")] + ([Param("rare_param", "deep")] if extra else []),
            tags=[RunTag("rare_tag", "t")] if extra else [],
        )
    return exp


@pytest.mark.slow
def test_column_chooser_offers_every_key_of_the_experiment(ui_server, keyed, page):
    page.goto(f"{ui_server.url}/experiments/{keyed}?max=25")
    assert "k-00" not in page.locator("#runs-table").inner_text()
    assert page.locator("input[name=columns][value='params.rare_param']").count() == 0
    page.click("#column-chooser summary")
    page.wait_for_selector("#column-chooser[data-loaded='1']")
    assert "Every param, metric and tag key" in page.locator("#chooser-status").inner_text()
    for column in ("params.rare_param", "metrics.rare_metric", "tags.rare_tag", "params.lr"):
        assert page.locator(f"input[name=columns][value='{column}']").count() == 1, column
    labels = page.locator("fieldset[data-kind=params] label").all_inner_texts()
    assert [t.strip() for t in labels] == ["lr", "rare_param"]  # in key order
    page.check("input[name=columns][value='params.rare_param']")
    page.click("text=Apply columns")
    page.wait_for_url("**columns=*")
    assert "params.rare_param" in page.locator("#runs-table thead").inner_text()
    # Sorting by the new column brings the one run that has it first.
    page.click("#runs-table thead a:has-text('params.rare_param')")
    page.wait_for_url("**order_by=*")
    assert page.locator("#runs-table tbody tr td.name a").first.inner_text() == "k-00"


@pytest.mark.slow
def test_column_chooser_without_javascript_and_the_data_route(ui_server, keyed, browser):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{ui_server.url}/experiments/{keyed}?max=25")
        page.click("#column-chooser summary")
        page.click("#all-keys-link")
        page.wait_for_url("**keys=all*")
        assert page.locator("input[name=columns][value='tags.rare_tag']").count() == 1
    finally:
        context.close()
    with httpx.Client(base_url=ui_server.url) as client:
        body = client.get("/ui/data/run-keys", params={"experiments": keyed}).json()
        assert body["params"] == ["lr", "rare_param"] and body["tags"] == ["rare_tag"]
        assert body["max_keys"] >= 1000
        missing = client.get("/ui/data/run-keys", params={"experiments": "987654321"})
        assert missing.status_code == 404
        assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        bad = client.get("/ui/data/run-keys")
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"

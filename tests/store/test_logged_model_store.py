"""The logged-model store on SQLite, PostgreSQL and MariaDB, through the service that validates for it."""

from __future__ import annotations

import pytest

from modelyard.entities import LoggedModelParam, LoggedModelTag, ModelOutput, RunTag
from modelyard.errors import InvalidInput, MalformedFilter, NotFound
from modelyard.service.logged_models import LoggedModelService
from modelyard.store.sql import logged_model_store_for


@pytest.fixture
def models(store) -> LoggedModelService:
    return LoggedModelService(logged_model_store_for(store))


def test_lifecycle_tags_params_and_outputs(tracking, models):
    exp = tracking.create_experiment("lm-store")
    run = tracking.create_run(exp, user_id="ann", start_time=1, tags=[RunTag("k", "v")])
    run_id = run.info.run_id
    model = models.create_logged_model(
        exp,
        "recommender",
        "pyfunc",
        run_id,
        [LoggedModelParam("k", "1"), LoggedModelParam("k", "1")],
        [LoggedModelTag("t", "x")],
    )
    assert model.status == "LOGGED_MODEL_PENDING"
    assert model.artifact_uri.endswith(f"/models/{model.model_id}/artifacts")
    assert model.param_dict == {"k": "1"} and model.tag_dict == {"t": "x"}

    ready = models.finalize_logged_model(model.model_id, "LOGGED_MODEL_READY")
    assert ready.status == "LOGGED_MODEL_READY"
    assert ready.last_updated_timestamp_ms >= model.last_updated_timestamp_ms

    models.set_logged_model_tags(
        model.model_id, [LoggedModelTag("t", "y"), LoggedModelTag("u", "z")]
    )
    models.delete_logged_model_tag(model.model_id, "u")
    models.log_logged_model_params(model.model_id, [LoggedModelParam("n", "2")])
    got = models.get_logged_model(model.model_id)
    assert got.tag_dict == {"t": "y"} and got.param_dict == {"k": "1", "n": "2"}

    models.log_outputs(run_id, [ModelOutput(model.model_id, 7)])
    models.log_outputs(run_id, [ModelOutput(model.model_id, 8)])  # re-logging moves the step
    assert models.get_run_outputs([run_id]) == {run_id: [ModelOutput(model.model_id, 8)]}

    models.delete_logged_model(model.model_id)
    with pytest.raises(NotFound):
        models.get_logged_model(model.model_id)
    assert models.get_logged_model(model.model_id, allow_deleted=True).lifecycle_stage == "deleted"
    assert models.search_logged_models([exp]).items == []


def test_search_on_every_backend(tracking, models):
    exp = tracking.create_experiment("lm-search")
    made = [
        models.create_logged_model(
            exp,
            f"model-{i}",
            "sklearn" if i % 2 else "pytorch",
            params=[LoggedModelParam("alpha", str(i))],
            tags=[LoggedModelTag("stage", "a" if i < 2 else "b")],
        )
        for i in range(4)
    ]
    names = lambda page: [m.name for m in page.items]  # noqa: E731
    assert names(
        models.search_logged_models([exp], "model_type = 'sklearn'", [("name", True)])
    ) == [
        "model-1",
        "model-3",
    ]
    assert names(
        models.search_logged_models(
            [exp], "(tags.stage = 'a' AND params.alpha = '0') OR name LIKE '%-3'", [("name", False)]
        )
    ) == ["model-3", "model-0"]
    assert names(models.search_logged_models([exp], "tags.missing IS NULL", [("name", True)])) == [
        f"model-{i}" for i in range(4)
    ]
    first = models.search_logged_models([exp], None, [("params.alpha", False)], max_results=3)
    assert names(first) == ["model-3", "model-2", "model-1"] and first.next_page_token
    rest = models.search_logged_models(
        [exp], None, [("params.alpha", False)], max_results=3, page_token=first.next_page_token
    )
    assert names(rest) == ["model-0"] and rest.next_page_token is None
    by_time = models.search_logged_models(
        [exp], f"creation_timestamp >= {made[0].creation_timestamp_ms}"
    )
    assert len(by_time.items) == 4


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.create_logged_model("999999"),
        lambda m: m.create_logged_model("0", source_run_id="a" * 32),
        lambda m: m.get_logged_model("m-" + "a" * 32),
        lambda m: m.finalize_logged_model("m-" + "a" * 32, "LOGGED_MODEL_READY"),
        lambda m: m.log_outputs("a" * 32, [ModelOutput("m-" + "a" * 32, 0)]),
    ],
)
def test_unknown_ids_are_not_found(models, call):
    with pytest.raises(NotFound):
        call(models)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda m: m.create_logged_model("0", "x" * 501), InvalidInput),
        (
            lambda m: m.create_logged_model("0", tags=[LoggedModelTag("bad key!", "v")]),
            InvalidInput,
        ),
        (lambda m: m.finalize_logged_model("m-" + "a" * 32, "LOGGED_MODEL_PENDING"), InvalidInput),
        (lambda m: m.get_logged_model("'; DROP TABLE logged_models; --"), InvalidInput),
        (lambda m: m.search_logged_models([]), InvalidInput),
        (lambda m: m.search_logged_models(["0"], "status = 1"), MalformedFilter),
        (lambda m: m.search_logged_models(["0"], None, [("metrics.acc", True)]), MalformedFilter),
        (lambda m: m.search_logged_models(["0"], max_results=1001), InvalidInput),
    ],
)
def test_bad_input_raises_before_touching_the_database(models, call, error):
    with pytest.raises(error):
        call(models)


def test_deleting_an_experiment_for_good_removes_its_models(tracking, models):
    exp = tracking.create_experiment("lm-gc")
    run_id = tracking.create_run(exp, user_id="u", start_time=1, tags=[]).info.run_id
    model = models.create_logged_model(exp, "m", tags=[LoggedModelTag("a", "b")])
    models.log_outputs(run_id, [ModelOutput(model.model_id, 0)])
    tracking.delete_experiment(exp)
    tracking.store.hard_delete_experiments([exp])
    with pytest.raises(NotFound):
        models.get_logged_model(model.model_id, allow_deleted=True)

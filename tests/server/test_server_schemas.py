"""The wire schemas on their own: entity <-> JSON converters and the request field parser."""

from __future__ import annotations

import math

import orjson
import pytest

from modelyard.entities import (
    Dataset,
    DatasetInput,
    DatasetSummary,
    Experiment,
    ExperimentTag,
    InputTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from modelyard.errors import InvalidInput
from modelyard.schemas import tracking as t
from modelyard.schemas.fields import (
    BOOL,
    ENUM,
    INT32,
    INT64,
    MESSAGE,
    STRING,
    Field,
    Message,
    camel,
)
from modelyard.schemas.requests import LOG_BATCH, LOG_METRIC, SEARCH_RUNS


def _roundtrip_json(d):
    return orjson.loads(orjson.dumps(d))


def test_encode_and_decode_double():
    assert t.encode_double(math.nan) == "NaN"
    assert t.encode_double(math.inf) == "Infinity"
    assert t.encode_double(-math.inf) == "-Infinity"
    assert t.encode_double(1.5) == 1.5
    assert math.isnan(t.decode_double("NaN"))
    assert t.decode_double("Infinity") == math.inf
    assert t.decode_double("-Infinity") == -math.inf
    assert t.decode_double(3) == 3.0 and isinstance(t.decode_double(3), float)
    assert t.decode_double("2.5") == 2.5
    for bad in (True, None, "high", "", [1], {"v": 1}):
        with pytest.raises(InvalidInput, match="for parameter 'value'"):
            t.decode_double(bad)


def test_experiment_roundtrip_and_omitted_fields():
    experiment = Experiment("7", "e", "file:///a/7", "active", 10, 20, (ExperimentTag("k", "v"),))
    d = _roundtrip_json(t.experiment_to_dict(experiment))
    assert d == {
        "experiment_id": "7",
        "name": "e",
        "artifact_location": "file:///a/7",
        "lifecycle_stage": "active",
        "creation_time": 10,
        "last_update_time": 20,
        "tags": [{"key": "k", "value": "v"}],
    }
    assert t.experiment_from_dict(d) == experiment
    bare = t.experiment_to_dict(Experiment("1", "b", "x"))
    assert "tags" not in bare and "creation_time" not in bare
    assert t.experiment_from_dict({"experiment_id": 1, "name": "n"}).experiment_id == "1"


def _run() -> Run:
    info = RunInfo("a" * 32, "3", "name", "me", "FINISHED", 1, 2, "file:///art", "active")
    data = RunData(
        metrics=(Metric("m", math.nan, 5, 1), Metric("n", 2.0, 6, 0)),
        params=(Param("p", "1"),),
        tags=(RunTag("t", "v"),),
    )
    inputs = RunInputs(
        (
            DatasetInput(
                Dataset("d", "x1", "local", "/s", '{"s": 1}', None), (InputTag("ctx", "train"),)
            ),
        )
    )
    return Run(info, data, inputs)


def test_run_roundtrip_keeps_everything_including_nan():
    run = _run()
    d = _roundtrip_json(t.run_to_dict(run))
    assert d["info"]["run_uuid"] == d["info"]["run_id"] == "a" * 32
    assert d["data"]["metrics"][0]["value"] == "NaN"
    assert "profile" not in d["inputs"]["dataset_inputs"][0]["dataset"]
    back = t.run_from_dict(d)
    assert back.info == run.info
    assert back.data.params == run.data.params and back.data.tags == run.data.tags
    assert math.isnan(back.data.metrics[0].value)
    assert back.data.metrics[1] == run.data.metrics[1]
    assert back.inputs == run.inputs


def test_empty_run_has_empty_data_and_inputs():
    info = RunInfo("b" * 32, "0", "", "", "RUNNING", None, None, "")
    d = t.run_to_dict(Run(info))
    assert d["data"] == {} and d["inputs"] == {}
    assert "start_time" not in d["info"] and "end_time" not in d["info"]
    assert t.run_from_dict(d).info == info


def test_run_info_from_dict_accepts_run_uuid_only():
    assert t.run_info_from_dict({"run_uuid": "c" * 32, "experiment_id": "1"}).run_id == "c" * 32


def test_metric_param_tag_and_dataset_converters():
    metric = Metric(
        "k", -math.inf, 1, 2, run_id="r", dataset_name="d", dataset_digest="g", model_id="m-1"
    )
    d = _roundtrip_json(t.metric_to_dict(metric))
    assert d["value"] == "-Infinity" and d["run_id"] == "r" and d["model_id"] == "m-1"
    assert t.metric_from_dict(d) == metric
    assert t.param_to_dict(Param("a", "b")) == {"key": "a", "value": "b"}
    assert t.tag_to_dict(RunTag("a", "b")) == {"key": "a", "value": "b"}
    item = DatasetInput(Dataset("n", "d", "s", "src"), ())
    assert t.dataset_input_from_dict(t.dataset_input_to_dict(item)) == item
    summary = DatasetSummary("1", "n", "d", "ctx")
    assert t.dataset_summary_from_dict(t.dataset_summary_to_dict(summary)) == summary


def test_camel():
    assert camel("run_id") == "runId"
    assert camel("source_type") == "sourceType"
    assert camel("key") == "key"


def test_parse_fills_defaults_and_builds_entities():
    req = LOG_BATCH.parse(
        {"runId": "r1", "metrics": [{"key": "m", "value": "Infinity", "timestamp": "7"}]}
    )
    assert req["run_id"] == "r1"
    assert req["metrics"] == [Metric("m", math.inf, 7, 0)]
    assert req["params"] == () and req["tags"] == ()


def test_parse_alias_only_when_field_absent():
    assert (
        LOG_METRIC.parse({"run_uuid": "u", "key": "k", "value": 1, "timestamp": 1})["run_id"] == "u"
    )
    both = LOG_METRIC.parse(
        {"run_id": "a", "run_uuid": "b", "key": "k", "value": 1, "timestamp": 1}
    )
    assert both["run_id"] == "a" and "run_uuid" not in both


def test_parse_int_ranges_and_forms():
    msg = Message("M", [Field("i", INT64), Field("j", INT32)])
    assert msg.parse({"i": "-12", "j": 3.0}) == {"i": -12, "j": 3}
    for bad in (
        {"i": 2**63},
        {"j": 2**31},
        {"i": "1e3"},
        {"i": True},
        {"j": 1.5},
        {"i": "\uff11\uff12"},
    ):
        with pytest.raises(InvalidInput, match="Invalid value"):
            msg.parse(bad)


def test_parse_enum_and_bool_in_json_and_query():
    msg = Message("M", [Field("e", ENUM, choices=("A", "B")), Field("b", BOOL, default=False)])
    assert msg.parse({"e": "B", "b": True}) == {"e": "B", "b": True}
    assert msg.parse({"e": 1}) == {"e": "A", "b": False}
    assert msg.parse({"e": "b"})["e"] == "B"
    assert msg.parse_query([("e", "2"), ("b", "true")]) == {"e": "B", "b": True}
    assert msg.parse_query([("b", "false")])["b"] is False
    for bad in ([("b", "yes")], [("e", "C")], [("e", "9")]):
        with pytest.raises(InvalidInput):
            msg.parse_query(bad)
    with pytest.raises(InvalidInput):
        msg.parse({"b": "true"})  # JSON booleans are true/false, not strings


def test_parse_query_repeated_keys_and_duplicate_spellings():
    req = SEARCH_RUNS.parse_query(
        [("experiment_ids", "1"), ("experiment_ids", "2"), ("max_results", "")]
    )
    assert req["experiment_ids"] == ["1", "2"]
    assert req["max_results"] == 1000  # an empty number is absent
    with pytest.raises(InvalidInput, match="more than once"):
        SEARCH_RUNS.parse_query([("max_results", "1"), ("maxResults", "2")])
    with pytest.raises(InvalidInput, match="more than once"):
        SEARCH_RUNS.parse({"page_token": "a", "pageToken": "b"})


def test_parse_errors_name_nested_positions():
    inner = Message("Inner", [Field("s", STRING, required=True)])
    outer = Message(
        "Outer",
        [
            Field("items", MESSAGE, repeated=True, message=inner),
            Field("one", MESSAGE, message=inner),
        ],
    )
    with pytest.raises(
        InvalidInput, match=r"Missing value for required parameter 'items\[1\]\.s'\."
    ):
        outer.parse({"items": [{"s": "x"}, {}]})
    with pytest.raises(InvalidInput, match=r"Invalid value 5 for parameter 'one\.s' supplied\."):
        outer.parse({"one": {"s": 5}})
    with pytest.raises(InvalidInput, match=r"Invalid value 'x' for parameter 'items' supplied\."):
        outer.parse({"items": "x"})


def test_long_bad_values_are_shortened_in_messages():
    with pytest.raises(InvalidInput) as exc:
        LOG_METRIC.parse(
            {"run_id": "r", "key": "k", "value": 1, "timestamp": 1, "step": "9" * 1000}
        )
    assert "step" in exc.value.message and len(exc.value.message) < 200

"""Bucketed metric histories for charts (store and service) on every backend, and the safe Markdown
subset of run descriptions."""

from __future__ import annotations

import math

import pytest

from modelyard.entities import Metric
from modelyard.errors import InvalidInput, NotFound
from modelyard.server.ui.markdown import render_markdown
from modelyard.service.charts import ChartService
from modelyard.store.sql.history import history_store_for


@pytest.fixture
def charts(store) -> ChartService:
    return ChartService(history_store_for(store), store)


def log(tracking, run_id: str, points: list[tuple[int, float, int]]) -> None:
    metrics = [Metric("loss", value, ts, step) for step, value, ts in points]
    for k in range(0, len(metrics), 1000):
        tracking.log_batch(run_id, metrics=metrics[k : k + 1000])


def test_long_history_keeps_spikes_in_each_bucket(tracking, charts, unique):
    exp = tracking.create_experiment(f"charts-{unique}")
    run = tracking.create_run(exp, start_time=0).info.run_id
    spikes = {1234: 99.0, 4321: -77.0}
    log(tracking, run, [(s, spikes.get(s, math.sin(s / 100)), 1000 + s) for s in range(5000)])
    count, buckets = charts.metric_buckets([run], "loss", 100)[run]
    assert count == 5000
    assert len(buckets) == 100
    assert sum(b.count for b in buckets) == 5000
    assert max(b.high for b in buckets) == 99.0
    assert min(b.low for b in buckets) == -77.0
    spike = next(b for b in buckets if b.high == 99.0)
    assert spike.first_step <= 1234 <= spike.last_step
    steps = [b.first_step for b in buckets]
    assert steps == sorted(steps) and steps[0] == 0 and buckets[-1].last_step == 4999
    for b in buckets:  # each mean lies within its bucket's range
        assert b.low <= b.mean <= b.high


def test_short_history_comes_back_point_by_point(tracking, charts, unique):
    exp = tracking.create_experiment(f"charts-short-{unique}")
    run = tracking.create_run(exp, start_time=0).info.run_id
    log(tracking, run, [(0, 1.0, 10), (1, float("nan"), 11), (2, float("inf"), 12), (3, 0.5, 13)])
    count, buckets = charts.metric_buckets([run], "loss", 100)[run]
    assert count == 4
    assert [(b.first_step, b.low, b.nan_count) for b in buckets] == [
        (0, 1.0, 0),
        (1, None, 1),
        (2, float("inf"), 0),
        (3, 0.5, 0),
    ]


def test_same_step_history_is_bucketed_by_time(tracking, charts, unique):
    exp = tracking.create_experiment(f"charts-time-{unique}")
    run = tracking.create_run(exp, start_time=0).info.run_id
    log(tracking, run, [(0, float(i % 7), 5000 + i * 3) for i in range(600)])
    count, buckets = charts.metric_buckets([run], "loss", 50)[run]
    assert count == 600 and len(buckets) == 50
    assert buckets[0].first_timestamp == 5000 and buckets[-1].last_timestamp == 5000 + 599 * 3
    assert {b.high for b in buckets} == {6.0}


def test_bad_requests(tracking, charts, unique):
    exp = tracking.create_experiment(f"charts-bad-{unique}")
    run = tracking.create_run(exp, start_time=0).info.run_id
    assert charts.metric_buckets([run], "missing", 10)[run] == (0, [])
    with pytest.raises(NotFound):
        charts.metric_buckets(["0" * 32], "loss", 10)
    for args in (([], "loss", 10), ([run], "", 10), ([run], "loss", 0), ([run], "loss", 10**6)):
        with pytest.raises(InvalidInput):
            charts.metric_buckets(*args)


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("# Title", "<h1>Title</h1>"),
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
        (
            "**b** and *i* and `<x>`",
            "<p><strong>b</strong> and <em>i</em> and <code>&lt;x&gt;</code></p>",
        ),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
        ("1. a\n2. b", "<ol>\n<li>a</li>\n<li>b</li>\n</ol>"),
        ("```\n<b>x</b>\n```", "<pre><code>&lt;b&gt;x&lt;/b&gt;</code></pre>"),
        ("> quoted", "<blockquote>quoted</blockquote>"),
        (
            "[docs](https://example.org/?a=1&b=2)",
            '<p><a href="https://example.org/?a=1&amp;b=2" rel="noopener noreferrer nofollow">docs</a></p>',
        ),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
        ("[x](data:text/html,hi)", "<p>[x](data:text/html,hi)</p>"),
        ('[x](" onmouseover="alert(1))', "<p>[x](&quot; onmouseover=&quot;alert(1))</p>"),
        (
            "[run](/runs/abc)",
            '<p><a href="/runs/abc" rel="noopener noreferrer nofollow">run</a></p>',
        ),
    ],
)
def test_markdown_subset_is_safe(source: str, html: str) -> None:
    assert render_markdown(source) == html

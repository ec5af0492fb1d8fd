"""The run page's charts in headless Chromium: the SVG sketch drawn as soon as the data arrives (spikes
kept, one bucket per pixel or so), Plotly's interactive chart replacing it, and what the page says
when Plotly.js or the data does not load. Also the static files' caching and compression."""

from __future__ import annotations

import gzip
import time

import httpx
import pytest

from modelyard.server.ui.assets import PLOTLY_FILE, static_assets

pytestmark = pytest.mark.slow

CHART = ".chart[data-key='loss']"


def test_sketch_comes_first_then_plotly_replaces_it(ui_server, page):
    s = ui_server
    history: list[str] = []
    page.on("request", lambda r: history.append(r.url) if "metric-history" in r.url else None)
    page.goto(f"{s.url}/runs/{s.long_run}?charts=loss")
    # The sketch: an SVG with the min-max band and the line, its y range reaching the spike.
    page.wait_for_selector(f"{CHART}[data-drawn='1'] svg.sketch path.band")
    # One evaluate, so that Plotly cannot swap the sketch out between two looks at it.
    sketch = page.evaluate(
        f"""() => {{
            const d = document.querySelector("{CHART}");
            const s = d.sketch.series[0];
            const svg = d.querySelector("svg.sketch");
            return {{ renderer: d.dataset.renderer, high: Math.max(...s.high.filter(v => v !== null)),
                     points: s.x.length, width: d.clientWidth, y1: d.sketch.y1,
                     texts: svg ? svg.querySelectorAll("text").length : null,
                     line: svg ? svg.querySelector("path.line").getAttribute("d").length : null }};
        }}"""
    )
    if sketch["texts"] is not None:  # Plotly may already have replaced it on a fast machine
        assert sketch["texts"] > 5  # ticks and the title
        assert sketch["line"] > 1000  # a real path, not an empty one
    else:
        assert sketch["renderer"] == "plotly"
    assert sketch["high"] == s.spike_value and sketch["y1"] >= s.spike_value
    # Downsampled on the server to about the chart's width (20,000 points in the history), and
    # fetched once: by the page's <link rel="preload">, whose response the chart script takes.
    assert len(history) == 1 and "buckets=" in history[0]
    buckets = int(history[0].split("buckets=")[1].split("&")[0])
    assert sketch["width"] / 2 <= buckets <= sketch["width"] * 2 and sketch["points"] <= buckets
    initiators = page.evaluate(
        "performance.getEntriesByType('resource').filter(e => e.name.includes('metric-history'))"
        ".map(e => e.initiatorType)"
    )
    assert initiators == ["link"]
    # Then the interactive chart, from the same data (no second request).
    page.wait_for_selector(f"{CHART}.js-plotly-plot[data-renderer='plotly'] .scatterlayer .trace")
    assert page.locator(f"{CHART} svg.sketch").count() == 0
    marks = page.evaluate(
        "performance.getEntriesByType('mark').map(m => m.name).filter(n => n.startsWith('modelyard:'))"
    )
    assert marks.index("modelyard:chart-drawn:loss") < marks.index("modelyard:plotly-loaded")
    # Changing the settings redraws from the data already in the page.
    page.check("input[name=log]")
    page.wait_for_selector(f"{CHART}.js-plotly-plot[data-drawn='1']")
    assert page.evaluate(f'document.querySelector("{CHART}").layout.yaxis.type') == "log"
    assert len(history) == 1


def test_a_narrow_chart_asks_for_its_own_width(ui_server, browser, console):
    context = browser.new_context(viewport={"width": 420, "height": 800})
    try:
        page = context.new_page()
        page.on("console", lambda m: console.add(m.text) if m.type == "error" else None)
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "metric-history" in r.url else None)
        page.goto(f"{ui_server.url}/runs/{ui_server.long_run}?charts=loss")
        page.wait_for_selector(f"{CHART}[data-drawn='1']")
        width = page.evaluate(f'document.querySelector("{CHART}").clientWidth')
        own = [u for u in asked if f"buckets={max(200, round(width))}" in u]
        assert own, (width, asked)
    finally:
        context.close()


def test_without_plotly_the_sketch_stays_and_says_why(ui_server, page, console):
    console.allowed += ["Failed to load resource", "net::ERR_FAILED"]
    page.route(f"**/{PLOTLY_FILE}*", lambda route: route.abort())
    page.goto(f"{ui_server.url}/runs/{ui_server.long_run}?charts=loss")
    page.wait_for_selector(f"{CHART}[data-drawn='1'] svg.sketch")
    note = page.wait_for_selector(f"{CHART} .plotly-missing")
    assert "reload" in note.inner_text()
    assert page.locator(f"{CHART} svg.sketch path.line").count() == 1


def test_a_failing_history_request_is_shown_on_the_chart(ui_server, page, console):
    console.allowed += ["Failed to load resource", "net::ERR_FAILED"]
    page.route("**/ui/data/metric-history*", lambda route: route.abort())
    page.goto(f"{ui_server.url}/runs/{ui_server.long_run}?charts=loss")
    message = page.wait_for_selector(f"{CHART}[data-drawn='error'] .alert")
    assert "Could not load the chart of loss" in message.inner_text()
    assert "reload" in message.inner_text()


def test_charts_are_keyboard_reachable(ui_server, page):
    page.goto(f"{ui_server.url}/runs/{ui_server.long_run}?charts=loss")
    page.wait_for_selector(f"{CHART}[data-drawn='1']")
    page.focus(CHART)
    assert page.evaluate("document.activeElement.dataset.key") == "loss"
    # Focus loads Plotly at once (no waiting for the browser to be idle).
    page.wait_for_selector(f"{CHART}[data-renderer='plotly']")


def test_static_files_are_versioned_cached_and_compressed(ui_server):
    assets = static_assets()
    url = ui_server.url + assets.url("charts.js")
    assert "?v=" in url
    with httpx.Client() as client:
        first = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200
        assert first.headers["content-encoding"] == "gzip"
        assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "ModelyardCharts" in first.text  # httpx decompresses
        assert int(first.headers["content-length"]) < len(first.content)
        again = client.get(
            url, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""
        # Without the current version: revalidate every time.
        plain = client.get(ui_server.url + "/static/ui/charts.js", headers={"Accept-Encoding": ""})
        assert plain.headers["cache-control"] == "no-cache"
        assert "content-encoding" not in plain.headers
        assert plain.content == first.content
        # Plotly: the first request is answered at once, uncompressed; later ones gzip-compressed.
        plotly = ui_server.url + assets.url(PLOTLY_FILE)
        raw = client.get(plotly, headers={"Accept-Encoding": "gzip"})
        assert raw.status_code == 200 and len(raw.content) > 1_000_000
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            head = client.head(plotly, headers={"Accept-Encoding": "gzip"})
            if head.headers.get("content-encoding") == "gzip":
                break
            time.sleep(0.05)
        response = client.get(plotly, headers={"Accept-Encoding": "gzip"})
        assert response.headers.get("content-encoding") == "gzip"
        assert int(response.headers["content-length"]) < len(raw.content) / 2
        assert response.content == raw.content
        assert gzip.decompress(assets.assets[PLOTLY_FILE].gzipped or b"") == raw.content
        assert client.get(ui_server.url + "/static/ui/nothing.js").status_code == 404
        # The chart data is compressed too.
        data = client.get(
            f"{ui_server.url}/ui/data/metric-history",
            params={"run_id": ui_server.long_run, "key": "loss", "buckets": 1000},
            headers={"Accept-Encoding": "gzip"},
        )
        assert data.headers["content-encoding"] == "gzip"
        assert int(data.headers["content-length"]) < len(data.content) / 2
        assert len(data.json()["runs"][0]["mean"]) == 1000

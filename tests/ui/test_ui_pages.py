"""The UI's pages in headless Chromium against a live server: rendering, filtering, sorting, paging,
columns, nested runs, charts and comparison."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def row_names(page) -> list[str]:
    return page.locator("#runs-table tbody tr:visible td.name a").all_inner_texts()


def test_every_page_renders_without_console_errors(ui_server, page):
    s = ui_server
    for path, heading in [
        ("/", "Experiments"),
        ("/experiments", "Experiments"),
        (f"/experiments/{s.experiment}", "vision <b>cnn</b>"),
        (f"/runs?experiments={s.experiment},{s.other_experiment}", "vision <b>cnn</b>, tabular"),
        (f"/experiments/{s.empty_experiment}", "empty one"),
        (f"/runs/{s.runs[0]}", "trial-00"),
        (f"/runs/{s.long_run}", "long history"),
        (f"/compare?runs={','.join(s.runs[:4])}", "Compare 4 runs"),
    ]:
        response = page.goto(s.url + path)
        assert response.status == 200, path
        assert page.locator("h1").first.inner_text() == heading, path
        # Names are text, never markup.
        assert page.locator("main b").count() == 0, path
        headers = response.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"


def test_empty_states_say_what_to_do(ui_server, page):
    page.goto(f"{ui_server.url}/experiments/{ui_server.empty_experiment}")
    assert "No runs in this experiment yet" in page.locator(".empty").inner_text()
    page.goto(f"{ui_server.url}/experiments?filter=name%20%3D%20%27nothing%27")
    assert "No experiments match" in page.locator(".empty").inner_text()


def test_unknown_page_is_a_404_page(ui_server, page, console):
    console.allowed.append("404")
    response = page.goto(f"{ui_server.url}/no/such/page")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert page.locator("a[href='/experiments']").count() >= 1
    response = page.goto(f"{ui_server.url}/runs/{'0' * 32}")
    assert response.status == 404
    assert "not found" in page.locator("h1").inner_text().lower()
    # The API keeps its JSON 404.
    api = httpx.post(f"{ui_server.url}/api/2.0/mlflow/no/such", json={})
    assert api.status_code == 404 and api.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_filter_narrows_runs_and_bad_filters_are_shown_inline(ui_server, page, console):
    s = ui_server
    page.goto(f"{s.url}/experiments/{s.experiment}")
    page.fill("#run-filter", "params.optimizer = 'adam' AND metrics.accuracy > 0.7")
    page.press("#run-filter", "Enter")
    page.wait_for_url("**filter=*")
    names = row_names(page)
    # adam is every odd i; accuracy 0.5 + i/200 > 0.7 means i > 40.
    assert names == [f"trial-{i:02d}" for i in range(59, 40, -1) if i % 2]
    console.allowed.append("400")
    page.fill("#run-filter", "metrics.accuracy >")
    page.press("#run-filter", "Enter")
    page.wait_for_selector("#filter-error")
    assert "Filter error" in page.locator("#filter-error").inner_text()
    assert page.locator("#run-filter").input_value() == "metrics.accuracy >"


def test_sort_by_a_metric_column(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/experiments/{s.experiment}?columns=metrics.accuracy")
    page.click("th a:has-text('metrics.accuracy')")  # first click: descending
    page.wait_for_url("**order_by=*")
    assert row_names(page)[:3] == ["trial-59", "trial-58", "trial-57"]
    page.click("th a:has-text('metrics.accuracy')")  # second click: ascending
    page.wait_for_url("**ASC*")
    assert row_names(page)[:3] == ["trial-00", "trial-01", "trial-02"]
    assert page.locator("th[aria-sort=ascending]").inner_text().startswith("metrics.accuracy")


def test_paging_with_page_tokens(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/experiments/{s.experiment}?max=25")
    first = row_names(page)
    assert len(first) == 25
    page.click("#next-page")
    page.wait_for_url("**page_token=*")
    second = row_names(page)
    page.click("#next-page")
    page.wait_for_url("**page=3*")
    third = row_names(page)
    assert len(second) == 25 and len(third) == 10
    assert page.locator("#next-page").count() == 0
    everything = first + second + third
    assert sorted(everything) == sorted(f"trial-{i:02d}" for i in range(60))


def test_column_chooser(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/experiments/{s.experiment}")
    headers = page.locator("#runs-table thead th").all_inner_texts()
    assert "params.lr" in headers and "tags.team" not in headers
    page.click("#column-chooser summary")
    page.uncheck("input[name=columns][value='params.lr']")
    page.check("input[name=columns][value='tags.team']")
    page.click("text=Apply columns")
    page.wait_for_url("**columns=*")
    headers = page.locator("#runs-table thead th").all_inner_texts()
    assert "tags.team" in headers and "params.lr" not in headers
    assert page.locator("#runs-table tbody tr").first.locator("td").last.inner_text() in (
        "red",
        "blue",
    )


def test_nested_runs_collapse_and_the_state_is_in_the_url(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/experiments/{s.other_experiment}")
    assert set(row_names(page)) == {"sweep", "child-0", "child-1", "child-2", "long history"}
    names = row_names(page)
    assert names.index("sweep") < names.index("child-0")
    page.click(f"button[data-toggle='{s.parent}']")
    assert set(row_names(page)) == {"sweep", "long history"}
    assert f"collapsed={s.parent}" in page.url
    page.reload()
    assert set(row_names(page)) == {"sweep", "long history"}


def test_selection_goes_to_compare(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/experiments/{s.experiment}")
    for run_id in s.runs[-3:]:
        page.check(f"input[name=run_id][value='{run_id}']")
    assert page.locator("#selection-count").inner_text() == "3 selected"
    assert "selected=" in page.url
    page.click("#compare-button")
    page.wait_for_url(lambda url: "/compare?runs=" in url)
    assert page.locator("h1").inner_text() == "Compare 3 runs"


def _traces(page, selector: str) -> int:
    """The number of Plotly traces of a chart, once Plotly (not the first SVG sketch) has drawn it."""
    page.wait_for_selector(f"{selector}.js-plotly-plot[data-drawn='1']")
    return page.evaluate(f'document.querySelector("{selector}").data.length')


def test_compare_charts_draw(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/compare?runs={','.join(s.runs[:5])}")
    assert _traces(page, "#parcoords") == 5  # one line per run
    assert _traces(page, "#scatter") == 1
    assert _traces(page, "#contour") == 2
    assert _traces(page, "#overlay") >= 5
    # Rows that differ are highlighted; identical ones are not.
    assert page.locator("#compare-table tr.diff th", has_text="lr").count() == 1
    # Changing an axis redraws and lands in the URL.
    page.select_option("select[name=x]", "params.lr")
    assert "x=params.lr" in page.url
    assert (
        page.evaluate("document.querySelector('#scatter').layout.xaxis.title.text") == "params.lr"
    )
    page.goto(f"{s.url}/compare?runs={','.join(s.runs[:5])}&diff=1")
    assert page.locator("#compare-table tbody th", has_text="team").count() == 0  # tags not rows


def test_run_page_chart_keeps_spikes_and_follows_settings(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/runs/{s.long_run}")
    selector = ".chart[data-key='loss']"
    assert _traces(page, selector) >= 3  # min, max band and the mean line
    high = page.evaluate(
        f'Math.max(...document.querySelector("{selector}").data[1].y.filter(v => v !== null))'
    )
    assert high == s.spike_value
    points = page.evaluate(f'document.querySelector("{selector}").data[2].x.length')
    assert points <= 2000  # bucketed, not 20,000 points
    page.check("input[name=log]")
    page.wait_for_selector(f"{selector}.js-plotly-plot[data-drawn='1']")
    assert page.evaluate(f'document.querySelector("{selector}").layout.yaxis.type') == "log"
    page.select_option("select[name=x]", "relative")
    page.wait_for_selector(f"{selector}.js-plotly-plot[data-drawn='1']")
    assert "x=relative" in page.url and "log=1" in page.url
    page.reload()
    assert page.locator("select[name=x]").input_value() == "relative"
    # The description is markdown, and its HTML is shown as text.
    assert page.locator("#note-html h1").inner_text() == "Findings"
    assert "<script>" in page.locator("#note-html").inner_text()
    assert page.locator("#note-html script").count() == 0
    assert "0123abcd" in page.locator("dl.facts").inner_text()

"""Empty, error and loading states that say what to do next, and controls reachable from the
keyboard, on the UI's pages in headless Chromium."""

from __future__ import annotations

import pytest

from modelyard.server.ui.assets import PLOTLY_FILE

pytestmark = pytest.mark.slow


def test_show_runs_without_a_selection_says_what_to_do(ui_server, page):
    page.goto(f"{ui_server.url}/experiments")
    page.click("button:has-text('Show runs of selected experiments')")
    page.wait_for_selector(".alert.error")
    assert "Tick one or more experiments" in page.locator(".alert.error").inner_text()
    assert page.url.startswith(f"{ui_server.url}/experiments")


def test_compare_charts_say_when_plotly_does_not_load(ui_server, page, console):
    console.allowed += ["Failed to load resource", "net::ERR_FAILED"]
    page.route(f"**/{PLOTLY_FILE}*", lambda route: route.abort())
    page.goto(f"{ui_server.url}/compare?runs={','.join(ui_server.runs[:3])}")
    for chart in ("#parcoords", "#scatter", "#contour"):
        message = page.wait_for_selector(f"{chart}[data-drawn='error']")
        assert "reload the page" in message.inner_text()
    # The metric overlay still shows its data, as the SVG sketch.
    page.wait_for_selector("#overlay[data-drawn='1'] svg.sketch")


def test_a_version_without_comments_says_so(ui_server, page):
    reg = ui_server.app.state.registry.for_user("dana")
    reg.create_registered_model("quiet model")
    reg.create_model_version("quiet model", f"runs:/{ui_server.runs[0]}/model", ui_server.runs[0])
    page.goto(f"{ui_server.url}/models/quiet%20model/versions/1")
    assert "No comments yet" in page.locator("#no-comments").inner_text()
    # No MLmodel file (nothing was logged at the source): said, not a server error.
    assert "MLmodel" in page.locator("#signature-missing").inner_text()
    page.fill("#comment-text", "first!")
    page.click("button:has-text('Add comment')")
    page.wait_for_selector(".comment")
    assert page.locator("#no-comments").count() == 0


def test_keyboard_reaches_the_main_controls(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/experiments/{s.experiment}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Tabbing from the top reaches the filter, the column chooser, a sort header, a run's checkbox
    # and its link, in that order.
    seen = []
    for _ in range(60):
        page.keyboard.press("Tab")
        seen.append(
            page.evaluate(
                "(() => { const e = document.activeElement;"
                " return e.id || e.name || e.getAttribute('title') || e.tagName; })()"
            )
        )
    order = [
        seen.index("run-filter"),
        seen.index("SUMMARY"),
        next(i for i, v in enumerate(seen) if str(v).startswith("Sort by")),
        seen.index("run_id"),
    ]
    assert order == sorted(order), seen
    # Space ticks a run; the selection count follows.
    page.keyboard.press("Shift+Tab") if page.evaluate(
        "document.activeElement.name"
    ) != "run_id" else None
    page.focus("input[name=run_id]")
    page.keyboard.press("Space")
    assert page.locator("#selection-count").inner_text() == "1 selected"
    assert page.locator("#compare-button").is_enabled()

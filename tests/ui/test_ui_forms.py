"""Form posts from the UI: each carries the session's CSRF token; without it nothing changes."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def test_create_rename_delete_and_restore_an_experiment(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/experiments")
    page.click("summary:has-text('New experiment')")
    page.fill("input[name=name]", "made in the browser")
    page.click("button:has-text('Create')")
    page.wait_for_url("**/experiments/*")
    assert page.locator("h1").inner_text() == "made in the browser"
    experiment_id = page.url.rstrip("/").rsplit("/", 1)[1].split("?")[0]

    page.goto(f"{s.url}/experiments?filter=name%20%3D%20%27made%20in%20the%20browser%27")
    page.click("summary:has-text('Rename')")
    page.fill(f"input[form=rename-{experiment_id}]", "renamed in the browser")
    page.click(f"button[form=rename-{experiment_id}]")
    page.wait_for_load_state()
    assert s.app.state.tracking.get_experiment(experiment_id).name == "renamed in the browser"

    page.goto(f"{s.url}/experiments")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"button[form=delete-{experiment_id}]")
    page.wait_for_load_state()
    assert s.app.state.tracking.get_experiment(experiment_id).lifecycle_stage == "deleted"

    page.goto(f"{s.url}/experiments?view=deleted")
    page.click(f"button[form=restore-{experiment_id}]")
    page.wait_for_load_state()
    assert s.app.state.tracking.get_experiment(experiment_id).lifecycle_stage == "active"


def test_duplicate_name_is_shown_on_the_page(ui_server, page):
    page.goto(f"{ui_server.url}/experiments")
    page.click("summary:has-text('New experiment')")
    page.fill("input[name=name]", "tabular")
    page.click("button:has-text('Create')")
    page.wait_for_selector(".alert.error")
    assert "tabular" in page.locator(".alert.error").inner_text()


def test_delete_and_restore_selected_runs(ui_server, page):
    s = ui_server
    svc = s.app.state.tracking
    run_id = s.children[0]
    page.goto(f"{s.url}/experiments/{s.other_experiment}")
    page.check(f"input[name=run_id][value='{run_id}']")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete')")
    page.wait_for_load_state()
    assert svc.get_run(run_id).info.lifecycle_stage == "deleted"
    page.goto(f"{s.url}/experiments/{s.other_experiment}?view=deleted")
    page.check(f"input[name=run_id][value='{run_id}']")
    page.click("button:has-text('Restore')")
    page.wait_for_load_state()
    assert svc.get_run(run_id).info.lifecycle_stage == "active"


def test_edit_the_description(ui_server, page):
    s = ui_server
    run_id = s.runs[1]
    page.goto(f"{s.url}/runs/{run_id}")
    page.click("summary:has-text('Edit description')")
    page.fill(
        "#note-text", "## Result\n\n- *better* than `baseline`\n\n<img src=x onerror=alert(1)>"
    )
    page.click("button:has-text('Save description')")
    page.wait_for_selector("#note-html h2")
    assert page.locator("#note-html h2").inner_text() == "Result"
    assert page.locator("#note-html em").inner_text() == "better"
    assert page.locator("#note-html img").count() == 0
    tags = {t.key: t.value for t in s.app.state.tracking.get_run(run_id).data.tags}
    assert tags["mlflow.note.content"].startswith("## Result")


def test_form_posts_without_the_token_are_refused(ui_server):
    s = ui_server
    svc = s.app.state.tracking
    with httpx.Client(base_url=s.url) as client:
        client.get("/experiments")  # sets the cookie
        assert "modelyard_csrf" in client.cookies
        for body in ({"name": "forged"}, {"name": "forged", "csrf_token": "not-the-cookie"}):
            response = client.post("/ui/experiments/create", data=body)
            assert response.status_code == 403
            assert "security token" in response.text
        assert svc.get_experiment_by_name("forged") is None
        response = client.post(
            f"/ui/runs/{s.runs[2]}/note", data={"note": "forged", "csrf_token": ""}
        )
        assert response.status_code == 403
    # Another session's token does not work either.
    with httpx.Client(base_url=s.url) as other:
        other.get("/experiments")
        token = other.cookies["modelyard_csrf"]
    with httpx.Client(base_url=s.url) as client:
        client.get("/experiments")
        response = client.post(
            "/ui/experiments/create", data={"name": "forged", "csrf_token": token}
        )
        assert response.status_code == 403
        # With this session's own token the same post works.
        own = client.cookies["modelyard_csrf"]
        response = client.post(
            "/ui/experiments/create", data={"name": "not forged", "csrf_token": own}
        )
        assert response.status_code == 303
    assert svc.get_experiment_by_name("forged") is None
    assert svc.get_experiment_by_name("not forged") is not None

"""The artifacts browser of the run page: folders, previews of each kind, downloads."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def open_artifact(page, base: str, path: str) -> None:
    page.goto(f"{base}&artifact={path}")
    page.wait_for_selector("#artifact-preview")


def test_browse_folders_and_preview_each_kind(ui_server, page):
    s = ui_server
    base = f"{s.url}/runs/{s.long_run}?x=step"
    page.goto(base)
    names = page.locator("#artifact-list td:first-child").all_inner_texts()
    assert [n.strip("📁 ").strip() for n in names] == [
        "config/",
        "data/",
        "model/",
        "notes.txt",
        "plots/",
    ]
    page.click("#artifact-list a:has-text('config/')")
    page.wait_for_url("**apath=config*")
    assert "params.json" in page.locator("#artifact-list").inner_text()

    open_artifact(page, base, "config/params.json")
    assert '"layers": [\n    64,' in page.locator("#artifact-preview pre").inner_text()
    open_artifact(page, base, "config/env.yaml")
    assert "channels: [defaults]" in page.locator("#artifact-preview pre").inner_text()
    open_artifact(page, base, "notes.txt")
    assert page.locator("#artifact-preview pre").inner_text() == "plain <b>text</b>\n"
    assert page.locator("#artifact-preview b").count() == 0
    open_artifact(page, base, "data/sample.csv")
    assert page.locator("#csv-preview thead th").all_inner_texts() == ["x", "y", "label"]
    assert page.locator("#csv-preview tbody tr").count() == 2
    assert page.locator("#csv-preview tbody tr").first.inner_text().split("\t")[-1] == "<a>"
    open_artifact(page, base, "plots/curve.png")
    page.wait_for_function("document.querySelector('#artifact-preview img').naturalWidth === 40")
    open_artifact(page, base, "model/MLmodel")
    summary = page.locator("#mlmodel-summary").inner_text()
    assert "python_function" in summary and "sklearn" in summary
    inputs = page.locator("#mlmodel-summary table.signature").first
    assert "sepal <length>" in inputs.inner_text() and "string" in inputs.inner_text()
    open_artifact(page, base, "model/model.skops")
    assert "No preview" in page.locator("#artifact-preview").inner_text()


def test_downloads_send_the_file(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/runs/{s.long_run}?apath=model")
    link = page.locator("#artifact-list a[download]", has_text="download").last
    href = link.get_attribute("href")
    response = httpx.get(s.url + href)
    assert response.status_code == 200
    assert response.content == bytes(range(256))
    assert response.headers["content-disposition"].startswith("attachment")


def test_bad_artifact_paths_are_errors_on_the_page(ui_server, page):
    s = ui_server
    page.goto(f"{s.url}/runs/{s.long_run}?artifact=../../etc/passwd")
    assert page.locator("#artifact-preview .alert.error").count() == 1
    page.goto(f"{s.url}/runs/{s.long_run}?artifact=missing.txt")
    assert "does not exist" in page.locator("#artifact-preview").inner_text()
    page.goto(f"{s.url}/runs/{s.long_run}?apath=..")
    assert page.locator("#artifacts .alert.error").count() == 1

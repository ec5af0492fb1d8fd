"""Fixtures for the web UI: a real server (uvicorn on a free 127.0.0.1 port) over a SQLite file with
seeded experiments and runs, and headless Chromium (the Debian package) driven by Playwright.

Chromium is not downloaded by Playwright: the tests use ``/usr/bin/chromium`` (``make test`` installs
it with apt-get when it is missing and we are root). Without it the tests fail and say how to fix it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from live_app import serve_in_thread
from modelyard.entities import Metric, Param, RunTag
from modelyard.server.app import create_app
from modelyard.settings import load_settings

CHROMIUM = os.environ.get("MODELYARD_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SPIKE_STEP = 7777
SPIKE_VALUE = 1000.0


@dataclass
class Seeded:
    """What the UI server holds: ids of the experiments and runs the tests look at."""

    url: str
    app: Any
    experiment: str = ""
    other_experiment: str = ""
    empty_experiment: str = ""
    runs: list[str] = field(default_factory=list)
    parent: str = ""
    children: list[str] = field(default_factory=list)
    long_run: str = ""
    spike_value: float = SPIKE_VALUE


def seed(app: Any) -> Seeded:
    svc = app.state.tracking
    out = Seeded(url="", app=app)
    out.experiment = svc.create_experiment("vision <b>cnn</b>")
    out.other_experiment = svc.create_experiment("tabular")
    out.empty_experiment = svc.create_experiment("empty one")
    now = 1_700_000_000_000
    for i in range(60):
        run = svc.create_run(out.experiment, run_name=f"trial-{i:02d}", start_time=now + i * 1000)
        run_id = run.info.run_id
        svc.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0 / (s + 1) + i / 1000, now + s, s) for s in range(20)]
            + [Metric("accuracy", 0.5 + i / 200, now, 0)],
            params=[
                Param("lr", str(round(0.001 * (i + 1), 4))),
                Param("depth", str(i % 5)),
                Param("optimizer", "adam" if i % 2 else "sgd"),
            ],
            tags=[RunTag("team", "red" if i % 3 else "blue")],
        )
        svc.update_run_info(run_id, "FINISHED", now + i * 1000 + 5000)
        out.runs.append(run_id)
    parent = svc.create_run(out.other_experiment, run_name="sweep", start_time=now)
    out.parent = parent.info.run_id
    for i in range(3):
        child = svc.create_run(
            out.other_experiment,
            run_name=f"child-{i}",
            start_time=now + 10 + i,
            tags=[RunTag("mlflow.parentRunId", out.parent)],
        )
        svc.log_batch(child.info.run_id, metrics=[Metric("score", float(i), now, 0)])
        out.children.append(child.info.run_id)
    long_run = svc.create_run(out.other_experiment, run_name="long history", start_time=now - 1)
    out.long_run = long_run.info.run_id
    points = [
        Metric("loss", SPIKE_VALUE if s == SPIKE_STEP else math.cos(s / 500), now + s * 10, s)
        for s in range(20_000)
    ]
    for k in range(0, len(points), 1000):
        svc.log_batch(out.long_run, metrics=points[k : k + 1000])
    svc.set_tag(
        out.long_run,
        RunTag(
            "mlflow.note.content", "# Findings\n\n**Spike** at step 7777 <script>alert(1)</script>"
        ),
    )
    svc.set_tag(out.long_run, RunTag("mlflow.source.git.commit", "0123abcd" * 5))
    write_artifacts(app, svc.get_run(out.long_run).info.artifact_uri)
    return out


MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    loader_module: modelyard.sklearn
    python_version: 3.11.9
  sklearn:
    serialization_format: skops
    sklearn_version: 1.5.0
model_uuid: 5d0f1c9a2b7e4f33a1c2d3e4f5a6b7c8
run_id: 0123456789abcdef0123456789abcdef
signature:
  inputs: '[{"type": "double", "name": "sepal <length>", "required": true}, {"type": "string",
    "name": "species", "required": false}]'
  outputs: '[{"type": "long", "required": true}]'
utc_time_created: '2026-12-01 10:00:00.000000'
"""


def write_artifacts(app: Any, artifact_uri: str) -> None:
    """Files of every previewable kind, written through the server's own artifact store."""
    import io

    from PIL import Image

    image = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(image, format="PNG")
    files = {
        "notes.txt": b"plain <b>text</b>\n",
        "config/params.json": b'{"lr": 0.1, "layers": [64, 32]}',
        "config/env.yaml": b"name: demo\nchannels: [defaults]\n",
        "data/sample.csv": b"x,y,label\n1,2,<a>\n3,4,b\n",
        "plots/curve.png": image.getvalue(),
        "model/MLmodel": MLMODEL.encode(),
        "model/model.skops": bytes(range(256)),
    }
    store, base = app.state.artifacts.resolve(artifact_uri, "")
    for path, data in files.items():
        store.write(f"{base}/{path}" if base else path, [data])


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory) -> Iterator[Seeded]:
    tmp = tmp_path_factory.mktemp("ui-server")
    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{tmp / 'ui.db'}",
        default_artifact_root=str(tmp / "artifacts"),
        webhook_allow_http=True,
        webhook_allow_private_addresses=True,
        webhook_max_attempts=1,
    )
    app = create_app(settings)
    seeded = seed(app)
    with serve_in_thread(app) as url:
        seeded.url = url
        yield seeded


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"The UI tests need Chromium at {CHROMIUM}: run 'make test' as root (it installs it), "
            "or 'sudo apt-get install -y chromium', or set MODELYARD_TEST_CHROMIUM to its path."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class ConsoleLog:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[str] = []

    def add(self, text: str) -> None:
        if not any(a in text for a in self.allowed):
            self.errors.append(text)


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser, console) -> Iterator[Any]:
    """A fresh browser context and page; any console error or page error fails the test."""
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.on("console", lambda m: console.add(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: console.add(f"page error: {e}"))
    try:
        yield tab
    finally:
        context.close()
    assert console.errors == [], console.errors

"""UI speed in headless Chromium: modelyard's pages beside MLflow 3.17.2's React UI, same data.

Each side gets its own server over a fresh SQLite file (``bench/servers.py``) and the same data,
written through the MLflow REST API both speak: one experiment of 10,000 runs (10 params and 5
metrics each) and one run whose metric ``loss`` has 100,000 steps. Then, in a fresh browser context
each time (a cold first visit: empty HTTP cache, no cookies; the server has been up since the data
was written), we measure from the start of navigation until

* the runs page shows its first row,
* the run page shows the chart of ``loss`` with its data: for modelyard the first chart on screen,
  which is the SVG sketch (``data-drawn="1"`` is set once the data is drawn into it), and
* the run page's chart is interactive: Plotly's trace for both sides (MLflow draws with Plotly only,
  so for it the two are the same condition).

For modelyard the page also records ``performance.mark``s: ``chart-painted`` is set in the first
task after the frame that showed the sketch, so it says the chart was painted, not only in the DOM.

Usage::

    .venv/bin/python bench/ui.py                 # both sides (MLflow's venv is made on first use)
    .venv/bin/python bench/ui.py --sides modelyard --runs 2000
    .venv/bin/python bench/ui.py --screenshots docs/ui   # the documentation's screenshots

Results are printed and written to ``bench/results/ui-<time>.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers
from rest import Rest
from servers import SIDES, BenchError, serve

servers.HEALTH_TIMEOUT_S = 600.0  # MLflow's server starts slowly on a loaded machine

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
RESULTS = Path(__file__).resolve().parent / "results"
T0 = 1_700_000_000_000
TIMEOUT_MS = 120_000


# ------------------------------------------------------------------------------ data
def call(client: Rest, method: str, endpoint: str, body: Any) -> Any:
    """One REST call, retried on a dropped connection (a loaded server closes idle ones)."""
    for attempt in range(5):
        try:
            return client.call(method, endpoint, body)
        except (OSError, http.client.HTTPException):
            client.close()
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def populate(port: int, runs: int, steps: int, threads: int = 8) -> dict[str, Any]:
    """The experiment of ``runs`` runs and the long run, through the REST API."""
    rest = Rest(port)
    experiment = rest.call("POST", "experiments/create", {"name": "ui-bench"})["experiment_id"]

    local = threading.local()
    clients: list[Rest] = []

    def one(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = Rest(port)
            clients.append(client)
        run = call(
            client,
            "POST",
            "runs/create",
            {"experiment_id": experiment, "start_time": T0 + i, "run_name": f"run-{i:05d}"},
        )["run"]["info"]["run_id"]
        call(
            client,
            "POST",
            "runs/log-batch",
            {
                "run_id": run,
                "params": [{"key": f"p{k}", "value": str((i * (k + 3)) % 97)} for k in range(10)],
                "metrics": [
                    {"key": f"m{k}", "value": math.sin(i + k), "timestamp": T0 + i, "step": 0}
                    for k in range(5)
                ],
            },
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(runs)))
    long_run = rest.call(
        "POST",
        "runs/create",
        {"experiment_id": experiment, "start_time": T0 - 1, "run_name": "long-history"},
    )["run"]["info"]["run_id"]
    for start in range(0, steps, 1000):
        metrics = [
            {
                "key": "loss",
                "value": math.exp(-s / steps) + (5.0 if s % 9973 == 0 else 0.0),
                "timestamp": T0 + s * 10,
                "step": s,
            }
            for s in range(start, min(start + 1000, steps))
        ]
        call(rest, "POST", "runs/log-batch", {"run_id": long_run, "metrics": metrics})
    for client in [rest, *clients]:
        client.close()
    return {
        "experiment_id": experiment,
        "long_run": long_run,
        "populate_s": round(time.perf_counter() - started, 1),
    }


# ------------------------------------------------------------------------------ pages
def pages_for(side: str, url: str, data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """(URL, CSS selector that means "shown") for the runs page and the run page of each side."""
    eid, rid = data["experiment_id"], data["long_run"]
    if side == "modelyard":
        return {
            "runs page: first rows": (f"{url}/experiments/{eid}", "#runs-table tbody tr"),
            "run page: chart of 100,000 steps": (
                f"{url}/runs/{rid}?charts=loss",
                ".chart[data-key='loss'][data-drawn='1'] svg",
            ),
            "run page: interactive chart (Plotly)": (
                f"{url}/runs/{rid}?charts=loss",
                ".chart[data-key='loss'][data-renderer='plotly'] .scatterlayer .trace",
            ),
        }
    mlflow_chart = (
        f"{url}/#/experiments/{eid}/runs/{rid}/model-metrics",
        ".js-plotly-plot .scatterlayer .trace",
    )
    return {
        # MLflow 3's experiment page opens on its GenAI overview; the runs table is under /runs.
        "runs page: first rows": (
            f"{url}/#/experiments/{eid}/runs",
            ".ag-row a[href*='runs/']",
        ),
        "run page: chart of 100,000 steps": mlflow_chart,
        "run page: interactive chart (Plotly)": mlflow_chart,
    }


MARKS_JS = """() => Object.fromEntries(performance.getEntriesByType('mark')
    .filter(m => m.name.startsWith('modelyard:'))
    .map(m => [m.name.slice(10), Math.round(m.startTime)]))"""


def measure(browser: Any, target: str, selector: str, repeat: int) -> dict[str, Any]:
    """``repeat`` cold visits, each in a new browser context (empty cache), timed until ``selector``
    is visible; the page's own ``modelyard:*`` marks (ms since navigation start) alongside."""
    times, errors, marks = [], [], []
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1366, "height": 800})
        page = context.new_page()
        try:
            started = time.perf_counter()
            page.goto(target, wait_until="commit", timeout=TIMEOUT_MS)
            page.wait_for_selector(selector, state="visible", timeout=TIMEOUT_MS)
            times.append(time.perf_counter() - started)
            found = page.evaluate(MARKS_JS)
            if found:
                marks.append(found)
        except Exception as exc:  # a timeout is a result too
            errors.append(type(exc).__name__ + ": " + str(exc).splitlines()[0])
        finally:
            context.close()
    out: dict[str, Any] = {"samples_s": [round(t, 3) for t in times]}
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if times:
        out["median_s"] = round(statistics.median(times), 3)
    if marks:
        out["page_marks_ms"] = marks
    if errors:
        out["errors"] = errors
    return out


def bench(sides: list[str], runs: int, steps: int, repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {"runs": runs, "steps": steps, "repeat": repeat, "sides": {}}
    results["load_average"] = list(os.getloadavg())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name in sides:
                side = SIDES[name]
                side.ensure_ready()
                with (
                    tempfile.TemporaryDirectory(prefix=f"ui-bench-{name}-") as tmp,
                    serve(side, Path(tmp)) as server,
                ):
                    print(f"{name}: populating {runs} runs and {steps} steps ...", flush=True)
                    data = populate(server.port, runs, steps)
                    print(f"{name}: populated in {data['populate_s']} s", flush=True)
                    side_results: dict[str, Any] = {"populate_s": data["populate_s"]}
                    for label, (target, selector) in pages_for(name, server.url, data).items():
                        side_results[label] = measure(browser, target, selector, repeat)
                        print(f"{name}: {label}: {side_results[label]}", flush=True)
                    results["sides"][name] = side_results
        finally:
            browser.close()
    return results


# ------------------------------------------------------------------------------ screenshots
def screenshots(folder: Path) -> None:
    """PNG screenshots of the main pages over a small demo dataset (for docs/ui.md)."""
    import uvicorn
    from playwright.sync_api import sync_playwright

    from modelyard.entities import Metric, Param, RunTag
    from modelyard.entities.registry import RegistryTag
    from modelyard.server.app import create_app
    from modelyard.settings import load_settings

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ui-shots-") as tmp:
        app = create_app(
            load_settings(
                {},
                backend_store_uri=f"sqlite:///{tmp}/shots.db",
                default_artifact_root=f"{tmp}/artifacts",
                webhook_allow_http=True,  # the demo webhook points at a closed local port
                webhook_allow_private_addresses=True,
                webhook_max_attempts=1,
            )
        )
        svc = app.state.tracking
        exp = svc.create_experiment("image-classifier")
        svc.create_experiment("churn-model")
        ids = []
        for i in range(24):
            run = svc.create_run(exp, run_name=f"resnet-{i:02d}", start_time=T0 + i * 60_000)
            lr, depth = 0.001 * (1 + i % 6), 18 + 16 * (i % 3)
            svc.log_batch(
                run.info.run_id,
                metrics=[
                    Metric("loss", 2.0 * math.exp(-s / (20 + i)) + 0.02 * math.sin(s), T0 + s, s)
                    for s in range(200)
                ]
                + [Metric("accuracy", 0.7 + 0.01 * (i % 9) + lr * 10, T0, 0)],
                params=[
                    Param("lr", str(lr)),
                    Param("depth", str(depth)),
                    Param("optimizer", "adam" if i % 2 else "sgd"),
                ],
                tags=[RunTag("team", "vision")],
            )
            svc.update_run_info(run.info.run_id, "FINISHED", T0 + i * 60_000 + 3_600_000)
            ids.append(run.info.run_id)
        long_run = ids[0]
        svc.set_tag(
            long_run,
            RunTag(
                "mlflow.note.content",
                "## Baseline\n\nResNet-18 with **SGD**; see `configs/base.yaml`.\n\n- augment: flip\n"
                "- epochs: 200",
            ),
        )
        store, base = app.state.artifacts.resolve(svc.get_run(long_run).info.artifact_uri, "")
        store.write(
            f"{base}/metrics.csv" if base else "metrics.csv", [b"epoch,loss\n1,2.0\n2,1.4\n"]
        )
        hook = app.state.webhooks.create_webhook(
            "deploy-bot",
            "http://127.0.0.1:9/hooks/modelyard",
            [
                ("model_version", "created"),
                ("registered_model", "created"),
                ("transition_request", "created"),
            ],
            description="Tells the deploy bot about new versions.",
            secret="demo-secret",
        )
        app.state.webhooks.create_webhook(
            "audit-log", "http://127.0.0.1:9/audit", [("model_version_stage", "transitioned")]
        )
        registry = app.state.registry.for_user("alice")
        registry.create_registered_model(
            "image-classifier",
            [RegistryTag("modelyard.require_approval_for_production", "true")],
            description="Classifies product photos.",
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        shots = {
            "experiments.png": "/experiments",
            "runs.png": f"/experiments/{exp}?keys=all&columns=metrics.accuracy,params.lr,params.depth,params.optimizer",
            "run.png": f"/runs/{long_run}?charts=loss&smooth=0.6&artifact=metrics.csv",
            "compare.png": f"/compare?runs={','.join(ids[:8])}&metric=loss",
            "models.png": "/models",
            "webhooks.png": "/webhooks",
            "webhook.png": f"/webhooks/{hook.webhook_id}?edit=1",
        }
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            time.sleep(2)  # the webhook dispatcher records its (failed) delivery
            for name, path in shots.items():
                page.goto(url + path)
                page.wait_for_load_state("networkidle")
                if name == "run.png":  # the interactive chart, after the first sketch
                    page.wait_for_selector(".chart[data-renderer='plotly']")
                page.wait_for_timeout(500)
                full = name in ("compare.png", "webhook.png")
                page.screenshot(path=str(folder / name), full_page=full)
                small_png(folder / name)
                print("wrote", folder / name)
            browser.close()
        server.should_exit = True
        thread.join(timeout=10)


def small_png(path: Path) -> None:
    """Rewrite a screenshot with a 64-colour palette (a fraction of the size, still readable)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", default="modelyard,mlflow")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--screenshots", type=Path, help="write screenshots into this folder")
    args = parser.parse_args()
    if args.screenshots:
        screenshots(args.screenshots)
        return
    try:
        results = bench(args.sides.split(","), args.runs, args.steps, args.repeat)
    except BenchError as exc:
        sys.exit(f"bench/ui.py: {exc}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ui-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(results, indent=2))
    print("wrote", out)


if __name__ == "__main__":
    main()

"""Turn the two sides' measurements into the comparison table, the JSON record and the docs page."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from servers import MLFLOW_VERSION, ROOT
from workload import Sizes

DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


@dataclass(frozen=True)
class Row:
    label: str  # formatted with the Sizes of the run
    mlflow_key: str
    modelyard_key: str
    higher_is_better: bool
    target_ratio: float | None = None  # modelyard at least this many times better
    target_max: tuple[str, float] | None = None  # (field, bound): modelyard's field stays below
    target_text: str = ""


ROWS = (
    Row(
        "Server healthy after start (s)", "startup", "startup", False, None, ("value", 2.0), "≤ 2 s"
    ),
    Row("`import` of the client package (s)", "import", "import", False, 10.0),
    Row(
        "Run creation: runs/create + log-batch, 10 params, 5 metrics, 3 tags (runs/s)",
        "create_runs",
        "create_runs",
        True,
        3.0,
    ),
    Row("log-batch ingest, 1000-metric batches (points/s)", "log_batch", "log_batch", True, 5.0),
    Row(
        "{threads} threads calling log-metric at once, kept-alive (points/s)",
        "concurrent",
        "concurrent",
        True,
        5.0,
    ),
    Row(
        "Single log-metric, one kept-alive connection (calls/s)",
        "keepalive",
        "keepalive",
        True,
        None,
        ("p50_ms", 10.0),
        "no delayed-ACK stall: p50 < 10 ms",
    ),
    Row("Single log-metric, fresh connection per call (calls/s)", "fresh", "fresh", True),
    Row(
        "Populate {search_runs:,} runs from {populate_threads} threads (runs/s)",
        "populate",
        "populate",
        True,
    ),
    Row(
        "Search {search_tenth:,} of {search_runs:,} runs with a filter (s)",
        "search_filter",
        "search_filter",
        False,
        10.0,
    ),
    Row(
        "Search {search_runs:,} runs ordered by a metric, first {search_tenth:,} (s)",
        "search_order",
        "search_order",
        False,
        50.0,
    ),
    Row(
        "Metric history of {history_steps:,} steps, one get-history (s)",
        "history",
        "history",
        False,
        10.0,
    ),
    Row(
        "Ingest of that history in 1000-point log-batch calls (points/s)",
        "history_ingest",
        "history_ingest",
        True,
    ),
    Row(
        "Fluent client: start_run, {fluent_calls:,} log_metric, end_run; MLflow synchronous (s)",
        "fluent_sync",
        "fluent",
        False,
        100.0,
    ),
    Row(
        "Fluent client: the same; MLflow with MLFLOW_ENABLE_ASYNC_LOGGING=true (s)",
        "fluent_async",
        "fluent",
        False,
        100.0,
    ),
    Row(
        "Artifact proxy: one 1 GiB file up, streamed PUT (MiB/s)",
        "artifact_upload",
        "artifact_upload",
        True,
        1.0,
    ),
    Row(
        "Artifact proxy: that file down, streamed GET (MiB/s)",
        "artifact_download",
        "artifact_download",
        True,
        1.0,
    ),
    Row(
        "Artifact proxy: 1,000 files of 4 KiB up from 8 threads (files/s)",
        "small_upload",
        "small_upload",
        True,
        3.0,
    ),
    Row(
        "Artifact proxy: those files down from 8 threads (files/s)",
        "small_download",
        "small_download",
        True,
        3.0,
    ),
    Row(
        "Artifact proxy: largest peak RSS of a server process after the transfers (MB)",
        "artifact_peak_rss",
        "artifact_peak_rss",
        False,
        None,
        ("value", 200.0),
        "< 200 MB",
    ),
    Row(
        "Scoring server (`models serve`, 1 worker): /ping 200 after start (s)",
        "serving_ready",
        "serving_ready",
        False,
        None,
        ("value", 2.0),
        "≤ 2 s",
    ),
    Row("Scoring 1-row bodies, 1 client (req/s)", "serving_c1", "serving_c1", True),
    Row("Scoring 1-row bodies, 8 clients (req/s)", "serving_c8", "serving_c8", True, 5.0),
    Row("Scoring 1-row bodies, 32 clients (req/s)", "serving_c32", "serving_c32", True, 5.0),
    Row(
        "Scoring 1-row bodies, 32 clients, modelyard with micro-batching (req/s)",
        "serving_c32",
        "serving_batched_c32",
        True,
        10.0,
    ),
    Row(
        "Scoring p99 latency, 8 clients (s)",
        "serving_p99_c8",
        "serving_p99_c8",
        False,
        1.0,
        None,
        "lower than MLflow's",
    ),
    Row(
        "Scoring p99 latency, 32 clients (s)",
        "serving_p99_c32",
        "serving_p99_c32",
        False,
        1.0,
        None,
        "lower than MLflow's",
    ),
    Row(
        "Scoring 100-row bodies, 1 client (rows/s)",
        "serving_rows100",
        "serving_rows100",
        True,
        3.0,
    ),
    Row(
        "In-process pyfunc predict of 1 row, the floor (s)", "serving_floor", "serving_floor", False
    ),
    Row(
        "Scoring overhead per request: 1-client p50 minus the floor (s)",
        "serving_overhead",
        "serving_overhead",
        False,
    ),
)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(row: Row, mlflow: float | None, ours: float | None) -> float | None:
    if not mlflow or not ours:
        return None
    return ours / mlflow if row.higher_is_better else mlflow / ours


def evaluate(sides: dict[str, dict[str, Any]], sizes: Sizes) -> list[dict[str, Any]]:
    """One dict per table row: label, both values, ratio, target and whether it is met."""
    names = {**asdict(sizes), "search_tenth": sizes.search_runs // 10}
    out = []
    for row in ROWS:
        ml = sides.get("mlflow", {}).get(row.mlflow_key)
        my = sides.get("modelyard", {}).get(row.modelyard_key)
        ml_value = ml.get("value") if ml else None
        my_value = my.get("value") if my else None
        ratio = _ratio(row, ml_value, my_value)
        met: bool | None = None
        target = row.target_text
        if row.target_ratio is not None:
            target = target or f"≥ {row.target_ratio:g}×"  # noqa: RUF001
            met = None if ratio is None else ratio >= row.target_ratio
        if row.target_max is not None and my:
            field, bound = row.target_max
            got = my_value if field == "value" else my.get("detail", {}).get(field)
            met = None if got is None else got < bound or (field == "value" and got == bound)
        unit = (ml or my or {}).get("unit", "")
        notes = []
        for side_name, m in (("MLflow", ml), ("modelyard", my)):
            if m and m.get("error"):
                first_line = m["error"].strip().splitlines()[0]
                notes.append(f"{side_name} failed: {first_line[:160]}")
        if ml and ml.get("detail", {}).get("extrapolated"):
            d = ml["detail"]
            notes.append(f"MLflow measured on {d['measured_calls']:,} calls, loop scaled up")
        for side_name, m in (("MLflow", ml), ("modelyard", my)):
            d = m.get("detail", {}) if m else {}
            if "p50_s" in d and "p99_s" in d and m and m.get("unit") != "s":
                notes.append(
                    f"{side_name} p50 {d['p50_s'] * 1000:.2f} ms, p99 {d['p99_s'] * 1000:.2f} ms"
                )
        if row.target_max and row.target_max[0] != "value":
            for side_name, m in (("MLflow", ml), ("modelyard", my)):
                if m and row.target_max[0] in m.get("detail", {}):
                    notes.append(f"{side_name} p50 {m['detail'][row.target_max[0]]:.1f} ms")
        out.append(
            {
                "scenario": row.label.format(**names),
                "key": row.modelyard_key if row.mlflow_key == row.modelyard_key else row.mlflow_key,
                "unit": unit,
                "mlflow": ml_value,
                "modelyard": my_value,
                "ratio": ratio,
                "target": target,
                "met": met,
                "notes": "; ".join(notes).replace("|", "\\|"),
            }
        )
    return out


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"| Scenario | MLflow {MLFLOW_VERSION} | modelyard | modelyard vs MLflow | Target | Met? |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:,.1f}×"  # noqa: RUF001
        met = {True: "yes", False: "**no**", None: "—"}[r["met"]]
        scenario = r["scenario"] + (f" <br><sub>{r['notes']}</sub>" if r["notes"] else "")
        cells = [scenario, fmt(r["mlflow"], r["unit"]), fmt(r["modelyard"], r["unit"]), ratio]
        lines.append("| " + " | ".join([*cells, r["target"] or "—", met]) + " |")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or "unknown CPU"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown CPU"


def _mem_gib() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 / 1024 if match else None


def _git_commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def machine_facts() -> dict[str, Any]:
    import sqlite3

    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": _mem_gib(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
        "git_commit": _git_commit(),
    }


def _load_line(loads: dict[str, Any]) -> str:
    parts = []
    for name, load in loads.items():
        if load and load.get("before") is not None and load.get("after") is not None:
            parts.append(f"{name} {load['before']:.1f} before, {load['after']:.1f} after")
    return f"1-minute load average around each side: {'; '.join(parts)}." if parts else ""


def docs_block(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    mem = f", {m['memory_gib']:.0f} GiB RAM" if m.get("memory_gib") else ""
    missed = [r["scenario"] for r in rows if r["met"] is False]
    lines = [
        BEGIN,
        f"Measured {meta['finished']} at commit `{m['git_commit']}` with:",
        "",
        "```",
        meta["command"],
        "```",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}){mem}; Python {m['python']}; "
        f"SQLite {m['sqlite']}; {m['os']}. Both servers over a fresh SQLite file with 4 workers, "
        "one at a time, on 127.0.0.1.",
        _load_line(meta.get("load", {})),
        (
            f"MLflow's figures are reused from its run of {meta['mlflow_reused_from']}."
            if meta.get("mlflow_reused_from")
            else ""
        ),
        "",
        markdown_table(rows),
        "",
        "Ratios say how many times better modelyard is (time: MLflow ÷ modelyard; "
        "rates: modelyard ÷ MLflow).",
        f"Targets missed in this run: {', '.join(missed) if missed else 'none'}.",
        END,
    ]
    return "\n".join(lines)


DOCS_HEAD = """# Benchmarks: modelyard and MLflow side by side

`bench/run.py` installs MLflow {version} in its own virtual environment (`bench/.venv-mlflow`, made on
first use), starts each server in turn on a free 127.0.0.1 port over a fresh SQLite file with 4
workers, and runs one REST workload against both with the same plain HTTP client (`http.client`,
kept-alive unless the scenario says otherwise). Every write scenario reads back what it wrote and every
read scenario checks its rows against the generated data, so a server that stores or returns fewer
rows fails instead of looking fast. Raw figures go to `bench/results/*.json`.

```
make bench                                # the full run below (about 20 minutes, most of it MLflow's)
.venv/bin/python bench/run.py --quick     # a two-minute smoke run at a twentieth of the size
.venv/bin/python bench/run.py --scenarios search,history --side modelyard
```

## Latest full run

"""


def write_docs(rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    block = docs_block(rows, meta)
    if DOCS.exists():
        text = DOCS.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = head + block + rest.split(END, 1)[1]
            DOCS.write_text(text, encoding="utf-8")
            return
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(DOCS_HEAD.format(version=MLFLOW_VERSION) + block + "\n", encoding="utf-8")

"""Benchmark modelyard against MLflow 3.17.2 on this machine and report the ratios.

    .venv/bin/python bench/run.py                 # full size, both sides, writes docs/benchmarks.md
    .venv/bin/python bench/run.py --quick         # smoke size
    .venv/bin/python bench/run.py --side modelyard --reuse-mlflow --scenarios search,history

Each side's server is started (and stopped) on its own, so the two never compete for the CPU. The
figures of each side are saved to ``bench/results/latest-<side>-<size>.json``; ``--reuse-mlflow`` takes
MLflow's from there instead of measuring them again (only when the sizes match).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

import artifacts
import clients
import report
import workload
from servers import BENCH, SIDES, BenchError, Server, Side, serve
from workload import Measurement, Sizes

import serving

RESULTS = BENCH / "results"
SCENARIOS = (
    "import",
    "create_runs",
    "log_batch",
    "concurrent",
    "keepalive",
    "fresh",
    "search",
    "history",
    "fluent",
    "artifacts",
    "serving",
)


def _record(out: dict[str, Any], key: str, m: Measurement) -> None:
    out[key] = {"value": m.value, "unit": m.unit, "detail": m.detail}
    shown = report.fmt(m.value, m.unit)
    print(f"    {key:<16} {shown:>12} {m.unit if m.unit != 's' else ''}", flush=True)


def _attempt(out: dict[str, Any], keys: list[str], action: Callable[[], Any]) -> Any:
    """Run one scenario; a failure is recorded against its keys and the benchmark goes on."""
    try:
        return action()
    except (
        workload.WorkloadError,
        BenchError,
        OSError,
        RuntimeError,
        ValueError,
        KeyError,
        subprocess.SubprocessError,
    ) as exc:
        message = f"{type(exc).__name__}: {exc}"
        print(f"    FAILED {'/'.join(keys)}: {message[:2000]}", flush=True)
        traceback.print_exc(limit=3)
        for key in keys:
            out[key] = {"value": None, "unit": "", "error": message[:2000]}
        return None


def _rest_scenarios(server: Server, sizes: Sizes, chosen: set[str], out: dict[str, Any]) -> None:
    port = server.port
    simple: list[tuple[str, Callable[[int, Sizes], Measurement]]] = [
        ("create_runs", workload.create_runs),
        ("log_batch", workload.log_batch),
        ("concurrent", workload.concurrent_log_metric),
        ("keepalive", workload.log_metric_keepalive),
        ("fresh", workload.log_metric_fresh),
    ]
    for key, scenario in simple:
        if key in chosen:
            print(f"  {key} ...", flush=True)
            m = _attempt(out, [key], lambda s=scenario: s(port, sizes))
            if m is not None:
                _record(out, key, m)
    if "search" in chosen:
        print(f"  populate {sizes.search_runs:,} runs, then search ...", flush=True)
        fixture = _attempt(
            out,
            ["populate", "search_filter", "search_order"],
            lambda: workload.populate(port, sizes),
        )
        if fixture is not None:
            _record(out, "populate", fixture.populate)
            for key, fn in (
                ("search_filter", workload.search_filter),
                ("search_order", workload.search_order),
            ):
                m = _attempt(out, [key], lambda f=fn: f(port, fixture, sizes))
                if m is not None:
                    _record(out, key, m)
    if "history" in chosen:
        print(f"  history of {sizes.history_steps:,} steps ...", flush=True)
        ms = _attempt(
            out, ["history", "history_ingest"], lambda: workload.metric_history(port, sizes)
        )
        for key, m in (ms or {}).items():
            _record(out, key, m)
    if "artifacts" in chosen:
        big_mib, small_files = artifacts.scaled(sizes)
        print(
            f"  artifact proxy: one {big_mib} MiB file, {small_files:,} small files ...", flush=True
        )
        keys = [
            "artifact_upload",
            "artifact_download",
            "small_upload",
            "small_download",
            "artifact_peak_rss",
        ]
        ms = _attempt(out, keys, lambda: artifacts.measure(server, sizes))
        for key, m in (ms or {}).items():
            _record(out, key, m)
    if "fluent" in chosen:
        print(f"  fluent client, {sizes.fluent_calls:,} log_metric calls ...", flush=True)
        keys = ["fluent"] if server.side.name == "modelyard" else ["fluent_sync", "fluent_async"]
        ms = _attempt(out, keys, lambda: clients.fluent(server, sizes))
        for key, m in (ms or {}).items():
            _record(out, key, m)


def _wait_for_quiet(max_wait_s: float) -> float:
    """Wait (bounded) until the 1-minute load average drops below half the cores; return it."""
    limit = max(1.0, (os.cpu_count() or 2) / 2)
    deadline = time.monotonic() + max_wait_s
    load = os.getloadavg()[0]
    if load >= limit and max_wait_s > 0:
        print(f"  load average {load:.1f}: waiting up to {max_wait_s:.0f} s for a quieter machine")
    while load >= limit and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    return load


def run_side(
    side: Side, sizes: Sizes, chosen: set[str], workroot: Path, quiet_wait_s: float
) -> dict[str, Any]:
    print(f"\n== {side.name} ==", flush=True)
    side.ensure_ready()
    out: dict[str, Any] = {"_load": {"before": _wait_for_quiet(quiet_wait_s)}}
    try:
        _measure_side(side, sizes, chosen, workroot, out)
    finally:
        out["_load"]["after"] = os.getloadavg()[0]
    return out


def _measure_side(
    side: Side, sizes: Sizes, chosen: set[str], workroot: Path, out: dict[str, Any]
) -> None:
    if "import" in chosen:
        print("  import ...", flush=True)
        m = _attempt(out, ["import"], lambda: clients.import_time(side, sizes))
        if m is not None:
            _record(out, "import", m)
    if "serving" in chosen:
        print("  scoring servers (models serve) ...", flush=True)
        quick = sizes == workload.QUICK
        figures = _attempt(
            out, serving.keys(side.name), lambda: serving.measure(side.name, workroot, quick)
        )
        out.update(figures or {})
    if not chosen - {"import", "serving"}:
        return
    print("  starting server ...", flush=True)
    with serve(side, workroot / side.name) as server:
        _record(out, "startup", Measurement(server.startup_s, "s", {"port": server.port}))
        warm = _attempt(out, ["warm_up"], lambda: workload.warm_up(server.port))
        if warm is not None:
            print(f"    (warm-up took {warm:.1f} s)", flush=True)
        _rest_scenarios(server, sizes, chosen, out)


def _latest_path(side: str, sizes: Sizes) -> Path:
    """Where the last full-scenario figures of ``side`` at these sizes are kept."""
    if sizes == workload.FULL:
        tag = "full"
    elif sizes == workload.QUICK:
        tag = "quick"
    else:
        tag = f"custom-{sizes.search_runs}-{sizes.history_steps}-{sizes.fluent_calls}"
    return RESULTS / f"latest-{side}-{tag}.json"


def _load_reused(sizes: Sizes) -> tuple[dict[str, Any], str]:
    path = _latest_path("mlflow", sizes)
    if not path.exists():
        raise BenchError(f"--reuse-mlflow: {path} does not exist; run with --side mlflow first")
    saved = json.loads(path.read_text(encoding="utf-8"))
    if saved["sizes"] != asdict(sizes):
        raise BenchError(f"--reuse-mlflow: {path} was measured at other sizes; measure it again")
    print(f"reusing MLflow's figures from {path} ({saved['finished']})")
    return dict(saved["results"]), str(saved["finished"])


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (a twentieth)")
    parser.add_argument("--scale", type=float, help="multiply the full sizes by this factor")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of: {','.join(SCENARIOS)} (server start is always timed)",
    )
    parser.add_argument("--side", choices=("both", "mlflow", "modelyard"), default="both")
    parser.add_argument(
        "--reuse-mlflow", action="store_true", help="take MLflow's figures from the last run"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=300.0,
        help="seconds to wait at most for the load average to drop before each side (default 300)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the servers' temp directories")
    args = parser.parse_args(argv)
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    sizes = workload.QUICK if args.quick else workload.FULL
    if args.scale:
        sizes = workload.FULL.scaled(args.scale)
    chosen = set(args.scenarios.split(","))
    started = dt.datetime.now(dt.timezone.utc)
    sides: dict[str, dict[str, Any]] = {}
    reused_from = None
    if args.reuse_mlflow:
        sides["mlflow"], reused_from = _load_reused(sizes)
    names = [n for n in ("mlflow", "modelyard") if args.side in ("both", n)]
    names = [n for n in names if n not in sides]
    workroot = Path(tempfile.mkdtemp(prefix="modelyard-bench-"))
    command = shlex.join([".venv/bin/python", "bench/run.py", *argv])
    try:
        for name in names:
            t0 = time.perf_counter()
            try:
                sides[name] = run_side(SIDES[name], sizes, chosen, workroot, args.quiet_wait)
            except BenchError as exc:
                print(f"  {name} side not measured: {exc}", flush=True)
                sides[name] = {"startup": {"value": None, "unit": "s", "error": str(exc)[:2000]}}
            print(f"  ({name} side took {time.perf_counter() - t0:.0f} s)", flush=True)
            finished = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            RESULTS.mkdir(parents=True, exist_ok=True)
            side_record = {"finished": finished, "sizes": asdict(sizes), "results": sides[name]}
            if chosen == set(SCENARIOS):
                _latest_path(name, sizes).write_text(json.dumps(side_record, indent=1))
    finally:
        if args.keep:
            print(f"server directories kept in {workroot}")
        else:
            shutil.rmtree(workroot, ignore_errors=True)
    rows = report.evaluate(sides, sizes)
    finished = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = {
        "started": started.isoformat(),
        "finished": finished,
        "command": command,
        "machine": report.machine_facts(),
        "sizes": asdict(sizes),
        "load": {name: res.get("_load") for name, res in sides.items()},
        "mlflow_reused_from": reused_from,
    }
    table = report.markdown_table(rows)
    print("\n" + table + "\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out_path = RESULTS / f"bench-{stamp}.json"
    out_path.write_text(json.dumps({**meta, "rows": rows, "sides": sides}, indent=1))
    print(f"wrote {out_path.relative_to(BENCH.parent)}")
    complete = set(sides) == {"mlflow", "modelyard"} and chosen == set(SCENARIOS)
    if complete and sizes == workload.FULL and not args.no_docs:
        report.write_docs(rows, meta)
        print(f"wrote {report.DOCS.relative_to(BENCH.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

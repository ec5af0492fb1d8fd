"""Prometheus metrics of one scoring worker, in the text exposition format (version 0.0.4).

Written by hand, with no client library: counters and histograms are plain integers updated on the
event loop (one thread), so they need no lock. ``GET /metrics`` renders:

* ``modelyard_scoring_requests_total{route, status}``: requests answered, by route and status;
* ``modelyard_scoring_request_duration_seconds``: latency histogram of ``/invocations``;
* ``modelyard_scoring_request_rows``: rows per scoring request;
* ``modelyard_scoring_batch_size``: rows per ``predict`` call (larger than the request's rows when
  micro-batching merged several), and ``modelyard_scoring_predict_calls_total``;
* ``modelyard_scoring_model_info{model_uri, model_version}`` (always 1) and
  ``modelyard_scoring_model_version`` (the numeric registry version, when there is one);
* ``modelyard_scoring_model_swaps_total``: models swapped in by ``--watch``.

Each worker process counts its own requests; a scraper that wants totals sums over workers (the
``worker`` label is the process id).
"""

from __future__ import annotations

import bisect
import os
from collections import Counter

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    """Cumulative buckets (``le``), a sum and a count."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def render(self, name: str, labels: str) -> list[str]:
        lines = []
        running = 0
        for bound, n in zip(self.buckets, self.counts, strict=False):
            running += n
            lines.append(f'{name}_bucket{{{labels},le="{_number(bound)}"}} {running}')
        lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {self.count}')
        lines.append(f"{name}_sum{{{labels}}} {_number(self.sum)}")
        lines.append(f"{name}_count{{{labels}}} {self.count}")
        return lines


class ScoringMetrics:
    """The counters of one worker."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency = Histogram(LATENCY_BUCKETS)
        self.request_rows = Histogram(SIZE_BUCKETS)
        self.batch_size = Histogram(SIZE_BUCKETS)
        self.predict_calls = 0
        self.swaps = 0
        self.model_uri = ""
        self.model_version: str | None = None

    def request(self, route: str, status: int, seconds: float | None = None) -> None:
        self.requests[(route, status)] += 1
        if seconds is not None:
            self.latency.observe(seconds)

    def batch(self, rows: int) -> None:
        self.predict_calls += 1
        self.batch_size.observe(rows)

    def render(self) -> bytes:
        worker = f'worker="{os.getpid()}"'
        p = "modelyard_scoring"
        lines = [
            f"# HELP {p}_requests_total Requests answered, by route and HTTP status.",
            f"# TYPE {p}_requests_total counter",
        ]
        for (route, status), n in sorted(self.requests.items()):
            lines.append(
                f'{p}_requests_total{{{worker},route="{_label(route)}",status="{status}"}} {n}'
            )
        lines += [
            f"# HELP {p}_request_duration_seconds Time to answer POST /invocations.",
            f"# TYPE {p}_request_duration_seconds histogram",
            *self.latency.render(f"{p}_request_duration_seconds", worker),
            f"# HELP {p}_request_rows Rows per scoring request.",
            f"# TYPE {p}_request_rows histogram",
            *self.request_rows.render(f"{p}_request_rows", worker),
            f"# HELP {p}_batch_size Rows per predict call (several requests when micro-batched).",
            f"# TYPE {p}_batch_size histogram",
            *self.batch_size.render(f"{p}_batch_size", worker),
            f"# HELP {p}_predict_calls_total Calls of the model's predict.",
            f"# TYPE {p}_predict_calls_total counter",
            f"{p}_predict_calls_total{{{worker}}} {self.predict_calls}",
            f"# HELP {p}_model_swaps_total Models swapped in by --watch.",
            f"# TYPE {p}_model_swaps_total counter",
            f"{p}_model_swaps_total{{{worker}}} {self.swaps}",
            f"# HELP {p}_model_info The model being served (always 1).",
            f"# TYPE {p}_model_info gauge",
            f'{p}_model_info{{{worker},model_uri="{_label(self.model_uri)}",'
            f'model_version="{_label(self.model_version or "")}"}} 1',
        ]
        if self.model_version is not None and self.model_version.isdigit():
            lines += [
                f"# HELP {p}_model_version The registry version being served.",
                f"# TYPE {p}_model_version gauge",
                f"{p}_model_version{{{worker}}} {self.model_version}",
            ]
        return ("\n".join(lines) + "\n").encode()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


__all__ = ["CONTENT_TYPE", "Histogram", "ScoringMetrics"]

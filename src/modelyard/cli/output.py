"""How the CLI prints: aligned tables, JSON, times and URIs with their passwords hidden.

Plain Python only, so importing it keeps ``modelyard --help`` fast.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

from modelyard.entities import Experiment, Run

OUTPUT_FORMATS = ("table", "json")

output_option = click.option(
    "--output",
    "-o",
    "output",
    type=click.Choice(OUTPUT_FORMATS),
    default="table",
    show_default=True,
    help="Print an aligned table for people or JSON for scripts.",
)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print ``rows`` under ``headers`` with every column padded to its widest cell."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    for row in [list(headers), ["-" * w for w in widths], *cells]:
        click.echo("  ".join(text.ljust(widths[i]) for i, text in enumerate(row)).rstrip())


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value).replace("\n", " ")


def format_time(epoch_ms: int | None) -> str:
    """Epoch milliseconds as local ``YYYY-MM-DD HH:MM:SS``; empty when unknown."""
    if epoch_ms is None:
        return ""
    return _dt.datetime.fromtimestamp(epoch_ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


_PASSWORD_IN_URI = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/@:]*:)[^/@]*@")


def redact_uri(uri: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return _PASSWORD_IN_URI.sub(r"\g<head>***@", uri)


def experiment_to_dict(experiment: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage,
        "creation_time": experiment.creation_time,
        "last_update_time": experiment.last_update_time,
        "tags": _pairs(experiment.tags),
    }


def run_to_dict(run: Run) -> dict[str, Any]:
    """A run as ``{"info", "data", "inputs"}``, metrics/params/tags as ``key -> value`` maps."""
    info = run.info
    return {
        "info": {
            "run_id": info.run_id,
            "run_name": info.run_name,
            "experiment_id": info.experiment_id,
            "user_id": info.user_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "artifact_uri": info.artifact_uri,
            "lifecycle_stage": info.lifecycle_stage,
        },
        "data": {
            "metrics": {m.key: m.value for m in run.data.metrics},
            "params": _pairs(run.data.params),
            "tags": _pairs(run.data.tags),
        },
        "inputs": {
            "dataset_inputs": [
                {
                    "dataset": {
                        "name": item.dataset.name,
                        "digest": item.dataset.digest,
                        "source_type": item.dataset.source_type,
                        "source": item.dataset.source,
                    },
                    "tags": _pairs(item.tags),
                }
                for item in run.inputs.dataset_inputs
            ]
        },
    }


def _pairs(items: Iterable[Any]) -> Mapping[str, str]:
    return {item.key: item.value for item in items}

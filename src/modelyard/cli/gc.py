"""``modelyard gc``: permanently remove runs and experiments that are in the deleted stage."""

from __future__ import annotations

import re

import click

from modelyard.cli.options import backend_store_uri_option, resolve_settings, split_csv
from modelyard.cli.output import output_option, print_json

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNIT_MS = (86_400_000, 3_600_000, 60_000, 1_000)


def parse_duration_ms(text: str) -> int:
    """``"1d2h30m"`` -> milliseconds. Units: d, h, m, s, in that order, each at most once."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None:
        raise ValueError(
            f"{text!r} is not a duration; write it like 30d, 12h, 1d2h30m or 90s (units d, h, m, s)."
        )
    return sum(
        int(part) * unit for part, unit in zip(match.groups(), _UNIT_MS, strict=True) if part
    )


class Duration(click.ParamType):
    """A click option type for durations like ``30d`` or ``1d2h30m`` (in milliseconds)."""

    name = "DURATION"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration_ms(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.command()
@backend_store_uri_option
@click.option(
    "--older-than",
    type=Duration(),
    default=None,
    help="Only remove what was deleted at least this long ago, e.g. 30d or 1d2h30m "
    "(units d, h, m, s). Default: everything in the deleted stage.",
)
@click.option(
    "--run-ids",
    metavar="ID,ID",
    default=None,
    help="Comma-separated run ids to remove; each must be in the deleted stage.",
)
@click.option(
    "--experiment-ids",
    metavar="ID,ID",
    default=None,
    help="Comma-separated experiment ids to remove with all their runs; each must be in the "
    "deleted stage.",
)
@output_option
def gc(
    backend_store_uri: str | None,
    older_than: int | None,
    run_ids: str | None,
    experiment_ids: str | None,
    output: str,
) -> None:
    """Permanently remove deleted runs and experiments.

    Without --run-ids or --experiment-ids it removes everything in the deleted stage (or, with
    --older-than, what was deleted long enough ago). This cannot be undone.
    """
    runs_wanted, experiments_wanted = split_csv(run_ids), split_csv(experiment_ids)
    if older_than is not None and (runs_wanted or experiments_wanted):
        raise click.UsageError(
            "--older-than cannot be combined with --run-ids or --experiment-ids."
        )
    uri = resolve_settings(backend_store_uri=backend_store_uri).backend_store_uri
    if uri.startswith(("http://", "https://")):
        raise click.UsageError(
            "gc works on the database itself: pass a database URI, not a server."
        )

    from modelyard.service.tracking import TrackingService
    from modelyard.store.sql import open_tracking_store

    store = open_tracking_store(uri)
    try:
        result = TrackingService(store).gc(
            older_than_ms=older_than, run_ids=runs_wanted, experiment_ids=experiments_wanted
        )
    finally:
        store.close()
    if output == "json":
        print_json({"runs": result.runs, "experiments": result.experiments})
        return
    click.echo(f"Removed {len(result.runs)} run(s){_listing(result.runs)}")
    click.echo(f"Removed {len(result.experiments)} experiment(s){_listing(result.experiments)}")


def _listing(ids: list[str]) -> str:
    return ": " + ", ".join(ids) if ids else "."

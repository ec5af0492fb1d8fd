"""``modelyard runs ...``: list, describe, delete and restore runs."""

from __future__ import annotations

import click

from modelyard.cli.options import VIEWS, open_client, tracking_uri_option, view_option
from modelyard.cli.output import format_time, output_option, print_json, print_table, run_to_dict

_PAGE = 1000

run_id_option = click.option(
    "--run-id", "-r", required=True, metavar="ID", help="The id of the run."
)


@click.group()
def runs() -> None:
    """List, describe, delete and restore runs."""


@runs.command("list")
@click.option(
    "--experiment-id", "-x", required=True, metavar="ID", help="The experiment whose runs to list."
)
@view_option("runs")
@click.option(
    "--filter",
    "filter_string",
    metavar="EXPR",
    default=None,
    help="Only runs matching this search filter, e.g. \"metrics.rmse < 0.5 and params.lr = '0.1'\".",
)
@click.option(
    "--order-by",
    metavar="CLAUSE",
    multiple=True,
    help="Sort key such as 'metrics.rmse ASC' or 'start_time DESC'; repeat for ties. "
    "Default: newest first.",
)
@click.option(
    "--max-results",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Print at most this many runs.",
)
@output_option
@tracking_uri_option
def list_runs(
    experiment_id: str,
    view: str,
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    output: str,
    tracking_uri: str | None,
) -> None:
    """List the runs of an experiment."""
    found = []
    with open_client(tracking_uri) as client:
        client.get_experiment(experiment_id)  # an unknown experiment is an error, not an empty list
        token = None
        while len(found) < max_results:
            page = client.search_runs(
                [experiment_id],
                filter_string=filter_string,
                run_view_type=VIEWS[view],
                max_results=min(_PAGE, max_results - len(found)),
                order_by=list(order_by),
                page_token=token,
            )
            found.extend(page)
            token = page.next_page_token
            if not token:
                break
    if output == "json":
        print_json([run_to_dict(r) for r in found])
        return
    headers = ["RUN ID", "NAME", "STATUS", "STARTED", "ENDED"]
    if view != "active":
        headers.append("STAGE")
    rows = []
    for run in found:
        info = run.info
        row = [
            info.run_id,
            info.run_name,
            info.status,
            format_time(info.start_time),
            format_time(info.end_time),
        ]
        if view != "active":
            row.append(info.lifecycle_stage)
        rows.append(row)
    print_table(headers, rows)


@runs.command()
@run_id_option
@tracking_uri_option
def describe(run_id: str, tracking_uri: str | None) -> None:
    """Print a run (info, latest metrics, params, tags, inputs) as JSON."""
    with open_client(tracking_uri) as client:
        run = client.get_run(run_id)
    print_json(run_to_dict(run))


@runs.command()
@run_id_option
@tracking_uri_option
def delete(run_id: str, tracking_uri: str | None) -> None:
    """Move a run to the deleted stage (undo with restore; purge with gc)."""
    with open_client(tracking_uri) as client:
        client.delete_run(run_id)
    click.echo(f"Deleted run {run_id}. Restore it with 'modelyard runs restore'.")


@runs.command()
@run_id_option
@tracking_uri_option
def restore(run_id: str, tracking_uri: str | None) -> None:
    """Bring a deleted run back to the active stage."""
    with open_client(tracking_uri) as client:
        client.restore_run(run_id)
    click.echo(f"Restored run {run_id}.")

"""``modelyard experiments ...``: create, search, rename, delete and restore experiments."""

from __future__ import annotations

import click

from modelyard.cli.options import VIEWS, open_client, tracking_uri_option, view_option
from modelyard.cli.output import (
    experiment_to_dict,
    format_time,
    output_option,
    print_json,
    print_table,
)

_PAGE = 1000

experiment_id_option = click.option(
    "--experiment-id", "-x", required=True, metavar="ID", help="The id of the experiment."
)


@click.group()
def experiments() -> None:
    """Create, search, rename, delete and restore experiments."""


@experiments.command()
@click.option("--name", "-n", required=True, help="Name of the new experiment; it must be unique.")
@click.option(
    "--artifact-location",
    "-l",
    metavar="URI",
    default=None,
    help="Where the experiment's runs keep their artifacts. Default: a folder named after the "
    "experiment id under the server's default artifact root.",
)
@tracking_uri_option
def create(name: str, artifact_location: str | None, tracking_uri: str | None) -> None:
    """Create an experiment and print its id."""
    with open_client(tracking_uri) as client:
        experiment_id = client.create_experiment(name, artifact_location=artifact_location)
    click.echo(f"Created experiment {name!r} with id {experiment_id}.")


@experiments.command()
@view_option("experiments")
@click.option(
    "--filter",
    "filter_string",
    metavar="EXPR",
    default=None,
    help="Only experiments matching this search filter, e.g. \"name LIKE 'fraud%'\".",
)
@output_option
@tracking_uri_option
def search(view: str, filter_string: str | None, output: str, tracking_uri: str | None) -> None:
    """List experiments with their ids, stages and artifact locations."""
    found = []
    with open_client(tracking_uri) as client:
        token = None
        while True:
            page = client.search_experiments(
                view_type=VIEWS[view],
                max_results=_PAGE,
                filter_string=filter_string,
                page_token=token,
            )
            found.extend(page)
            token = page.next_page_token
            if not token:
                break
    if output == "json":
        print_json([experiment_to_dict(e) for e in found])
        return
    print_table(
        ("ID", "NAME", "STAGE", "CREATED", "ARTIFACT LOCATION"),
        (
            (
                e.experiment_id,
                e.name,
                e.lifecycle_stage,
                format_time(e.creation_time),
                e.artifact_location,
            )
            for e in found
        ),
    )


@experiments.command()
@experiment_id_option
@click.option("--new-name", required=True, help="The new name; it must not be taken.")
@tracking_uri_option
def rename(experiment_id: str, new_name: str, tracking_uri: str | None) -> None:
    """Rename an active experiment."""
    with open_client(tracking_uri) as client:
        client.rename_experiment(experiment_id, new_name)
    click.echo(f"Renamed experiment {experiment_id} to {new_name!r}.")


@experiments.command()
@experiment_id_option
@tracking_uri_option
def delete(experiment_id: str, tracking_uri: str | None) -> None:
    """Move an experiment and its runs to the deleted stage (undo with restore; purge with gc)."""
    with open_client(tracking_uri) as client:
        client.delete_experiment(experiment_id)
    click.echo(
        f"Deleted experiment {experiment_id}. Restore it with 'modelyard experiments restore'."
    )


@experiments.command()
@experiment_id_option
@tracking_uri_option
def restore(experiment_id: str, tracking_uri: str | None) -> None:
    """Bring a deleted experiment (and the runs deleted with it) back to the active stage."""
    with open_client(tracking_uri) as client:
        client.restore_experiment(experiment_id)
    click.echo(f"Restored experiment {experiment_id}.")

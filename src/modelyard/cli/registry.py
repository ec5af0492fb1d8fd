"""``modelyard registry ...``: register model versions, list and describe registered models, move
versions between stages directly or through requests and approvals, set aliases and tags, read the
activity log."""

from __future__ import annotations

from typing import Any

import click

from modelyard.cli.options import open_client, tracking_uri_option
from modelyard.cli.output import format_time, output_option, print_json, print_table

_PAGE = 1000

user_option = click.option(
    "--user",
    "-u",
    metavar="NAME",
    default=None,
    help="The name recorded for this change (not verified). Default: $MODELYARD_TRACKING_USERNAME, "
    "then the login name.",
)
comment_option = click.option("--comment", "-c", default=None, help="A comment to record with it.")
archive_option = click.option(
    "--archive-existing",
    is_flag=True,
    default=False,
    help="Move the versions already in the target stage to Archived.",
)
version_option = click.option(
    "--version", "-v", "version", default=None, metavar="N", help="A version of the model."
)


def _tags(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--tag")
        out[key] = value
    return out


def _version_dict(mv: Any) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": mv.version,
        "current_stage": mv.current_stage,
        "source": mv.source,
        "run_id": mv.run_id,
        "model_id": mv.model_id,
        "user_id": mv.user_id,
        "description": mv.description,
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
        "tags": mv.tag_dict,
        "aliases": list(mv.aliases),
    }


def _request_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "version": r.version,
        "to_stage": r.to_stage,
        "status": r.status,
        "user_id": r.user_id,
        "comment": r.comment,
        "resolved_by": r.resolved_by,
        "resolution_comment": r.resolution_comment,
    }


class _Client:
    """``open_client`` with the acting user set."""

    def __init__(self, tracking_uri: str | None, user: str | None) -> None:
        self._context = open_client(tracking_uri)
        self._user = user

    def __enter__(self) -> Any:
        client = self._context.__enter__()
        if self._user:
            client.registry_user = self._user
        return client

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)


@click.group()
def registry() -> None:
    """Register, describe and promote model versions; requests, approvals, aliases and tags."""


@registry.command()
@click.argument("model_uri")
@click.option("--name", "-n", required=True, help="The registered model (created if missing).")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE", help="A version tag.")
@user_option
@tracking_uri_option
def register(
    model_uri: str, name: str, tags: tuple[str, ...], user: str | None, tracking_uri: str | None
) -> None:
    """Register MODEL_URI (runs:/<run_id>/<path> or models:/m-<id>) as a new version."""
    with _Client(tracking_uri, user) as client:
        mv = client.register_model(model_uri, name, _tags(tags))
    click.echo(f"Registered {name!r} version {mv.version} from {mv.source}.")


@registry.command("list")
@click.option("--filter", "filter_string", metavar="EXPR", default=None, help="A search filter.")
@output_option
@tracking_uri_option
def list_models(filter_string: str | None, output: str, tracking_uri: str | None) -> None:
    """List registered models with their newest version per stage and aliases."""
    found = []
    with open_client(tracking_uri) as client:
        token = None
        while True:
            page = client.search_registered_models(filter_string, _PAGE, page_token=token)
            found.extend(page)
            token = page.next_page_token
            if not token:
                break
    if output == "json":
        print_json(
            [
                {
                    "name": m.name,
                    "description": m.description,
                    "latest_versions": [_version_dict(v) for v in m.latest_versions],
                    "aliases": m.alias_dict,
                    "tags": m.tag_dict,
                }
                for m in found
            ]
        )
        return
    print_table(
        ("NAME", "LATEST VERSIONS", "ALIASES", "UPDATED"),
        (
            (
                m.name,
                ", ".join(f"{v.version} ({v.current_stage})" for v in m.latest_versions),
                ", ".join(f"{a}={v}" for a, v in m.alias_dict.items()),
                format_time(m.last_updated_timestamp),
            )
            for m in found
        ),
    )


@registry.command()
@click.argument("name")
@version_option
@tracking_uri_option
def describe(name: str, version: str | None, tracking_uri: str | None) -> None:
    """Print a registered model with all its versions (or one version) as JSON."""
    with open_client(tracking_uri) as client:
        if version is not None:
            mv = client.get_model_version(name, version)
            out = _version_dict(mv)
            out["requests"] = [
                _request_dict(r) for r in client.list_transition_requests(name, version)
            ]
            print_json(out)
            return
        model = client.get_registered_model(name)
        versions = client.search_model_versions(
            f"name = '{_quote(name)}'", order_by=["version_number ASC"]
        )
        print_json(
            {
                "name": model.name,
                "description": model.description,
                "user_id": model.user_id,
                "creation_timestamp": model.creation_timestamp,
                "last_updated_timestamp": model.last_updated_timestamp,
                "tags": model.tag_dict,
                "aliases": model.alias_dict,
                "versions": [_version_dict(v) for v in versions],
            }
        )


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


@registry.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@archive_option
@comment_option
@user_option
@tracking_uri_option
def transition(
    name: str,
    version: str,
    stage: str,
    archive_existing: bool,
    comment: str | None,
    user: str | None,
    tracking_uri: str | None,
) -> None:
    """Move VERSION of NAME to STAGE (None, Staging, Production or Archived) directly."""
    with _Client(tracking_uri, user) as client:
        mv = client.transition_model_version_stage(name, version, stage, archive_existing, comment)
    click.echo(f"{name!r} version {mv.version} is now in {mv.current_stage}.")


@registry.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@archive_option
@comment_option
@user_option
@tracking_uri_option
def request(
    name: str,
    version: str,
    stage: str,
    archive_existing: bool,
    comment: str | None,
    user: str | None,
    tracking_uri: str | None,
) -> None:
    """Ask for VERSION of NAME to be moved to STAGE; another user approves or rejects it."""
    with _Client(tracking_uri, user) as client:
        r = client.create_transition_request(name, version, stage, comment, archive_existing)
    click.echo(f"Requested {name!r} version {r.version} -> {r.to_stage} (request {r.id}).")


@registry.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@click.option(
    "--archive-existing/--keep-existing",
    default=None,
    help="Override the request's choice of archiving the versions already in the stage.",
)
@comment_option
@user_option
@tracking_uri_option
def approve(
    name: str,
    version: str,
    stage: str,
    archive_existing: bool | None,
    comment: str | None,
    user: str | None,
    tracking_uri: str | None,
) -> None:
    """Approve the pending request to move VERSION of NAME to STAGE, which moves it."""
    with _Client(tracking_uri, user) as client:
        r = client.approve_transition_request(name, version, stage, archive_existing, comment)
    click.echo(f"Approved request {r.id}: {name!r} version {r.version} is now in {r.to_stage}.")


@registry.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@comment_option
@user_option
@tracking_uri_option
def reject(
    name: str,
    version: str,
    stage: str,
    comment: str | None,
    user: str | None,
    tracking_uri: str | None,
) -> None:
    """Reject the pending request to move VERSION of NAME to STAGE."""
    with _Client(tracking_uri, user) as client:
        r = client.reject_transition_request(name, version, stage, comment)
    click.echo(f"Rejected request {r.id} ({name!r} version {r.version} -> {r.to_stage}).")


@registry.command()
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", is_flag=True, default=False, help="Remove the alias instead.")
@user_option
@tracking_uri_option
def alias(
    name: str,
    alias: str,
    version: str | None,
    delete: bool,
    user: str | None,
    tracking_uri: str | None,
) -> None:
    """Point ALIAS of NAME at VERSION (or remove it with --delete)."""
    if delete == (version is not None):
        raise click.UsageError("give a VERSION to set the alias, or --delete to remove it")
    with _Client(tracking_uri, user) as client:
        if delete:
            client.delete_registered_model_alias(name, alias)
            click.echo(f"Removed alias {alias!r} of {name!r}.")
            return
        client.set_registered_model_alias(name, alias, version)
    click.echo(f"{name!r}@{alias} -> version {version}.")


@registry.command()
@click.argument("name")
@click.argument("key")
@click.argument("value", required=False)
@version_option
@click.option("--delete", is_flag=True, default=False, help="Remove the tag instead.")
@user_option
@tracking_uri_option
def tag(
    name: str,
    key: str,
    value: str | None,
    version: str | None,
    delete: bool,
    user: str | None,
    tracking_uri: str | None,
) -> None:
    """Set tag KEY=VALUE on NAME (or on one --version), or remove it with --delete."""
    if delete == (value is not None):
        raise click.UsageError("give a VALUE to set the tag, or --delete to remove it")
    with _Client(tracking_uri, user) as client:
        if version is None:
            if delete:
                client.delete_registered_model_tag(name, key)
            else:
                client.set_registered_model_tag(name, key, value)
        elif delete:
            client.delete_model_version_tag(name, version, key)
        else:
            client.set_model_version_tag(name, version, key, value)
    target = name if version is None else f"{name} version {version}"
    click.echo(f"{'Removed' if delete else 'Set'} tag {key!r} on {target}.")


@registry.command()
@click.argument("name")
@version_option
@output_option
@tracking_uri_option
def activity(name: str, version: str | None, output: str, tracking_uri: str | None) -> None:
    """Print the activity log of NAME (or of one --version), oldest first."""
    with open_client(tracking_uri) as client:
        log = client.get_registry_activities(name, version)
    if output == "json":
        print_json(
            [
                {
                    "id": a.id,
                    "version": a.version,
                    "activity_type": a.activity_type,
                    "user_id": a.user_id,
                    "creation_timestamp": a.creation_timestamp,
                    "from_stage": a.from_stage,
                    "to_stage": a.to_stage,
                    "comment": a.comment,
                    "system_comment": a.system_comment,
                }
                for a in log
            ]
        )
        return
    print_table(
        ("TIME", "VERSION", "ACTIVITY", "USER", "STAGES", "COMMENT"),
        (
            (
                format_time(a.creation_timestamp),
                a.version or "",
                a.activity_type,
                a.user_id,
                f"{a.from_stage} -> {a.to_stage}" if a.from_stage and a.to_stage else "",
                a.comment or a.system_comment or "",
            )
            for a in log
        ),
    )

"""``modelyard users``, ``modelyard tokens`` and ``modelyard audit``: accounts and the audit log, on
the database directly.

These work like ``modelyard db upgrade``: on the database, with no server running and no login, so
an operator can create the first users (and recover a lost admin password) of a ``--auth`` server.
They act as the operator: every change is in the audit log with the actor ``operator``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from modelyard.cli.gc import Duration
from modelyard.cli.options import backend_store_uri_option, resolve_settings
from modelyard.cli.output import format_time, output_option, print_json, print_table

if TYPE_CHECKING:
    from modelyard.service.auth import AuthService


@contextmanager
def _auth_service(backend_store_uri: str | None) -> Iterator[AuthService]:
    settings = resolve_settings(backend_store_uri=backend_store_uri)
    uri = settings.backend_store_uri
    if uri.startswith(("http://", "https://")):
        raise click.UsageError(
            "users and tokens are managed on the database itself: pass a database URI, not a server."
        )
    from modelyard.service.auth import AuthService
    from modelyard.store.sql import open_tracking_store
    from modelyard.store.sql.auth import SqlAuthStore

    store = open_tracking_store(uri)
    try:
        yield AuthService.from_settings(SqlAuthStore(store.engine), settings)
    finally:
        store.close()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of asking for it.",
)


@click.group()
def users() -> None:
    """Create, list and delete the users of a --auth server (on its database)."""


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Make the user an admin.")
@password_stdin_option
@backend_store_uri_option
def create_user(
    username: str, admin: bool, password_stdin: bool, backend_store_uri: str | None
) -> None:
    """Create USERNAME with a password (asked for twice, or read from stdin)."""
    from modelyard.service.auth import OPERATOR

    password = _read_password(password_stdin)
    with _auth_service(backend_store_uri) as auth:
        user = auth.create_user(OPERATOR, username, password, is_admin=admin)
    role = "admin" if user.is_admin else "user"
    click.echo(f"Created {role} '{user.username}' (id {user.id}).")


@users.command("list")
@backend_store_uri_option
@output_option
def list_users(backend_store_uri: str | None, output: str) -> None:
    """List every user, with their admin flag and groups."""
    from modelyard.service.auth import OPERATOR

    with _auth_service(backend_store_uri) as auth:
        found = auth.list_users(OPERATOR)
    rows = [
        {
            "id": u.id,
            "username": u.username,
            "is_admin": u.is_admin,
            "groups": list(u.groups),
            "created_at": u.created_at,
        }
        for u in found
    ]
    if output == "json":
        print_json(rows)
        return
    print_table(
        ["ID", "USERNAME", "ADMIN", "GROUPS", "CREATED"],
        [
            [
                r["id"],
                r["username"],
                "yes" if r["is_admin"] else "",
                ",".join(r["groups"]),
                format_time(r["created_at"]),
            ]
            for r in rows
        ],
    )


@users.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@backend_store_uri_option
def delete_user(username: str, yes: bool, backend_store_uri: str | None) -> None:
    """Delete USERNAME with their grants, group memberships and tokens."""
    from modelyard.service.auth import OPERATOR

    if not yes:
        click.confirm(f"Delete user '{username}', their grants and tokens?", abort=True)
    with _auth_service(backend_store_uri) as auth:
        auth.delete_user(OPERATOR, username)
    click.echo(f"Deleted user '{username}'.")


@users.command("set-admin")
@click.argument("username")
@click.option(
    "--admin/--no-admin", default=True, show_default=True, help="Grant or take away admin rights."
)
@backend_store_uri_option
def set_admin(username: str, admin: bool, backend_store_uri: str | None) -> None:
    """Make USERNAME an admin (or, with --no-admin, a plain user again)."""
    from modelyard.service.auth import OPERATOR

    with _auth_service(backend_store_uri) as auth:
        auth.set_admin(OPERATOR, username, admin)
    click.echo(f"'{username}' is {'now an admin' if admin else 'no longer an admin'}.")


@users.command("set-password")
@click.argument("username")
@password_stdin_option
@backend_store_uri_option
def set_password(username: str, password_stdin: bool, backend_store_uri: str | None) -> None:
    """Set USERNAME's password (and clear their failed logins), e.g. to recover a locked admin."""
    from modelyard.service.auth import OPERATOR

    password = _read_password(password_stdin)
    with _auth_service(backend_store_uri) as auth:
        auth.update_password(OPERATOR, username, password)
    click.echo(f"Set the password of '{username}'.")


@click.group()
def tokens() -> None:
    """Create, list and revoke personal access tokens (on the database)."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (shown in listings).")
@click.option(
    "--expires-in-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Days until the token stops working. Default: never (or auth_token_max_age_days).",
)
@backend_store_uri_option
def create_token(
    username: str, name: str, expires_in_days: float | None, backend_store_uri: str | None
) -> None:
    """Create a token for USERNAME and print it: it is shown this once and never stored."""
    from modelyard.service.auth import OPERATOR

    with _auth_service(backend_store_uri) as auth:
        secret, record = auth.create_token(OPERATOR, name, expires_in_days, username=username)
    click.echo(secret)
    expiry = f", expires {format_time(record.expires_at)}" if record.expires_at else ""
    click.echo(f"Token {record.id} for '{username}'{expiry}. It is not shown again.", err=True)


@tokens.command("list")
@click.argument("username", required=False)
@backend_store_uri_option
@output_option
def list_tokens(username: str | None, backend_store_uri: str | None, output: str) -> None:
    """List the tokens of USERNAME (of every user without it), never their secrets."""
    from modelyard.service.auth import OPERATOR

    with _auth_service(backend_store_uri) as auth:
        found = auth.list_tokens(OPERATOR, username or "*")
    rows = [
        {
            "id": t.id,
            "username": t.username,
            "name": t.name,
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "last_used_at": t.last_used_at,
            "revoked": t.revoked,
        }
        for t in found
    ]
    if output == "json":
        print_json(rows)
        return
    print_table(
        ["ID", "USER", "NAME", "CREATED", "EXPIRES", "LAST USED", "REVOKED"],
        [
            [
                r["id"],
                r["username"],
                r["name"],
                format_time(r["created_at"]),
                format_time(r["expires_at"]),
                format_time(r["last_used_at"]),
                "yes" if r["revoked"] else "",
            ]
            for r in rows
        ],
    )


@tokens.command("revoke")
@click.argument("token_id")
@backend_store_uri_option
def revoke_token(token_id: str, backend_store_uri: str | None) -> None:
    """Revoke the token TOKEN_ID: requests bearing it are refused from now on."""
    from modelyard.service.auth import OPERATOR

    with _auth_service(backend_store_uri) as auth:
        auth.revoke_token(OPERATOR, token_id)
    click.echo(f"Revoked token {token_id}.")


@click.group()
def audit() -> None:
    """Read and trim the audit log of a --auth server (on its database)."""


@audit.command("list")
@click.option("--event", "events", multiple=True, help="Only this event (repeat for several).")
@click.option("--actor", default=None, help="Only what this user (or 'operator') did.")
@click.option(
    "--max-results",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="How many events, newest first.",
)
@backend_store_uri_option
@output_option
def list_audit(
    events: tuple[str, ...],
    actor: str | None,
    max_results: int,
    backend_store_uri: str | None,
    output: str,
) -> None:
    """List the newest audit events (logins, token, user and permission changes)."""
    from modelyard.service.auth import OPERATOR

    with _auth_service(backend_store_uri) as auth:
        found = auth.list_audit(OPERATOR, max_results, None, events, actor).items
    rows = [
        {
            "id": e.id,
            "timestamp": e.timestamp,
            "event": e.event,
            "actor": e.actor,
            "subject": e.subject,
            "remote_addr": e.remote_addr,
            "details": e.details,
        }
        for e in found
    ]
    if output == "json":
        print_json(rows)
        return
    print_table(
        ["TIME", "EVENT", "ACTOR", "SUBJECT", "FROM", "DETAILS"],
        [
            [
                format_time(r["timestamp"]),
                r["event"],
                r["actor"],
                r["subject"],
                r["remote_addr"],
                " ".join(f"{k}={v}" for k, v in sorted(r["details"].items())),
            ]
            for r in rows
        ],
    )


@audit.command("prune")
@click.option(
    "--older-than",
    type=Duration(),
    required=True,
    help="Delete the events at least this old, e.g. 365d or 90d12h (units d, h, m, s).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@backend_store_uri_option
def prune_audit(older_than: int, yes: bool, backend_store_uri: str | None) -> None:
    """Permanently delete old audit events; the prune itself is recorded (audit_pruned)."""
    from modelyard.service.auth import OPERATOR

    days = older_than / 86_400_000
    if not yes:
        click.confirm(f"Delete the audit events older than {days:g} days?", abort=True)
    with _auth_service(backend_store_uri) as auth:
        deleted = auth.prune_audit(OPERATOR, older_than)
    click.echo(f"Deleted {deleted} audit event(s) older than {days:g} days.")

"""Options shared by several commands, and how a command resolves settings and opens a client.

Heavy modules (the client, the SQL store) are imported inside the functions that need them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from modelyard.cli.output import redact_uri
from modelyard.entities import ViewType
from modelyard.errors import TemporarilyUnavailable
from modelyard.settings import SETTINGS_BY_NAME, Settings, load_settings

if TYPE_CHECKING:
    from modelyard.client import ModelyardClient

VIEWS: dict[str, ViewType] = {
    "active": ViewType.ACTIVE_ONLY,
    "deleted": ViewType.DELETED_ONLY,
    "all": ViewType.ALL,
}


def _env_help(name: str) -> str:
    setting = SETTINGS_BY_NAME[name]
    chain = [f"${var}" for var in (setting.env, *setting.fallbacks)]
    return f"Default: {', then '.join(chain)}, then {setting.default}."


tracking_uri_option = click.option(
    "--tracking-uri",
    metavar="URI",
    default=None,
    help="A database URI (sqlite:///..., postgresql://..., mysql+pymysql://...) to work on "
    "in-process, or the http(s):// address of a modelyard server. " + _env_help("tracking_uri"),
)

backend_store_uri_option = click.option(
    "--backend-store-uri",
    metavar="URI",
    default=None,
    help="The database to work on (sqlite, postgresql or mysql URI). "
    + _env_help("backend_store_uri"),
)


def view_option(what: str) -> Any:
    return click.option(
        "--view",
        type=click.Choice(list(VIEWS)),
        default="active",
        show_default=True,
        help=f"Which {what} to show: active ones, deleted ones (not yet removed by gc), or all.",
    )


def resolve_settings(**overrides: Any) -> Settings:
    """Settings from the environment with the command line's explicit values on top."""
    try:
        return load_settings(**overrides)
    except ValueError as exc:  # a malformed MODELYARD_* value
        raise click.ClickException(str(exc)) from None


@contextmanager
def open_client(tracking_uri: str | None) -> Iterator[ModelyardClient]:
    """A :class:`~modelyard.client.ModelyardClient` on ``tracking_uri``, closed afterwards.

    Commands only read and change metadata, so the client logs synchronously (no sender thread).
    """
    settings = resolve_settings(tracking_uri=tracking_uri, async_logging=False)
    from modelyard.client import ModelyardClient

    client = ModelyardClient(settings=settings)
    try:
        yield client
    except TemporarilyUnavailable as exc:  # say which database or server could not be reached
        where = redact_uri(settings.tracking_uri)
        message = exc.message if where in exc.message else f"{where}: {exc.message}"
        raise click.ClickException(message) from None
    finally:
        client.close()


def split_csv(raw: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    if not raw:
        return []
    return [part.strip() for part in raw.split(",") if part.strip()]

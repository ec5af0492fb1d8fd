"""``modelyard server`` and ``modelyard db upgrade``.

The server command binds the port, migrates the database and imports the app once in the parent
process, then forks the workers (:mod:`modelyard.server.workers`); each worker inherits the resolved
settings and builds its own app with :func:`modelyard.server.app.create_app`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable

import click

from modelyard.cli.options import resolve_settings
from modelyard.cli.output import redact_uri
from modelyard.errors import ModelyardError
from modelyard.settings import SETTINGS_BY_NAME, Settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _default(name: str) -> str:
    setting = SETTINGS_BY_NAME[name]
    return f"Default: ${setting.env}, then {setting.default}."


@click.command()
@click.option(
    "--backend-store-uri",
    metavar="URI",
    default=None,
    help="The database for runs and experiments: sqlite:///file.db, postgresql://... or "
    "mysql+pymysql://... Created and migrated on start. " + _default("backend_store_uri"),
)
@click.option(
    "--default-artifact-root",
    metavar="URI",
    default=None,
    help="Where new experiments keep artifacts unless they name a location. While it is unset and "
    "the server serves artifacts, new experiments get mlflow-artifacts:/<id>. "
    + _default("default_artifact_root"),
)
@click.option(
    "--artifacts-destination",
    metavar="URI",
    default=None,
    help="Where the artifact proxy keeps files: a local path or s3://bucket/prefix. "
    + _default("artifacts_destination"),
)
@click.option(
    "--serve-artifacts/--no-serve-artifacts",
    default=None,
    help="Serve the artifact proxy under /api/2.0/mlflow-artifacts (on unless turned off). "
    + _default("serve_artifacts"),
)
@click.option(
    "--artifacts-only",
    is_flag=True,
    default=None,
    help="Serve only the artifact proxy; tracking endpoints answer 503. "
    + _default("artifacts_only"),
)
@click.option("--host", "-h", default=None, help="Address to listen on. " + _default("host"))
@click.option(
    "--port",
    "-p",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port to listen on. " + _default("port"),
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=None,
    help="Number of worker processes. " + _default("workers"),
)
@click.option(
    "--allowed-hosts",
    metavar="HOSTS",
    default=None,
    help="Host header values to answer, comma-separated (*.example.com for subdomains, * for "
    "any); others get 400. Default: $MODELYARD_ALLOWED_HOSTS, then localhost, loopback and "
    "private addresses, dotless names and the bound host.",
)
@click.option(
    "--cors-allowed-origins",
    metavar="ORIGINS",
    default=None,
    help="Origins whose browser pages may call the API, comma-separated (* for any, without "
    "credentials). Default: $MODELYARD_CORS_ALLOWED_ORIGINS, then none.",
)
@click.option(
    "--auth/--no-auth",
    default=None,
    help="Require a login (HTTP Basic, a bearer token or the UI's session) for every request and "
    "enforce per-experiment and per-model permissions. The first start creates the admin from "
    "$MODELYARD_AUTH_ADMIN_PASSWORD. " + _default("auth"),
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default="info",
    show_default=True,
    help="How much the server logs.",
)
def server(
    backend_store_uri: str | None,
    default_artifact_root: str | None,
    artifacts_destination: str | None,
    serve_artifacts: bool | None,
    artifacts_only: bool | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    allowed_hosts: str | None,
    cors_allowed_origins: str | None,
    auth: bool | None,
    log_level: str,
) -> None:
    """Run the tracking server (MLflow's REST API) with uvicorn."""
    settings = resolve_settings(
        backend_store_uri=backend_store_uri,
        default_artifact_root=default_artifact_root,
        artifacts_destination=artifacts_destination,
        serve_artifacts=serve_artifacts,
        artifacts_only=artifacts_only or None,
        host=host,
        port=port,
        workers=workers,
        allowed_hosts=allowed_hosts,
        cors_allowed_origins=cors_allowed_origins,
        auth=auth,
    )
    if settings.artifacts_only and not settings.serve_artifacts:
        raise click.UsageError(
            "--artifacts-only needs the artifact proxy: drop --no-serve-artifacts."
        )
    try:
        import fastapi  # noqa: F401  (fails early, with the fix, without the server extra)
        import uvicorn  # noqa: F401

        from modelyard.server import workers as pre_fork
    except ImportError as exc:
        raise click.ClickException(
            f"the server needs {exc.name or 'its dependencies'}: pip install 'modelyard[server]'"
        ) from None
    # Bound before migrating anything: a taken port fails at once, and early clients queue.
    sock = _bind(settings.host, settings.port)
    try:
        # Migrate once, before any worker starts, so that workers never race; beside the imports.
        migrated = _upgrade_beside(settings.backend_store_uri)
        pre_fork.preload(log_level)  # import what workers need once, before the fork
        migrated()
        if settings.auth:  # before any worker: a missing admin password is one line, not N failures
            _bootstrap_admin(settings)
        _unmute_library_logs()  # the CLI silenced them for its one-line errors; a server should log
        click.echo(
            f"modelyard server on http://{_url_host(settings.host)}:{settings.port} "
            f"({settings.workers} worker(s), {redact_uri(settings.backend_store_uri)})",
            err=True,
        )
        status = pre_fork.serve(
            settings, sock, workers=settings.workers, log_level=log_level, graceful_timeout_s=10
        )
    finally:
        sock.close()
    if status != 0:
        raise click.ClickException("the server stopped because its workers could not start")


def _bootstrap_admin(settings: Settings) -> None:
    """With ``--auth``, create the first admin now (workers then find it), or say what is missing."""
    from modelyard.service.auth import AuthService, bootstrap_admin
    from modelyard.store.sql import create_db_engine
    from modelyard.store.sql.auth import SqlAuthStore

    engine = create_db_engine(settings.backend_store_uri)
    try:
        bootstrap_admin(AuthService.from_settings(SqlAuthStore(engine), settings), settings)
    except ModelyardError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        engine.dispose()


def _unmute_library_logs() -> None:
    logger = logging.getLogger("modelyard")
    for handler in list(logger.handlers):
        if isinstance(handler, logging.NullHandler):
            logger.removeHandler(handler)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket the workers share; one clear line if the address is taken or unknown."""
    from modelyard.server.workers import bind_socket

    try:
        return bind_socket(host, port)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on host {host!r}: {exc.strerror}") from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command()
@click.argument("uri", metavar="URI")
def upgrade(uri: str) -> None:
    """Create or migrate the database at URI to the latest schema.

    URI is a SQLAlchemy database URI such as sqlite:///modelyard.db,
    postgresql://user@host/db or mysql+pymysql://user@host/db. Safe to run again.
    """
    before, after = _upgrade(uri)
    where = redact_uri(uri)
    if before == after:
        click.echo(f"{where} is already at the latest schema (revision {after}); nothing to do.")
    elif before is None:
        click.echo(f"Created the modelyard schema in {where} (revision {after}).")
    else:
        click.echo(f"Migrated {where} from revision {before} to {after}.")


def _upgrade_beside(uri: str) -> Callable[[], None]:
    """Start migrating ``uri`` in a forked child while this process imports the app.

    Returns the function that waits for the child and raises its one-line error. A process that
    already runs other threads (a test runner, say) must not fork: it migrates here and now.
    """
    import modelyard.store.sql  # noqa: F401  (SQLAlchemy is loaded once, for both processes)

    if not hasattr(os, "fork") or threading.active_count() > 1:
        _upgrade(uri)
        return lambda: None
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, which leaves with os._exit
        os.close(read_fd)
        code = 1
        try:
            _upgrade(uri)
            code = 0
        except click.ClickException as exc:
            os.write(write_fd, exc.message.encode("utf-8", "replace"))
        except BaseException:
            traceback.print_exc()  # a bug, not a database problem: show where
            os.write(write_fd, b"migrating the database failed (see the traceback above)")
        finally:
            os._exit(code)
    os.close(write_fd)

    def wait() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            message = pipe.read().decode("utf-8", "replace")
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise click.ClickException(message or "migrating the database failed")

    return wait


def _upgrade(uri: str) -> tuple[str | None, str]:
    """Migrate ``uri``; a failure names the (password-free) URI it happened on."""
    from modelyard.store.sql import upgrade_database

    try:
        return upgrade_database(uri)
    except ModelyardError as exc:
        raise click.ClickException(f"{redact_uri(uri)}: {exc.message}") from None

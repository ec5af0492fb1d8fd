"""The ``modelyard`` command.

Every subcommand imports its heavy modules (SQLAlchemy, the client, uvicorn) inside its body, so
``modelyard --help`` stays fast. A :class:`~modelyard.errors.ModelyardError` raised anywhere below
becomes ``Error: <message>`` and exit status 1, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from modelyard import __version__
from modelyard.cli.auth import audit, tokens, users
from modelyard.cli.experiments import experiments
from modelyard.cli.gc import gc
from modelyard.cli.models import models
from modelyard.cli.projects import run_project, sweep_project
from modelyard.cli.registry import registry
from modelyard.cli.runs import runs
from modelyard.cli.server import db, server
from modelyard.errors import ModelyardError


class _Root(click.Group):
    """The root group: turns modelyard errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        # Library warnings (a failed connection, say) would print a second line next to our one-line
        # error; `modelyard server` lifts this before it starts serving.
        logger = logging.getLogger("modelyard")
        mute = logging.NullHandler()
        logger.addHandler(mute)
        try:
            return super().invoke(ctx)
        except ModelyardError as exc:
            raise click.ClickException(exc.message) from None
        finally:
            logger.removeHandler(mute)


@click.group(
    cls=_Root, context_settings={"help_option_names": ["--help"], "max_content_width": 100}
)
@click.version_option(
    __version__, "--version", prog_name="modelyard", message="%(prog)s %(version)s"
)
def cli() -> None:
    """modelyard: track, register and serve machine-learning models.

    Speaks MLflow's REST API: point the mlflow client at `modelyard server`.
    """


cli.add_command(server)
cli.add_command(db)
cli.add_command(users)
cli.add_command(tokens)
cli.add_command(audit)
cli.add_command(experiments)
cli.add_command(runs)
cli.add_command(gc)
cli.add_command(registry)
cli.add_command(models)
cli.add_command(run_project)
cli.add_command(sweep_project)

"""``modelyard models``: serve a model over REST, score files in batch, package it for Docker.

Each subcommand lives in its own module and imports its heavy dependencies (pandas, uvicorn, the
model's flavor) inside its body; this module only gathers them into the group.
"""

from __future__ import annotations

import click


@click.group()
def models() -> None:
    """Serve, score and package saved models (any URI: path, runs:/, models:/name@alias, ...)."""


# Subcommands register below, one line each.
from modelyard.cli.models_tools import build_docker, generate_dockerfile, predict  # noqa: E402

models.add_command(predict)
models.add_command(generate_dockerfile)
models.add_command(build_docker)
from modelyard.cli.models_serve import serve  # noqa: E402

models.add_command(serve)
